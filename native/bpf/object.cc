// BpfObject's life: open a CO-RE object file, load what loads and attach what attaches (a
// program that fails is left out with its reason, the others still run), program statistics,
// close. Also libbpf's log, which is the only place libbpf says why something failed.
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "object.h"

namespace kubesonar_bpf {

namespace {

std::vector<std::string> g_log;

// Writes `value` over `var` in the initial image of its section's map (before load).
int WriteGlobal(bpf_object* obj, const GlobalVar& var, const std::vector<uint8_t>& value) {
  // libbpf finds the map of a data section by the section's name.
  bpf_map* m = bpf_object__find_map_by_name(obj, var.section.c_str());
  size_t size = 0;
  const void* image = m ? bpf_map__initial_value(m, &size) : nullptr;
  if (!image || var.offset + value.size() > size) return ENOENT;
  std::vector<uint8_t> data(static_cast<const uint8_t*>(image), static_cast<const uint8_t*>(image) + size);
  memcpy(data.data() + var.offset, value.data(), value.size());
  return -bpf_map__set_initial_value(m, data.data(), data.size());
}

// The root of the cgroup v2 hierarchy as the node sees it: the cgroup2 mount of PID 1's mount
// namespace, reached through /proc/1/root (a container with the host's PID namespace, whose own
// cgroup namespace would show only its own cgroup as the root), else this process's own mount
// (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host); empty when there is none.
std::string CgroupV2Root() {
  for (const char* pid : {"1", "self"}) {
    std::string mounts = std::string("/proc/") + pid + "/mounts";
    FILE* f = setmntent(mounts.c_str(), "r");
    if (!f) continue;
    std::string root;
    while (mntent* m = getmntent(f)) {
      if (strcmp(m->mnt_type, "cgroup2") == 0) {
        root = strcmp(pid, "1") == 0 ? std::string("/proc/1/root") + m->mnt_dir : m->mnt_dir;
        break;
      }
    }
    endmntent(f);
    if (!root.empty() && access(root.c_str(), R_OK) == 0) return root;
  }
  return "";
}

// libbpf attaches most programs by their section name alone; a cgroup program needs a cgroup. It
// is attached at the root of the cgroup v2 hierarchy, so it runs for the sockets of every cgroup
// below (every pod and the host), each packet once, at the socket that sends or receives it.
bpf_link* AttachProgram(bpf_program* p) {
  if (strncmp(bpf_program__section_name(p), "cgroup", 6) != 0) return bpf_program__attach(p);
  std::string root = CgroupV2Root();
  if (root.empty()) {
    errno = ENOENT;
    return nullptr;
  }
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  bpf_link* link = bpf_program__attach_cgroup(p, fd);
  int err = errno;
  close(fd);  // the link holds the cgroup
  errno = err;
  return link;
}

struct Prog {
  std::string name, section, error;
  bool loaded = false, attached = false;
};

}  // namespace

int CaptureLog(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  std::string s(line, std::max(0, std::min(n, static_cast<int>(sizeof(line)) - 1)));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (!s.empty()) g_log.push_back(s);
  if (g_log.size() > 200) g_log.erase(g_log.begin(), g_log.begin() + 100);
  return 0;
}

void ClearLog() { g_log.clear(); }

// The verifier log is long: its last lines say what went wrong.
std::string LogFor(const std::string& prog) {
  std::vector<std::string> picked;
  for (const auto& l : g_log) {
    if (l.find(prog) != std::string::npos && l.find("libbpf: prog '") != std::string::npos) picked.push_back(l);
  }
  if (picked.empty()) picked = g_log;
  if (picked.size() > 3) picked.erase(picked.begin(), picked.end() - 3);
  std::string out;
  for (const auto& l : picked) out += (out.empty() ? "" : "; ") + l;
  return out;
}

std::string ErrText(int err) {
  err = err < 0 ? -err : err;
  return std::string(strerror(err)) + " (errno " + std::to_string(err) + ")";
}

Napi::Function BpfObject::Define(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {InstanceMethod("load", &BpfObject::Load), InstanceMethod("mapDump", &BpfObject::MapDump),
                      InstanceMethod("mapUpdate", &BpfObject::MapUpdate), InstanceMethod("mapDelete", &BpfObject::MapDelete),
                      InstanceMethod("ringBuffer", &BpfObject::RingBuffer), InstanceMethod("programStats", &BpfObject::ProgramStats),
                      InstanceMethod("close", &BpfObject::Close), InstanceMethod("btfStruct", &BpfObject::BtfStruct),
                      InstanceMethod("btfEnum", &BpfObject::BtfEnum), InstanceMethod("globals", &BpfObject::Globals),
                      InstanceMethod("setGlobal", &BpfObject::SetGlobal), InstanceMethod("mapFd", &BpfObject::MapFd),
                      InstanceMethod("shareMap", &BpfObject::ShareMap), InstanceMethod("attach", &BpfObject::Attach),
                      InstanceMethod("detach", &BpfObject::Detach)});
}

BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  path_ = info[0].As<Napi::String>().Utf8Value();
  obj_ = Open(info.Env());
}

bpf_object* BpfObject::Open(Napi::Env env) {
  ClearLog();
  bpf_object* obj = bpf_object__open_file(path_.c_str(), nullptr);
  if (!obj) throw Napi::Error::New(env, "open " + path_ + ": " + ErrText(errno) + " " + LogFor(""));
  for (const auto& [var, value] : globals_) {
    int err = WriteGlobal(obj, var, value);
    if (err) {
      bpf_object__close(obj);
      throw Napi::Error::New(env, "setGlobal " + var.name + " in " + path_ + ": " + ErrText(err));
    }
  }
  for (const auto& [name, fd] : shared_) {
    bpf_map* m = bpf_object__find_map_by_name(obj, name.c_str());
    int err = m ? bpf_map__reuse_fd(m, fd) : -ENOENT;
    if (err) {
      bpf_object__close(obj);
      throw Napi::Error::New(env, "shareMap " + name + " in " + path_ + ": " + ErrText(err));
    }
  }
  return obj;
}

// Makes this object use another object's map of the same name and definition instead of its
// own (before load()): how several objects see one map, e.g. the agent's own sockets. False
// when the object has no such map.
Napi::Value BpfObject::ShareMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  if (!obj_ || loaded_) throw Napi::Error::New(env, "shareMap " + name + ": object already loaded or closed");
  bpf_map* m = bpf_object__find_map_by_name(obj_, name.c_str());
  if (!m) return Napi::Boolean::New(env, false);
  int err = bpf_map__reuse_fd(m, fd);
  if (err) throw Napi::Error::New(env, "shareMap " + name + " in " + path_ + ": " + ErrText(err));
  // Our own duplicate, so that the copies TryAlone() opens share the map even if its owner closes.
  int own = dup(fd);
  if (own < 0) throw Napi::Error::New(env, "shareMap " + name + ": " + ErrText(errno));
  shared_.emplace_back(name, own);
  return Napi::Boolean::New(env, true);
}

// Sets the initial value of a global variable (a `const volatile` of .rodata is how a BPF
// program takes settings that the verifier may rely on) before load().
Napi::Value BpfObject::SetGlobal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  auto value = info[1].As<Napi::Buffer<uint8_t>>();
  if (!obj_ || loaded_) throw Napi::Error::New(env, "setGlobal " + name + ": object already loaded or closed");
  for (const GlobalVar& var : GlobalVars(ObjectBtf(env))) {
    if (var.name != name) continue;
    if (value.Length() != var.size) {
      throw Napi::Error::New(env, "setGlobal " + name + ": " + std::to_string(value.Length()) + " bytes given, the variable has " +
                                      std::to_string(var.size) + " in " + path_);
    }
    std::vector<uint8_t> bytes(value.Data(), value.Data() + value.Length());
    int err = WriteGlobal(obj_, var, bytes);
    if (err) throw Napi::Error::New(env, "setGlobal " + name + " in " + path_ + ": " + ErrText(err));
    globals_.erase(std::remove_if(globals_.begin(), globals_.end(), [&](const auto& g) { return g.first.name == name; }), globals_.end());
    globals_.emplace_back(var, std::move(bytes));
    return env.Undefined();
  }
  throw Napi::Error::New(env, "setGlobal: no global variable " + name + " in " + path_);
}

// Loads a fresh copy of the object with only `name` enabled: tells whether that one program
// passes the verifier and finds its attach target, without disturbing the others.
std::string BpfObject::TryAlone(Napi::Env env, const std::string& name) {
  bpf_object* probe = Open(env);
  bpf_program* p;
  bpf_object__for_each_program(p, probe) bpf_program__set_autoload(p, name == bpf_program__name(p));
  ClearLog();
  int err = bpf_object__load(probe);
  std::string why = err ? ErrText(err) + ": " + LogFor(name) : "";
  bpf_object__close(probe);
  return why;
}

Napi::Value BpfObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!obj_ || loaded_) throw Napi::Error::New(env, "object already loaded or closed");
  std::vector<Prog> progs;
  bpf_program* p;
  bpf_object__for_each_program(p, obj_) progs.push_back({bpf_program__name(p), bpf_program__section_name(p), "", false, false});

  ClearLog();
  if (bpf_object__load(obj_) != 0) {
    // Something failed: find out which programs load on their own, then load just those.
    for (auto& pr : progs) pr.error = TryAlone(env, pr.name);
    bpf_object__close(obj_);
    obj_ = Open(env);
    bool any = false;
    bpf_object__for_each_program(p, obj_) {
      for (auto& pr : progs) {
        if (pr.name != bpf_program__name(p)) continue;
        bpf_program__set_autoload(p, pr.error.empty());
        any = any || pr.error.empty();
      }
    }
    ClearLog();
    int err = any ? bpf_object__load(obj_) : 0;
    if (err) {
      for (auto& pr : progs) {
        if (pr.error.empty()) pr.error = "object load failed: " + ErrText(err) + ": " + LogFor(pr.name);
      }
    }
  }
  loaded_ = true;

  bpf_object__for_each_program(p, obj_) {
    for (auto& pr : progs) {
      if (pr.name != bpf_program__name(p) || !pr.error.empty()) continue;
      pr.loaded = true;
      ClearLog();
      bpf_link* link = AttachProgram(p);
      if (!link) {
        bool cgroup = strncmp(bpf_program__section_name(p), "cgroup", 6) == 0;
        pr.error = "attach: " + ErrText(errno) + (cgroup && CgroupV2Root().empty() ? " no cgroup v2 hierarchy is mounted" : "") + " " + LogFor(pr.name);
        continue;
      }
      links_.emplace_back(pr.name, link);
      pr.attached = true;
    }
  }

  Napi::Array out = Napi::Array::New(env, progs.size());
  for (size_t i = 0; i < progs.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", progs[i].name);
    o.Set("section", progs[i].section);
    o.Set("loaded", progs[i].loaded);
    o.Set("attached", progs[i].attached);
    if (!progs[i].error.empty()) o.Set("error", progs[i].error);
    out.Set(i, o);
  }
  return out;
}

// Kernel id and run statistics of each loaded program; runCount/runTimeNs stay 0 unless
// the kernel.bpf_stats_enabled sysctl is on (benchmarks turn it on).
Napi::Value BpfObject::ProgramStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  if (!obj_ || !loaded_) return out;
  bpf_program* p;
  bpf_object__for_each_program(p, obj_) {
    int fd = bpf_program__fd(p);
    if (fd < 0) continue;
    bpf_prog_info pi;
    memset(&pi, 0, sizeof(pi));
    __u32 len = sizeof(pi);
    if (bpf_obj_get_info_by_fd(fd, &pi, &len) != 0) continue;
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_program__name(p));
    o.Set("id", static_cast<double>(pi.id));
    o.Set("runCount", static_cast<double>(pi.run_cnt));
    o.Set("runTimeNs", static_cast<double>(pi.run_time_ns));
    out.Set(out.Length(), o);
  }
  return out;
}

// Attaches one loaded program again after detach() (the time windows of the latency sampling,
// src/bpf/probe.ts); true when it was attached now, false when it already was.
Napi::Value BpfObject::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!obj_ || !loaded_) throw Napi::Error::New(env, "attach " + name + ": object not loaded or closed");
  for (const auto& l : links_) {
    if (l.first == name) return Napi::Boolean::New(env, false);
  }
  bpf_program* p = bpf_object__find_program_by_name(obj_, name.c_str());
  if (!p || bpf_program__fd(p) < 0) throw Napi::Error::New(env, "attach " + name + ": no such loaded program in " + path_);
  ClearLog();
  bpf_link* link = AttachProgram(p);
  if (!link) throw Napi::Error::New(env, "attach " + name + ": " + ErrText(errno) + " " + LogFor(name));
  links_.emplace_back(name, link);
  return Napi::Boolean::New(env, true);
}

// Detaches one program (destroys its link: the kernel stops running it at once); it stays
// loaded, with its maps, for attach(). True when it was attached.
Napi::Value BpfObject::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  for (auto it = links_.begin(); it != links_.end(); ++it) {
    if (it->first != name) continue;
    bpf_link__destroy(it->second);
    links_.erase(it);
    return Napi::Boolean::New(env, true);
  }
  return Napi::Boolean::New(env, false);
}

Napi::Value BpfObject::Close(const Napi::CallbackInfo& info) {
  Destroy();
  return info.Env().Undefined();
}

void BpfObject::Destroy() {
  // Readers stop first: they hold the ring buffer's mmap.
  CloseReaders();
  for (auto& [name, l] : links_) bpf_link__destroy(l);
  links_.clear();
  if (obj_) bpf_object__close(obj_);
  obj_ = nullptr;
  for (const auto& [name, fd] : shared_) close(fd);
  shared_.clear();
}

}  // namespace kubesonar_bpf
