// netlinkDump(netnsPath, protocol, request): one request/reply exchange on a fresh netlink
// socket that belongs to the network namespace at netnsPath (null: the agent's own).
//
// A netlink socket answers for the namespace it was created in, whichever thread later uses
// it. So the socket is created on a short-lived thread that setns()es first and then exits,
// taking the namespace switch with it: Node's main thread never changes namespace, and no
// libuv pool thread is ever left in a foreign one.

#include "netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

// A dump of a busy namespace takes milliseconds; anything slower is a wedged kernel path,
// and a metrics collection must not hang on it.
constexpr time_t kTimeoutSeconds = 2;
constexpr size_t kInitialBuffer = 32 * 1024;

struct Failure {
  int err = 0;
  std::string message;
};

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(err)) return name;
#endif
  return "errno " + std::to_string(err);
}

// "EOPNOTSUPP (Operation not supported)"; strerrordesc_np, unlike strerror, is thread-safe.
std::string Describe(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* text = strerrordesc_np(err);
#else
  const char* text = nullptr;
#endif
  return ErrnoName(err) + " (" + (text ? text : "unknown error") + ")";
}

Failure Fail(int err, const std::string& what) { return {err, what + ": " + Describe(err)}; }

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int NetlinkSocket(int protocol, std::optional<Failure>& failure) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) failure = Fail(errno, "netlink: socket(protocol " + std::to_string(protocol) + ")");
  return fd;
}

int SocketInNetns(const std::string& path, int protocol, std::optional<Failure>& failure) {
  int fd = -1;
  auto work = [&] {
    Fd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (ns.get() < 0) {
      int err = errno;
      failure = Fail(err, "cannot open network namespace " + path);
      if (err == ENOENT || err == ESRCH) failure->message += "; the process may have exited";
      return;
    }
    if (setns(ns.get(), CLONE_NEWNET) != 0) {
      failure = Fail(errno, "cannot enter network namespace " + path);
      return;
    }
    fd = NetlinkSocket(protocol, failure);
  };
  try {
    std::thread(work).join();
  } catch (const std::system_error& e) {
    failure = Fail(e.code().value(), "netlink: cannot start namespace thread");
  }
  return fd;
}

ssize_t Recv(int fd, std::vector<uint8_t>& buf, int flags) {
  ssize_t n;
  do n = recv(fd, buf.data(), buf.size(), flags);
  while (n < 0 && errno == EINTR);
  return n;
}

// The kernel's reason for a failure, when it attached one (extended ack TLVs from `offset`).
std::string ExtAckMessage(const nlmsghdr* msg, size_t offset) {
  if (!(msg->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  auto* base = reinterpret_cast<const uint8_t*>(msg);
  while (offset + sizeof(nlattr) <= msg->nlmsg_len) {
    auto* attr = reinterpret_cast<const nlattr*>(base + offset);
    if (attr->nla_len < sizeof(nlattr) || offset + attr->nla_len > msg->nlmsg_len) break;
    if ((attr->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      const char* text = reinterpret_cast<const char*>(attr) + NLA_HDRLEN;
      return std::string(text, strnlen(text, attr->nla_len - NLA_HDRLEN));
    }
    offset += NLA_ALIGN(attr->nla_len);
  }
  return "";
}

// NLMSG_ERROR: struct nlmsgerr (error + our request's header, or our whole request when the
// kernel ignored NETLINK_CAP_ACK), then the TLVs.
std::string ErrorDetail(const nlmsghdr* msg) {
  if (msg->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return "";
  auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(msg));
  size_t echoed = (msg->nlmsg_flags & NLM_F_CAPPED) ? sizeof(nlmsghdr) : NLMSG_ALIGN(err->msg.nlmsg_len);
  return ExtAckMessage(msg, NLMSG_HDRLEN + sizeof(int) + echoed);
}

Failure KernelError(int err, const std::string& detail) {
  Failure f = Fail(err, "netlink");
  if (!detail.empty()) f.message += ": " + detail;
  return f;
}

// Sends the request and collects every reply message up to NLMSG_DONE (dumps, which span
// many datagrams) or up to the first reply / ack (plain requests).
std::optional<Failure> Exchange(int fd, const std::vector<uint8_t>& request, std::vector<uint8_t>& out) {
  timeval timeout{kTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  // Best effort (older kernels lack them): errors carry the kernel's reason, not our request.
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do sent = sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) return Fail(errno, "netlink: send");

  // The socket is fresh and private to this call, so every message on it answers our request.
  // Only dumps end with NLMSG_DONE: some plain replies carry NLM_F_MULTI (ctnetlink sets it
  // whenever the requester has a port id) yet are never followed by DONE, so the flag of the
  // request, not of the reply, decides when to stop.
  auto* reqHeader = reinterpret_cast<const nlmsghdr*>(request.data());
  const bool dump = (reqHeader->nlmsg_flags & NLM_F_DUMP) != 0;
  std::vector<uint8_t> buf(kInitialBuffer);
  for (;;) {
    // Peek with MSG_TRUNC first: it reports the datagram's full size, so the buffer can grow
    // before the real read instead of losing the tail of a large message.
    ssize_t size = Recv(fd, buf, MSG_PEEK | MSG_TRUNC);
    if (size >= 0 && static_cast<size_t>(size) > buf.size()) buf.resize(size);
    if (size >= 0) size = Recv(fd, buf, 0);
    if (size < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK)
        return Failure{ETIMEDOUT, "netlink: no reply within " + std::to_string(kTimeoutSeconds) + " s"};
      return Fail(err, "netlink: receive");
    }

    bool replied = false;
    int left = static_cast<int>(size);
    for (auto* msg = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(msg, left); msg = NLMSG_NEXT(msg, left)) {
      switch (msg->nlmsg_type) {
        case NLMSG_NOOP:
          continue;
        case NLMSG_DONE: {
          // A dump that failed part-way reports the errno in DONE's payload.
          int err = 0;
          if (msg->nlmsg_len >= NLMSG_LENGTH(sizeof err)) memcpy(&err, NLMSG_DATA(msg), sizeof err);
          if (err < 0) return KernelError(-err, ExtAckMessage(msg, NLMSG_HDRLEN + sizeof err));
          return std::nullopt;
        }
        case NLMSG_ERROR: {
          if (msg->nlmsg_len < NLMSG_LENGTH(sizeof(int))) return Failure{EBADMSG, "netlink: truncated error message"};
          int err = static_cast<const nlmsgerr*>(NLMSG_DATA(msg))->error;
          if (err < 0) return KernelError(-err, ErrorDetail(msg));
          return std::nullopt;  // an ack
        }
        case NLMSG_OVERRUN:
          return Failure{EOVERFLOW, "netlink: kernel reported data lost (NLMSG_OVERRUN)"};
        default: {
          // NLM_F_DUMP_INTR (the table changed during the dump) is left for the caller: for
          // counters a slightly inconsistent snapshot is still better than none.
          auto* bytes = reinterpret_cast<const uint8_t*>(msg);
          size_t len = std::min<size_t>(NLMSG_ALIGN(msg->nlmsg_len), static_cast<size_t>(left));
          out.insert(out.end(), bytes, bytes + len);
          replied = true;
        }
      }
    }
    if (replied && !dump) return std::nullopt;
  }
}

class DumpWorker : public Napi::AsyncWorker {
 public:
  DumpWorker(Napi::Env env, std::optional<std::string> netns, int protocol, std::vector<uint8_t> request)
      : Napi::AsyncWorker(env, "kubesonar:netlinkDump"),
        deferred_(Napi::Promise::Deferred::New(env)),
        netns_(std::move(netns)),
        protocol_(protocol),
        request_(std::move(request)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    Fd fd(netns_ ? SocketInNetns(*netns_, protocol_, failure_) : NetlinkSocket(protocol_, failure_));
    if (fd.get() >= 0) failure_ = Exchange(fd.get(), request_, reply_);
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
      rejection.Set("code", Napi::String::New(Env(), ErrnoName(failure_->err)));
      rejection.Set("errno", Napi::Number::New(Env(), failure_->err));
    }
    deferred_.Reject(rejection.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
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
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkDump", Napi::Function::New(env, NetlinkDump, "netlinkDump"));
}
