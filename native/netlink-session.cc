// Netlink sessions: the collection loop's sockets, kept per network namespace.
//
//   netlinkQueries(netnsPath, inode, [[protocol, request], ...]) -> Promise<(Buffer | Error)[]>
//   netlinkQueriesMany([[netnsPath, inode, [[protocol, request], ...]], ...]) -> Promise<(Buffer | Error)[][]>
//   netlinkRelease(inode) -> boolean          netlinkSessions() -> inode[]
//
// Creating a socket inside a namespace costs a thread and a setns(); a collection asks every
// namespace the same questions every few seconds. So a namespace's sockets (one per netlink
// protocol) are created once, on a short-lived thread that enters it, and every later batch of
// queries runs on them from the thread pool without entering anything: a netlink socket
// answers for the namespace it was created in. All of a namespace's queries of a cycle travel
// in one call, and the namespaces asked at the same time share one pool job (netlinkQueriesMany):
// on a 2-CPU node, waking a pool thread per namespace cost more than the exchanges themselves
// with a hundred namespaces. A socket holds its namespace alive, so the caller releases a session as soon as
// the namespace has no process left (the collector does after each discovery); work in flight
// keeps the sockets until it ends, then they close.

#include "netlink-session.h"

#include "promise-worker.h"

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

// One namespace's share of a job: its queries, answered on its session's sockets.
struct Batch {
  std::string netns;
  uint64_t inode;
  std::shared_ptr<Session> session;
  std::vector<Query> queries;
};

class QueriesWorker : public PromiseWorker {
 public:
  // `nested`: resolve with one array per batch (netlinkQueriesMany); otherwise with the one batch's.
  QueriesWorker(Napi::Env env, std::vector<Batch> batches, bool nested)
      : PromiseWorker(env, "kubesonar:netlinkQueries"),
        batches_(std::move(batches)),
        nested_(nested) {}

  void Execute() override {
    for (auto& batch : batches_) Run(batch);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!nested_) {
      deferred_.Resolve(Replies(env, batches_.front()));
      return;
    }
    Napi::Array out = Napi::Array::New(env, batches_.size());
    for (size_t i = 0; i < batches_.size(); i++) out.Set(i, Replies(env, batches_[i]));
    deferred_.Resolve(out);
  }

 private:
  static void Run(Batch& batch) {
    Session& session = *batch.session;
    std::lock_guard<std::mutex> lock(session.busy);
    std::map<int, Failure> unavailable = OpenMissing(batch);
    for (auto& q : batch.queries) {
      auto it = session.sockets.find(q.protocol);
      if (it == session.sockets.end()) {
        q.failure = unavailable[q.protocol];
        continue;
      }
      // Our own sequence numbers: replies to an abandoned exchange can be told apart.
      uint32_t seq = ++session.seq;
      memcpy(q.request.data() + offsetof(nlmsghdr, nlmsg_seq), &seq, sizeof seq);
      q.failure = nlio::Exchange(it->second, q.request.data(), q.request.size(), q.reply);
      if (q.failure && q.failure->socketBroken) {
        close(it->second);
        session.sockets.erase(it);  // the next batch makes a fresh one
      }
    }
  }

  // One entry per query, in order: its reply messages, or an Error with code/errno.
  static Napi::Array Replies(Napi::Env env, const Batch& batch) {
    Napi::Array out = Napi::Array::New(env, batch.queries.size());
    for (size_t i = 0; i < batch.queries.size(); i++) {
      const Query& q = batch.queries[i];
      if (q.failure) {
        Napi::Error error = Napi::Error::New(env, q.failure->message);
        error.Set("code", Napi::String::New(env, nlio::ErrnoName(q.failure->err)));
        error.Set("errno", Napi::Number::New(env, q.failure->err));
        out.Set(i, error.Value());
      } else {
        out.Set(i, q.reply.empty() ? Napi::Buffer<uint8_t>::New(env, 0) : Napi::Buffer<uint8_t>::Copy(env, q.reply.data(), q.reply.size()));
      }
    }
    return out;
  }

  // Creates the sockets this batch needs and the session lacks, all on one trip into the
  // namespace; returns why a protocol has none.
  static std::map<int, Failure> OpenMissing(Batch& batch) {
    Session& session = *batch.session;
    std::vector<int> missing;
    for (const auto& q : batch.queries) {
      bool known = session.sockets.count(q.protocol) > 0;
      for (int p : missing) known = known || p == q.protocol;
      if (!known) missing.push_back(q.protocol);
    }
    std::map<int, Failure> unavailable;
    if (missing.empty()) return unavailable;
    std::optional<Failure> failure;
    std::vector<std::optional<Failure>> perProtocol;
    std::vector<int> fds = nlio::SocketsInNetns(batch.netns, batch.inode, missing, failure, perProtocol);
    for (size_t i = 0; i < missing.size(); i++) {
      if (failure) {
        unavailable[missing[i]] = *failure;
      } else if (fds[i] < 0) {
        unavailable[missing[i]] = perProtocol[i].value_or(Failure{EINVAL, "netlink: no socket"});
      } else {
        session.sockets[missing[i]] = fds[i];
      }
    }
    return unavailable;
  }

  std::vector<Batch> batches_;
  bool nested_;
};

// A namespace's batch from its JS arguments (path, inode, [[protocol, request], ...]); throws
// the usage error `usage` on anything else.
Batch BatchFrom(Napi::Env env, Napi::Value path, Napi::Value inodeValue, Napi::Value queryList, const char* usage) {
  if (!path.IsString() || !inodeValue.IsNumber() || !queryList.IsArray()) throw Napi::TypeError::New(env, usage);
  int64_t inode = inodeValue.As<Napi::Number>().Int64Value();
  if (inode <= 0) throw Napi::RangeError::New(env, "netlinkQueries: inode must be a positive number");
  auto list = queryList.As<Napi::Array>();
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
  return Batch{path.As<Napi::String>().Utf8Value(), static_cast<uint64_t>(inode), SessionFor(static_cast<uint64_t>(inode)), std::move(queries)};
}

Napi::Promise Queue(Napi::Env env, std::vector<Batch> batches, bool nested) {
  auto* worker = new QueriesWorker(env, std::move(batches), nested);
  return worker->Start();
}

Napi::Value NetlinkQueries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "netlinkQueries(netnsPath: string, inode: number, queries: [protocol: number, request: Buffer][])";
  if (info.Length() < 3) throw Napi::TypeError::New(env, usage);
  std::vector<Batch> batches;
  batches.push_back(BatchFrom(env, info[0], info[1], info[2], usage));
  return Queue(env, std::move(batches), false);
}

Napi::Value NetlinkQueriesMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "netlinkQueriesMany(batches: [netnsPath: string, inode: number, queries: [protocol: number, request: Buffer][]][])";
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, usage);
  auto list = info[0].As<Napi::Array>();
  std::vector<Batch> batches;
  batches.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsArray()) throw Napi::TypeError::New(env, usage);
    auto triple = item.As<Napi::Array>();
    batches.push_back(BatchFrom(env, triple.Get(0u), triple.Get(1u), triple.Get(2u), usage));
  }
  return Queue(env, std::move(batches), true);
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
  exports.Set("netlinkQueriesMany", Napi::Function::New(env, NetlinkQueriesMany, "netlinkQueriesMany"));
  exports.Set("netlinkRelease", Napi::Function::New(env, NetlinkRelease, "netlinkRelease"));
  exports.Set("netlinkSessions", Napi::Function::New(env, NetlinkSessions, "netlinkSessions"));
}
