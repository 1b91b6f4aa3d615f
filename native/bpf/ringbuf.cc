// BpfObject's ring buffer reader: consumes a BPF ring buffer on Node's own event loop (the ring
// buffer's epoll fd under uv_poll) and hands all records of a wakeup to JS at once.
#include <errno.h>
#include <string.h>
#include <uv.h>

#include <algorithm>
#include <memory>

#include "object.h"

namespace kubesonar_bpf {

// Reads one ring buffer on the main loop. Records are packed into one Buffer, each as
// [u32 length][u32 0][record padded to 8 bytes], and handed to JS once per wakeup (more
// often only when a wakeup brings more than the buffer holds). The Buffer is reused: JS
// must parse it before returning. 256 KiB: twice what the programs let wait before they wake
// the reader (WAKEUP_BYTES), so a wakeup is one or two calls; a buffer as large as the ring
// (1 MiB) cost every event probe's object 768 KiB of resident memory for no fewer calls.
class RingReader {
 public:
  static constexpr size_t kCapacity = 256 * 1024;

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

void BpfObject::Forget(RingReader* r) { readers_.erase(std::remove(readers_.begin(), readers_.end(), r), readers_.end()); }

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

// The JS handles stay valid and become no-ops once their reader is closed.
void BpfObject::CloseReaders() {
  for (RingReader* r : readers_) {
    r->Detach();
    r->Close();
  }
  readers_.clear();
}

}  // namespace kubesonar_bpf
