// Netlink socket I/O on worker threads: sockets created inside a namespace, request/reply
// exchanges with the kernel's reasons for failures.
#include "netlink-io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <thread>

namespace nlio {
namespace {

// A dump of a busy namespace takes milliseconds; anything slower is a wedged kernel path,
// and a metrics collection must not hang on it.
constexpr time_t kTimeoutSeconds = 2;
constexpr size_t kInitialBuffer = 32 * 1024;

// "EOPNOTSUPP (Operation not supported)"; strerrordesc_np, unlike strerror, is thread-safe.
std::string Describe(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* text = strerrordesc_np(err);
#else
  const char* text = nullptr;
#endif
  return ErrnoName(err) + " (" + (text ? text : "unknown error") + ")";
}

Failure Broken(Failure f) {
  f.socketBroken = true;
  return f;
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

// The kernel refused the request: the exchange is complete, the socket stays usable.
Failure KernelError(int err, const std::string& detail) {
  Failure f = Fail(err, "netlink");
  if (!detail.empty()) f.message += ": " + detail;
  return f;
}

}  // namespace

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(err)) return name;
#endif
  return "errno " + std::to_string(err);
}

Failure Fail(int err, const std::string& what) { return {err, what + ": " + Describe(err)}; }

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

int NetlinkSocket(int protocol, std::optional<Failure>& failure) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    failure = Fail(errno, "netlink: socket(protocol " + std::to_string(protocol) + ")");
    return fd;
  }
  timeval timeout{kTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  // Best effort (older kernels lack them): errors carry the kernel's reason, not our request.
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  return fd;
}

std::vector<int> SocketsInNetns(const std::string& path, uint64_t expectedInode, const std::vector<int>& protocols,
                                std::optional<Failure>& failure, std::vector<std::optional<Failure>>& perProtocol) {
  std::vector<int> fds(protocols.size(), -1);
  perProtocol.assign(protocols.size(), std::nullopt);
  auto work = [&] {
    Fd ns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (ns.get() < 0) {
      int err = errno;
      failure = Fail(err, "cannot open network namespace " + path);
      if (err == ENOENT || err == ESRCH) failure->message += "; the process may have exited";
      return;
    }
    struct stat st {};
    if (expectedInode != 0 && (fstat(ns.get(), &st) != 0 || st.st_ino != expectedInode)) {
      failure = Failure{ESTALE, path + " is no longer network namespace " + std::to_string(expectedInode) + "; the process may have exited"};
      return;
    }
    if (setns(ns.get(), CLONE_NEWNET) != 0) {
      failure = Fail(errno, "cannot enter network namespace " + path);
      return;
    }
    for (size_t i = 0; i < protocols.size(); i++) fds[i] = NetlinkSocket(protocols[i], perProtocol[i]);
  };
  try {
    std::thread(work).join();
  } catch (const std::system_error& e) {
    failure = Fail(e.code().value(), "netlink: cannot start namespace thread");
  }
  return fds;
}

std::optional<Failure> Exchange(int fd, const uint8_t* request, size_t length, std::vector<uint8_t>& out) {
  auto* reqHeader = reinterpret_cast<const nlmsghdr*>(request);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do sent = sendto(fd, request, length, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) return Broken(Fail(errno, "netlink: send"));

  // Only dumps end with NLMSG_DONE: some plain replies carry NLM_F_MULTI (ctnetlink sets it
  // whenever the requester has a port id) yet are never followed by DONE, so the flag of the
  // request, not of the reply, decides when to stop.
  const bool dump = (reqHeader->nlmsg_flags & NLM_F_DUMP) != 0;
  const uint32_t seq = reqHeader->nlmsg_seq;
  const size_t before = out.size();
  std::vector<uint8_t> buf(kInitialBuffer);
  for (;;) {
    // Peek with MSG_TRUNC first: it reports the datagram's full size, so the buffer can grow
    // before the real read instead of losing the tail of a large message.
    ssize_t size = Recv(fd, buf, MSG_PEEK | MSG_TRUNC);
    if (size >= 0 && static_cast<size_t>(size) > buf.size()) buf.resize(size);
    if (size >= 0) size = Recv(fd, buf, 0);
    if (size < 0) {
      int err = errno;
      out.resize(before);
      if (err == EAGAIN || err == EWOULDBLOCK)
        return Failure{ETIMEDOUT, "netlink: no reply within " + std::to_string(kTimeoutSeconds) + " s", true};
      return Broken(Fail(err, "netlink: receive"));
    }

    bool replied = false;
    int left = static_cast<int>(size);
    for (auto* msg = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(msg, left); msg = NLMSG_NEXT(msg, left)) {
      if (msg->nlmsg_seq != seq) continue;  // the tail of an answer nobody waits for any more
      switch (msg->nlmsg_type) {
        case NLMSG_NOOP:
          continue;
        case NLMSG_DONE: {
          // A dump that failed part-way reports the errno in DONE's payload.
          int err = 0;
          if (msg->nlmsg_len >= NLMSG_LENGTH(sizeof err)) memcpy(&err, NLMSG_DATA(msg), sizeof err);
          if (err < 0) {
            out.resize(before);
            return KernelError(-err, ExtAckMessage(msg, NLMSG_HDRLEN + sizeof err));
          }
          return std::nullopt;
        }
        case NLMSG_ERROR: {
          if (msg->nlmsg_len < NLMSG_LENGTH(sizeof(int))) {
            out.resize(before);
            return Failure{EBADMSG, "netlink: truncated error message", true};
          }
          int err = static_cast<const nlmsgerr*>(NLMSG_DATA(msg))->error;
          if (err < 0) {
            out.resize(before);
            return KernelError(-err, ErrorDetail(msg));
          }
          return std::nullopt;  // an ack
        }
        case NLMSG_OVERRUN:
          out.resize(before);
          return Failure{EOVERFLOW, "netlink: kernel reported data lost (NLMSG_OVERRUN)", true};
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

}  // namespace nlio
