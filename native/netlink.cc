// netlinkDump(netnsPath, protocol, request): one request/reply exchange on a fresh netlink
// socket that belongs to the network namespace at netnsPath (null: the agent's own). For
// occasional queries (checks, tools); the collection loop keeps sockets per namespace
// (netlink-session.cc).
//
// A netlink socket answers for the namespace it was created in, whichever thread later uses
// it. So the socket is created on a short-lived thread that setns()es first and then exits,
// taking the namespace switch with it: Node's main thread never changes namespace, and no
// libuv pool thread is ever left in a foreign one.

#include "netlink.h"

#include "promise-worker.h"

#include <linux/netlink.h>
#include <string.h>

#include <optional>
#include <string>
#include <vector>

#include "netlink-io.h"

namespace {

using nlio::Failure;

class DumpWorker : public PromiseWorker {
 public:
  DumpWorker(Napi::Env env, std::optional<std::string> netns, int protocol, std::vector<uint8_t> request)
      : PromiseWorker(env, "kubesonar:netlinkDump"),
        netns_(std::move(netns)),
        protocol_(protocol),
        request_(std::move(request)) {}

  void Execute() override {
    int raw = -1;
    if (netns_) {
      std::vector<std::optional<Failure>> perProtocol;
      raw = nlio::SocketsInNetns(*netns_, 0, {protocol_}, failure_, perProtocol)[0];
      if (!failure_ && perProtocol[0]) failure_ = perProtocol[0];
    } else {
      raw = nlio::NetlinkSocket(protocol_, failure_);
    }
    nlio::Fd fd(raw);
    if (fd.get() >= 0 && !failure_) failure_ = nlio::Exchange(fd.get(), request_.data(), request_.size(), reply_);
    if (failure_) SetError(failure_->message);
  }

  void OnOK() override {
    deferred_.Resolve(reply_.empty() ? Napi::Buffer<uint8_t>::New(Env(), 0)
                                     : Napi::Buffer<uint8_t>::Copy(Env(), reply_.data(), reply_.size()));
  }

  // Rejects with an Error carrying code/errno like Node's own system errors.
  void OnError(const Napi::Error& error) override {
    Napi::Error rejection = Napi::Error::New(Env(), error.Message());
    if (failure_) {
      rejection.Set("code", Napi::String::New(Env(), nlio::ErrnoName(failure_->err)));
      rejection.Set("errno", Napi::Number::New(Env(), failure_->err));
    }
    deferred_.Reject(rejection.Value());
  }

 private:
  std::optional<std::string> netns_;
  int protocol_;
  std::vector<uint8_t> request_;
  std::vector<uint8_t> reply_;
  std::optional<Failure> failure_;
};

Napi::Value NetlinkDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !(info[0].IsNull() || info[0].IsUndefined() || info[0].IsString()) ||
      !info[1].IsNumber() || !info[2].IsBuffer())
    throw Napi::TypeError::New(env, "netlinkDump(netnsPath: string | null, protocol: number, request: Buffer)");
  std::optional<std::string> netns;
  if (info[0].IsString()) netns = info[0].As<Napi::String>().Utf8Value();
  auto buffer = info[2].As<Napi::Buffer<uint8_t>>();
  nlmsghdr header{};
  if (buffer.Length() >= sizeof header) memcpy(&header, buffer.Data(), sizeof header);
  if (buffer.Length() < sizeof header || header.nlmsg_len != buffer.Length())
    throw Napi::RangeError::New(env, "netlinkDump: request must be one complete netlink message");
  // Copied now: the worker must not touch JS memory off the main thread.
  std::vector<uint8_t> request(buffer.Data(), buffer.Data() + buffer.Length());
  auto* worker = new DumpWorker(env, std::move(netns), info[1].As<Napi::Number>().Int32Value(), std::move(request));
  return worker->Start();
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkDump", Napi::Function::New(env, NetlinkDump, "netlinkDump"));
}
