// kubesonar_bpf: a small node-addon-api layer over libbpf for the agent's eBPF probes.
//
//   open(path)            -> BpfObject (a CO-RE object file; nothing loaded yet)    object.cc
//   obj.load()            -> per-program status: a program that fails to load or attach is
//                            left out with its reason, the others still run          object.cc
//   obj.programStats(), obj.close()                                                  object.cc
//   obj.attach(program), obj.detach(program) -> one loaded program's link, made or destroyed
//                            on demand (the latency probes' time windows)             object.cc
//   obj.mapDump(name)     -> every key/value of a map, read in batches              maps.cc
//   obj.mapUpdate(name, key, value), obj.mapDelete(name, key)                        maps.cc
//   obj.ringBuffer(name, cb) -> consumes a BPF ring buffer on Node's own event loop (the
//                            ring buffer's epoll fd under uv_poll); each wakeup hands all
//                            available records to `cb(buffer, bytes, count)` at once ringbuf.cc
//   obj.btfStruct(name), obj.btfEnum(name), obj.globals() -> the object's own BTF     btf.cc
//   obj.setGlobal(name, value) -> initial value of a global variable, before load   object.cc
//   btfEnum(name)         -> [value, name] pairs of an enum of the running kernel's BTF btf.cc
//   clockOffsetNs()       -> CLOCK_REALTIME - CLOCK_MONOTONIC, to date bpf_ktime_get_ns()
//
// Everything runs on the main thread: loading takes milliseconds, map reads are a few
// syscalls, and the ring buffer is only read when the kernel says it has data.
#include <stdint.h>
#include <time.h>

#include "object.h"

namespace kubesonar_bpf {
namespace {

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::FunctionReference* ctor = info.Env().GetInstanceData<Napi::FunctionReference>();
  return ctor->New({info[0]});
}

int64_t Ns(clockid_t c) {
  timespec ts;
  clock_gettime(c, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// REALTIME - MONOTONIC from the tightest of a few REALTIME/MONOTONIC/REALTIME brackets.
Napi::Value ClockOffsetNs(const Napi::CallbackInfo& info) {
  int64_t best = INT64_MAX, offset = 0;
  for (int i = 0; i < 9; i++) {
    int64_t r1 = Ns(CLOCK_REALTIME), m = Ns(CLOCK_MONOTONIC), r2 = Ns(CLOCK_REALTIME);
    if (r2 - r1 < best) {
      best = r2 - r1;
      offset = r1 + (r2 - r1) / 2 - m;
    }
  }
  return Napi::BigInt::New(info.Env(), offset);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(CaptureLog);
  auto* ctor = new Napi::FunctionReference(Napi::Persistent(BpfObject::Define(env)));
  env.SetInstanceData(ctor);
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("btfEnum", Napi::Function::New(env, KernelBtfEnum));
  exports.Set("clockOffsetNs", Napi::Function::New(env, ClockOffsetNs));
  exports.Set("possibleCpus", Napi::Number::New(env, libbpf_num_possible_cpus()));
  exports.Set("libbpfVersion", Napi::String::New(env, std::to_string(libbpf_major_version()) + "." + std::to_string(libbpf_minor_version())));
  return exports;
}

}  // namespace
}  // namespace kubesonar_bpf

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return kubesonar_bpf::Init(env, exports); }

NODE_API_MODULE(kubesonar_bpf, Init)
