// kubesonar_bpf: a small node-addon-api layer over libbpf for the agent's eBPF probes.
//
//   open(path)            -> BpfObject (a CO-RE object file; nothing loaded yet)
//   obj.load()            -> per-program status: a program that fails to load or attach is
//                            left out with its reason, the others still run
//   obj.mapDump(name)     -> every key/value of a map, read in batches
//   obj.mapUpdate(name, key, value)
//   obj.ringBuffer(name, cb) -> consumes a BPF ring buffer on Node's own event loop (the
//                            ring buffer's epoll fd under uv_poll); each wakeup hands all
//                            available records to `cb(buffer, bytes, count)` at once
//   btfEnum(name)         -> [value, name] pairs of an enum of the running kernel's BTF
//   clockOffsetNs()       -> CLOCK_REALTIME - CLOCK_MONOTONIC, to date bpf_ktime_get_ns()
//
// Everything runs on the main thread: loading takes milliseconds, map reads are a few
// syscalls, and the ring buffer is only read when the kernel says it has data.

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <napi.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace {

// libbpf reports why something failed only through its print callback: keep the recent
// lines so a failure can say more than an errno.
std::vector<std::string> g_log;

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

// The libbpf lines about `prog` (or the last ones), joined: the verifier log is long, its
// last lines say what went wrong.
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

class RingReader;

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpfObject",
                       {InstanceMethod("load", &BpfObject::Load), InstanceMethod("mapDump", &BpfObject::MapDump),
                        InstanceMethod("mapUpdate", &BpfObject::MapUpdate), InstanceMethod("mapDelete", &BpfObject::MapDelete),
                        InstanceMethod("ringBuffer", &BpfObject::RingBuffer), InstanceMethod("programStats", &BpfObject::ProgramStats),
                        InstanceMethod("close", &BpfObject::Close)});
  }

  explicit BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
    path_ = info[0].As<Napi::String>().Utf8Value();
    obj_ = Open(info.Env());
  }
  ~BpfObject() { Destroy(); }

  void Forget(RingReader* r) { readers_.erase(std::remove(readers_.begin(), readers_.end(), r), readers_.end()); }

 private:
  struct Prog {
    std::string name, section, error;
    bool loaded = false, attached = false;
  };

  bpf_object* Open(Napi::Env env) {
    g_log.clear();
    bpf_object* obj = bpf_object__open_file(path_.c_str(), nullptr);
    if (!obj) throw Napi::Error::New(env, "open " + path_ + ": " + ErrText(errno) + " " + LogFor(""));
    return obj;
  }

  // Loads a fresh copy of the object with only `name` enabled: tells whether that one program
  // passes the verifier and finds its attach target, without disturbing the others.
  std::string TryAlone(Napi::Env env, const std::string& name) {
    bpf_object* probe = Open(env);
    bpf_program* p;
    bpf_object__for_each_program(p, probe) bpf_program__set_autoload(p, name == bpf_program__name(p));
    g_log.clear();
    int err = bpf_object__load(probe);
    std::string why = err ? ErrText(err) + ": " + LogFor(name) : "";
    bpf_object__close(probe);
    return why;
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!obj_ || loaded_) throw Napi::Error::New(env, "object already loaded or closed");
    std::vector<Prog> progs;
    bpf_program* p;
    bpf_object__for_each_program(p, obj_) progs.push_back({bpf_program__name(p), bpf_program__section_name(p), "", false, false});

    g_log.clear();
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
      g_log.clear();
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
        g_log.clear();
        bpf_link* link = bpf_program__attach(p);
        if (!link) {
          pr.error = "attach: " + ErrText(errno) + " " + LogFor(pr.name);
          continue;
        }
        links_.push_back(link);
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

  bpf_map* FindMap(Napi::Env env, const Napi::Value& name) {
    if (!obj_ || !loaded_) throw Napi::Error::New(env, "object not loaded");
    std::string n = name.As<Napi::String>().Utf8Value();
    bpf_map* m = bpf_object__find_map_by_name(obj_, n.c_str());
    if (!m || bpf_map__fd(m) < 0) throw Napi::Error::New(env, "no map " + n + " in " + path_);
    return m;
  }

  static bool PerCpu(bpf_map* m) {
    switch (bpf_map__type(m)) {
      case BPF_MAP_TYPE_PERCPU_ARRAY:
      case BPF_MAP_TYPE_PERCPU_HASH:
      case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        return true;
      default:
        return false;
    }
  }

  // { keys, values, count, keySize, valueSize }: per-CPU maps give one value per possible CPU,
  // each padded to 8 bytes, back to back (valueSize is that whole stride).
  Napi::Value MapDump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = FindMap(env, info[0]);
    int fd = bpf_map__fd(m);
    size_t ks = bpf_map__key_size(m);
    size_t vs = bpf_map__value_size(m);
    if (PerCpu(m)) vs = ((vs + 7) / 8 * 8) * libbpf_num_possible_cpus();
    size_t max = bpf_map__max_entries(m);
    std::vector<uint8_t> keys(max * ks), values(max * vs);
    size_t count = 0;

    // Batches of up to `max` entries; a hash batch ends at a bucket edge, so loop until ENOENT.
    std::vector<uint8_t> in(std::max<size_t>(ks, 8)), out(std::max<size_t>(ks, 8));
    bool first = true, batched = true;
    while (count < max) {
      __u32 n = max - count;
      int err = bpf_map_lookup_batch(fd, first ? nullptr : in.data(), out.data(), keys.data() + count * ks,
                                     values.data() + count * vs, &n, nullptr);
      int e = err ? errno : 0;
      if (err && e != ENOENT) {
        if (first && (e == EINVAL || e == ENOTSUP || e == EOPNOTSUPP)) {
          batched = false;
          break;
        }
        throw Napi::Error::New(env, "bpf_map_lookup_batch: " + ErrText(e));
      }
      count += n;
      if (e == ENOENT) break;
      std::swap(in, out);
      first = false;
    }
    if (!batched) {
      // Kernels or map types without batch lookup: walk the keys one by one.
      count = 0;
      std::vector<uint8_t> prev(ks);
      const void* cur = nullptr;
      while (count < max && bpf_map_get_next_key(fd, cur, keys.data() + count * ks) == 0) {
        if (bpf_map_lookup_elem(fd, keys.data() + count * ks, values.data() + count * vs) == 0) {
          memcpy(prev.data(), keys.data() + count * ks, ks);
          count++;
        }
        cur = prev.data();
      }
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("count", static_cast<double>(count));
    o.Set("keySize", static_cast<double>(ks));
    o.Set("valueSize", static_cast<double>(vs));
    o.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), count * ks));
    o.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), count * vs));
    return o;
  }

  Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = FindMap(env, info[0]);
    auto k = info[1].As<Napi::Buffer<uint8_t>>();
    auto v = info[2].As<Napi::Buffer<uint8_t>>();
    if (k.Length() != bpf_map__key_size(m) || v.Length() != bpf_map__value_size(m)) throw Napi::Error::New(env, "mapUpdate: key or value size mismatch");
    if (bpf_map_update_elem(bpf_map__fd(m), k.Data(), v.Data(), BPF_ANY) != 0) throw Napi::Error::New(env, "bpf_map_update_elem: " + ErrText(errno));
    return env.Undefined();
  }

  Napi::Value MapDelete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = FindMap(env, info[0]);
    auto k = info[1].As<Napi::Buffer<uint8_t>>();
    if (k.Length() != bpf_map__key_size(m)) throw Napi::Error::New(env, "mapDelete: key size mismatch");
    return Napi::Boolean::New(env, bpf_map_delete_elem(bpf_map__fd(m), k.Data()) == 0);
  }

  Napi::Value RingBuffer(const Napi::CallbackInfo& info);

  // Kernel id and run statistics of each loaded program; runCount/runTimeNs stay 0 unless
  // the kernel.bpf_stats_enabled sysctl is on (benchmarks turn it on).
  Napi::Value ProgramStats(const Napi::CallbackInfo& info) {
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

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Destroy();
    return info.Env().Undefined();
  }

  void Destroy();

  std::string path_;
  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  std::vector<bpf_link*> links_;
  std::vector<RingReader*> readers_;
};

// Reads one ring buffer on the main loop. Records are packed into one Buffer, each as
// [u32 length][u32 0][record padded to 8 bytes], and handed to JS once per wakeup (more
// often only when a wakeup brings more than the buffer holds). The Buffer is reused: JS
// must parse it before returning.
class RingReader {
 public:
  static constexpr size_t kCapacity = 1 << 20;

  RingReader(Napi::Env env, BpfObject* owner, int map_fd, Napi::Function cb) : env_(env), owner_(owner) {
    rb_ = ring_buffer__new(map_fd, OnSample, this, nullptr);
    if (!rb_) throw Napi::Error::New(env, "ring_buffer__new: " + ErrText(errno));
    cb_ = Napi::Persistent(cb);
    auto buf = Napi::Buffer<uint8_t>::New(env, kCapacity);
    data_ = buf.Data();
    buf_ = Napi::Persistent(buf);
    context_ = std::make_unique<Napi::AsyncContext>(env, "kubesonar_bpf.ringbuffer");
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    uv_poll_init(loop, poll_, ring_buffer__epoll_fd(rb_));
    uv_poll_start(poll_, UV_READABLE, OnReadable);
    // The reader never keeps the process alive by itself.
    uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }

  // Stops polling and frees everything; safe to call twice. Called from inside a drain (the
  // JS handler closed its own reader), it only marks the reader and the drain finishes it.
  void Close() {
    if (!rb_) return;
    if (draining_) {
      closing_ = true;
      return;
    }
    owner_ = nullptr;
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    ring_buffer__free(rb_);
    rb_ = nullptr;
    cb_.Reset();
    buf_.Reset();
  }

  void Detach() { owner_ = nullptr; }
  // Closes and frees the reader, now or when the drain in progress ends.
  void Release() {
    release_ = true;
    Close();
    if (!draining_) delete this;
  }
  BpfObject* owner() const { return owner_; }

  // Drains what is there now; returns the records delivered.
  uint64_t Drain() {
    if (!rb_ || draining_) return 0;
    draining_ = true;
    uint64_t before = delivered_;
    ring_buffer__consume(rb_);
    Flush();
    draining_ = false;
    uint64_t n = delivered_ - before;
    if (closing_) Close();
    if (release_) delete this;
    return n;
  }

  uint64_t delivered() const { return delivered_; }
  uint64_t oversized() const { return oversized_; }

 private:
  static void OnReadable(uv_poll_t* h, int status, int) {
    auto* self = static_cast<RingReader*>(h->data);
    if (status < 0) return;
    Napi::HandleScope scope(self->env_);
    self->Drain();
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<RingReader*>(ctx);
    size_t need = 8 + (size + 7) / 8 * 8;
    if (need > kCapacity) {
      self->oversized_++;
      return 0;
    }
    if (self->used_ + need > kCapacity) self->Flush();
    uint32_t hdr[2] = {static_cast<uint32_t>(size), 0};
    memcpy(self->data_ + self->used_, hdr, 8);
    memcpy(self->data_ + self->used_ + 8, data, size);
    self->used_ += need;
    self->count_++;
    return 0;
  }

  void Flush() {
    if (count_ == 0 || cb_.IsEmpty() || closing_) return;
    size_t bytes = used_;
    uint32_t count = count_;
    used_ = 0;
    count_ = 0;
    delivered_ += count;
    Napi::Env env = env_;
    try {
      cb_.MakeCallback(env.Global(), {buf_.Value(), Napi::Number::New(env, bytes), Napi::Number::New(env, count)}, *context_);
    } catch (const Napi::Error& e) {
      // A throwing JS handler is the handler's bug: surface it like any uncaught exception.
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Env env_;
  BpfObject* owner_;
  ring_buffer* rb_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference cb_;
  Napi::Reference<Napi::Buffer<uint8_t>> buf_;
  std::unique_ptr<Napi::AsyncContext> context_;
  uint8_t* data_ = nullptr;
  size_t used_ = 0;
  uint32_t count_ = 0;
  uint64_t delivered_ = 0, oversized_ = 0;
  bool draining_ = false, closing_ = false, release_ = false;
};

Napi::Value BpfObject::RingBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* m = FindMap(env, info[0]);
  if (bpf_map__type(m) != BPF_MAP_TYPE_RINGBUF) throw Napi::Error::New(env, "map is not a ring buffer");
  auto* reader = new RingReader(env, this, bpf_map__fd(m), info[1].As<Napi::Function>());
  readers_.push_back(reader);
  // The handle JS holds: close() stops it, drain() consumes synchronously (tests, benchmarks).
  Napi::Object h = Napi::Object::New(env);
  auto closed = std::make_shared<bool>(false);
  h.Set("close", Napi::Function::New(env, [reader, closed](const Napi::CallbackInfo& i) {
          if (!*closed) {
            *closed = true;
            if (reader->owner()) reader->owner()->Forget(reader);
            reader->Release();
          }
          return i.Env().Undefined();
        }));
  h.Set("drain", Napi::Function::New(env, [reader, closed](const Napi::CallbackInfo& i) {
          return Napi::Number::New(i.Env(), *closed ? 0 : static_cast<double>(reader->Drain()));
        }));
  h.Set("stats", Napi::Function::New(env, [reader, closed](const Napi::CallbackInfo& i) {
          Napi::Object o = Napi::Object::New(i.Env());
          o.Set("delivered", *closed ? 0 : static_cast<double>(reader->delivered()));
          o.Set("oversized", *closed ? 0 : static_cast<double>(reader->oversized()));
          return o;
        }));
  return h;
}

void BpfObject::Destroy() {
  // Readers stop first (they hold the ring buffer's mmap); the JS handles stay valid and
  // become no-ops once their reader is closed.
  for (RingReader* r : readers_) {
    r->Detach();
    r->Close();
  }
  readers_.clear();
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
  if (obj_) bpf_object__close(obj_);
  obj_ = nullptr;
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::FunctionReference* ctor = info.Env().GetInstanceData<Napi::FunctionReference>();
  return ctor->New({info[0]});
}

// [value, name] of every member of enum `name` in the running kernel's BTF, so that reason
// codes are named as this kernel names them.
Napi::Value BtfEnum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  btf* vm = btf__load_vmlinux_btf();
  if (!vm) throw Napi::Error::New(env, "kernel BTF: " + ErrText(errno));
  Napi::Array out = Napi::Array::New(env);
  int id = btf__find_by_name_kind(vm, name.c_str(), BTF_KIND_ENUM);
  if (id > 0) {
    const btf_type* t = btf__type_by_id(vm, id);
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); i++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, Napi::Number::New(env, e[i].val));
      pair.Set(1u, Napi::String::New(env, btf__name_by_offset(vm, e[i].name_off)));
      out.Set(out.Length(), pair);
    }
  }
  btf__free(vm);
  return out;
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
  exports.Set("btfEnum", Napi::Function::New(env, BtfEnum));
  exports.Set("clockOffsetNs", Napi::Function::New(env, ClockOffsetNs));
  exports.Set("possibleCpus", Napi::Number::New(env, libbpf_num_possible_cpus()));
  exports.Set("libbpfVersion", Napi::String::New(env, std::to_string(libbpf_major_version()) + "." + std::to_string(libbpf_minor_version())));
  return exports;
}

}  // namespace

NODE_API_MODULE(kubesonar_bpf, Init)
