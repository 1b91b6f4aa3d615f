// Netlink sessions: the collection loop's sockets, kept per network namespace.
//
//   netlinkQueries(netnsPath, inode, [[protocol, request], ...]) -> Promise<(Buffer | Error)[]>
//   netlinkRelease(inode) -> boolean          netlinkSessions() -> inode[]
//
// Creating a socket inside a namespace costs a thread and a setns(); a collection asks every
// namespace the same questions every few seconds. So a namespace's sockets (one per netlink
// protocol) are created once, on a short-lived thread that enters it, and every later batch of
// queries runs on them from the thread pool without entering anything: a netlink socket
// answers for the namespace it was created in. All of a namespace's queries of a cycle travel
// in one call. A socket holds its namespace alive, so the caller releases a session as soon as
// the namespace has no process left (the collector does after each discovery); work in flight
// keeps the sockets until it ends, then they close.

#include "netlink-session.h"

#include <linux/netlink.h>
#include <string.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "netlink-io.h"

namespace {

using nlio::Failure;

struct Session {
  // One batch at a time: two exchanges on one socket would interleave their replies.
  std::mutex busy;
  std::map<int, int> sockets;  // protocol -> fd
  uint32_t seq = 0;

  ~Session() {
    for (auto& entry : sockets) close(entry.second);
  }
};

// Keyed by namespace inode. Guarded: worker_threads may load the addon too.
std::mutex registryLock;
std::unordered_map<uint64_t, std::shared_ptr<Session>> registry;

std::shared_ptr<Session> SessionFor(uint64_t inode) {
  std::lock_guard<std::mutex> lock(registryLock);
  auto& slot = registry[inode];
  if (!slot) slot = std::make_shared<Session>();
  return slot;
}

struct Query {
  int protocol;
  std::vector<uint8_t> request;
  std::vector<uint8_t> reply;
  std::optional<Failure> failure;
};

class QueriesWorker : public Napi::AsyncWorker {
 public:
  QueriesWorker(Napi::Env env, std::string netns, uint64_t inode, std::shared_ptr<Session> session, std::vector<Query> queries)
      : Napi::AsyncWorker(env, "kubesonar:netlinkQueries"),
        deferred_(Napi::Promise::Deferred::New(env)),
        netns_(std::move(netns)),
        inode_(inode),
        session_(std::move(session)),
        queries_(std::move(queries)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    std::lock_guard<std::mutex> lock(session_->busy);
    std::map<int, Failure> unavailable = OpenMissing();
    for (auto& q : queries_) {
      auto it = session_->sockets.find(q.protocol);
      if (it == session_->sockets.end()) {
        q.failure = unavailable[q.protocol];
        continue;
      }
      // Our own sequence numbers: replies to an abandoned exchange can be told apart.
      uint32_t seq = ++session_->seq;
      memcpy(q.request.data() + offsetof(nlmsghdr, nlmsg_seq), &seq, sizeof seq);
      q.failure = nlio::Exchange(it->second, q.request.data(), q.request.size(), q.reply);
      if (q.failure && q.failure->socketBroken) {
        close(it->second);
        session_->sockets.erase(it);  // the next batch makes a fresh one
      }
    }
  }

  // One entry per query, in order: its reply messages, or an Error with code/errno.
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, queries_.size());
    for (size_t i = 0; i < queries_.size(); i++) {
      const Query& q = queries_[i];
      if (q.failure) {
        Napi::Error error = Napi::Error::New(env, q.failure->message);
        error.Set("code", Napi::String::New(env, nlio::ErrnoName(q.failure->err)));
        error.Set("errno", Napi::Number::New(env, q.failure->err));
        out.Set(i, error.Value());
      } else {
        out.Set(i, q.reply.empty() ? Napi::Buffer<uint8_t>::New(env, 0) : Napi::Buffer<uint8_t>::Copy(env, q.reply.data(), q.reply.size()));
      }
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  // Creates the sockets this batch needs and the session lacks, all on one trip into the
  // namespace; returns why a protocol has none.
  std::map<int, Failure> OpenMissing() {
    std::vector<int> missing;
    for (const auto& q : queries_) {
      bool known = session_->sockets.count(q.protocol) > 0;
      for (int p : missing) known = known || p == q.protocol;
      if (!known) missing.push_back(q.protocol);
    }
    std::map<int, Failure> unavailable;
    if (missing.empty()) return unavailable;
    std::optional<Failure> failure;
    std::vector<std::optional<Failure>> perProtocol;
    std::vector<int> fds = nlio::SocketsInNetns(netns_, inode_, missing, failure, perProtocol);
    for (size_t i = 0; i < missing.size(); i++) {
      if (failure) {
        unavailable[missing[i]] = *failure;
      } else if (fds[i] < 0) {
        unavailable[missing[i]] = perProtocol[i].value_or(Failure{EINVAL, "netlink: no socket"});
      } else {
        session_->sockets[missing[i]] = fds[i];
      }
    }
    return unavailable;
  }

  Napi::Promise::Deferred deferred_;
  std::string netns_;
  uint64_t inode_;
  std::shared_ptr<Session> session_;
  std::vector<Query> queries_;
};

Napi::Value NetlinkQueries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "netlinkQueries(netnsPath: string, inode: number, queries: [protocol: number, request: Buffer][])";
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsArray()) throw Napi::TypeError::New(env, usage);
  int64_t inode = info[1].As<Napi::Number>().Int64Value();
  if (inode <= 0) throw Napi::RangeError::New(env, "netlinkQueries: inode must be a positive number");
  auto list = info[2].As<Napi::Array>();
  std::vector<Query> queries;
  queries.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsArray()) throw Napi::TypeError::New(env, usage);
    auto pair = item.As<Napi::Array>();
    Napi::Value protocol = pair.Get(0u);
    Napi::Value request = pair.Get(1u);
    if (!protocol.IsNumber() || !request.IsBuffer()) throw Napi::TypeError::New(env, usage);
    auto buffer = request.As<Napi::Buffer<uint8_t>>();
    nlmsghdr header{};
    if (buffer.Length() >= sizeof header) memcpy(&header, buffer.Data(), sizeof header);
    if (buffer.Length() < sizeof header || header.nlmsg_len != buffer.Length())
      throw Napi::RangeError::New(env, "netlinkQueries: each request must be one complete netlink message");
    // Copied now: the worker must not touch JS memory off the main thread.
    queries.push_back(Query{protocol.As<Napi::Number>().Int32Value(), std::vector<uint8_t>(buffer.Data(), buffer.Data() + buffer.Length()), {}, std::nullopt});
  }
  auto* worker = new QueriesWorker(env, info[0].As<Napi::String>().Utf8Value(), static_cast<uint64_t>(inode),
                                   SessionFor(static_cast<uint64_t>(inode)), std::move(queries));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value NetlinkRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "netlinkRelease(inode: number)");
  uint64_t inode = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  std::lock_guard<std::mutex> lock(registryLock);
  return Napi::Boolean::New(env, registry.erase(inode) > 0);
}

Napi::Value NetlinkSessions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(registryLock);
  Napi::Array out = Napi::Array::New(env, registry.size());
  uint32_t i = 0;
  for (const auto& entry : registry) out.Set(i++, Napi::Number::New(env, static_cast<double>(entry.first)));
  return out;
}

}  // namespace

void InitNetlinkSessions(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkQueries", Napi::Function::New(env, NetlinkQueries, "netlinkQueries"));
  exports.Set("netlinkRelease", Napi::Function::New(env, NetlinkRelease, "netlinkRelease"));
  exports.Set("netlinkSessions", Napi::Function::New(env, NetlinkSessions, "netlinkSessions"));
}
