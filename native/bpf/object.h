// Shared by the files of the kubesonar_bpf addon. BpfObject is one class whose methods live in
// the file of their job: object.cc (open, load, attach, program stats, close), maps.cc (dump,
// update, delete), ringbuf.cc (the ring buffer reader), btf.cc (the object's BTF: structs,
// enums and global variables, read by name so that userspace keeps no copy of the layouts).
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>
#include <stdarg.h>

#include <string>
#include <utility>
#include <vector>

namespace kubesonar_bpf {

// libbpf's print callback: keeps its recent lines so that a failure can say more than an errno.
int CaptureLog(enum libbpf_print_level level, const char* fmt, va_list args);
void ClearLog();
// The recent libbpf lines about program `prog` (or the last ones), joined.
std::string LogFor(const std::string& prog);
std::string ErrText(int err);

// Where a global variable lives in its data section (.rodata, .data, .bss), from the BTF.
struct GlobalVar {
  std::string name, section;
  size_t offset = 0, size = 0;
};
// Every global variable of the data sections described by `b`.
std::vector<GlobalVar> GlobalVars(const btf* b);

class RingReader;

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() { Destroy(); }

  void Forget(RingReader* r);

 private:
  // object.cc
  bpf_object* Open(Napi::Env env);
  std::string TryAlone(Napi::Env env, const std::string& name);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value SetGlobal(const Napi::CallbackInfo& info);
  Napi::Value ProgramStats(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Destroy();

  // maps.cc
  bpf_map* FindMap(Napi::Env env, const Napi::Value& name);
  Napi::Value MapDump(const Napi::CallbackInfo& info);
  Napi::Value MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapFd(const Napi::CallbackInfo& info);
  Napi::Value ShareMap(const Napi::CallbackInfo& info);

  // ringbuf.cc
  Napi::Value RingBuffer(const Napi::CallbackInfo& info);
  void CloseReaders();

  // btf.cc
  const btf* ObjectBtf(Napi::Env env);
  Napi::Value BtfStruct(const Napi::CallbackInfo& info);
  Napi::Value BtfEnum(const Napi::CallbackInfo& info);
  Napi::Value Globals(const Napi::CallbackInfo& info);

  std::string path_;
  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  // The link of each attached program, by program name (detach() destroys one, attach() makes it again).
  std::vector<std::pair<std::string, bpf_link*>> links_;
  std::vector<RingReader*> readers_;
  // Initial values given to setGlobal(): written again into every fresh copy Open() makes.
  std::vector<std::pair<GlobalVar, std::vector<uint8_t>>> globals_;
  // Maps given to shareMap(): another object's map (name, fd) used instead of this object's own.
  std::vector<std::pair<std::string, int>> shared_;
};

// btf.cc: btfEnum(name) of the module, on the running kernel's BTF.
Napi::Value KernelBtfEnum(const Napi::CallbackInfo& info);

}  // namespace kubesonar_bpf
