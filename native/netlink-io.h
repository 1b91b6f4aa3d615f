// Netlink socket I/O shared by the one-shot dumps (netlink.cc), the persistent sessions
// (netlink-session.cc) and the change listener's socket (netlink-listen.cc). No Node API
// here: everything runs on worker threads.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <optional>
#include <string>
#include <vector>

namespace nlio {

struct Failure {
  int err = 0;
  std::string message;
  // The socket may hold unread or partial replies (timeout, receive error): not reusable.
  bool socketBroken = false;
};

std::string ErrnoName(int err);
Failure Fail(int err, const std::string& what);

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// A netlink socket of `protocol` in the calling thread's namespace, with its timeouts and
// extended acks set; -1 and `failure` set when it cannot be created.
int NetlinkSocket(int protocol, std::optional<Failure>& failure);

// One socket per protocol, created inside the network namespace at `path` by a short-lived
// thread that setns()es first and exits with the switch (no other thread ever changes
// namespace). `expectedInode` (0: any) guards against a path whose process was replaced by
// one in another namespace. A namespace-wide failure sets `failure`; a protocol the kernel
// lacks leaves -1 in its slot and its reason in `perProtocol`.
std::vector<int> SocketsInNetns(const std::string& path, uint64_t expectedInode, const std::vector<int>& protocols,
                                std::optional<Failure>& failure, std::vector<std::optional<Failure>>& perProtocol);

// Sends one request (a complete netlink message) and appends every reply message up to
// NLMSG_DONE (dumps) or the first reply / ack (plain requests) to `out`. Messages whose
// sequence number is not the request's are left out: a reused socket never mixes answers.
std::optional<Failure> Exchange(int fd, const uint8_t* request, size_t length, std::vector<uint8_t>& out);

}  // namespace nlio
