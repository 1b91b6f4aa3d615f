// NetlinkListener: a netlink socket subscribed to multicast groups, read on its own thread,
// each datagram handed to a JavaScript callback. The configuration checks use it to hear of
// rp_filter, link, address, route and rule changes as the kernel makes them instead of waiting
// for their next interval.
//
// The socket is created in the namespace given (the node's), like netlinkDump's, on a
// short-lived thread that setns()es first, so no Node thread changes namespace. With
// `allNsid` it also receives the notifications of every namespace that has an id in that one
// (NETLINK_LISTEN_ALL_NSID): one socket hears every pod without holding any pod's namespace
// open, which a socket per pod namespace would (a socket pins the namespace it lives in).

#include "netlink-listen.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "netlink-io.h"

namespace {

using nlio::ErrnoName;
using nlio::Fail;
using nlio::Failure;

// Socket of `protocol` in the namespace at `path` (empty: ours), subscribed to `groups`. Made
// the way the dumps' sockets are (nlio: a short-lived thread enters the namespace), then made
// non-blocking: the reader waits in poll(), never in recv().
int OpenSubscribed(const std::optional<std::string>& path, int protocol, const std::vector<int>& groups, bool allNsid,
                   std::optional<Failure>& failure) {
  int fd = -1;
  if (path) {
    std::vector<std::optional<Failure>> perProtocol;
    fd = nlio::SocketsInNetns(*path, 0, {protocol}, failure, perProtocol)[0];
    if (!failure && perProtocol[0]) failure = perProtocol[0];
  } else {
    fd = nlio::NetlinkSocket(protocol, failure);
  }
  if (fd < 0 || failure) {
    if (fd >= 0) close(fd);
    return -1;
  }
  auto give_up = [&](const std::string& what) {
    failure = Fail(errno, what);
    close(fd);
    return -1;
  };
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return give_up("netlink: O_NONBLOCK");
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return give_up("netlink: bind");
  // Bursts (a pod's veth, addresses and routes at once) must not overrun a small default buffer.
  int rcvbuf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  for (int group : groups) {
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0)
      return give_up("netlink: join group " + std::to_string(group));
  }
  int one = 1;
  if (allNsid && setsockopt(fd, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &one, sizeof one) != 0)
    return give_up("netlink: NETLINK_LISTEN_ALL_NSID");
  return fd;
}

// What the reader hands to JavaScript: a datagram, or the errno that lost some (ENOBUFS).
struct Delivery {
  std::vector<uint8_t> bytes;
  int err = 0;
};

class NetlinkListener : public Napi::ObjectWrap<NetlinkListener> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetlinkListener", {InstanceMethod("close", &NetlinkListener::Close)});
  }

  // new NetlinkListener(netnsPath | null, protocol, groups[], allNsid, onMessage(buf | null, errnoName?))
  explicit NetlinkListener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetlinkListener>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !(info[0].IsNull() || info[0].IsString()) || !info[1].IsNumber() || !info[2].IsArray() ||
        !info[3].IsBoolean() || !info[4].IsFunction())
      throw Napi::TypeError::New(env, "new NetlinkListener(netnsPath: string | null, protocol: number, groups: number[], allNsid: boolean, onMessage: Function)");
    std::optional<std::string> path;
    if (info[0].IsString()) path = info[0].As<Napi::String>().Utf8Value();
    std::vector<int> groups;
    auto array = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); i++) groups.push_back(array.Get(i).As<Napi::Number>().Int32Value());

    std::optional<Failure> failure;
    sock_ = OpenSubscribed(path, info[1].As<Napi::Number>().Int32Value(), groups, info[3].As<Napi::Boolean>(), failure);
    if (sock_ >= 0) {
      wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (wake_ < 0) failure = Fail(errno, "eventfd");
    }
    if (failure) {
      if (sock_ >= 0) close(sock_);
      sock_ = -1;
      Napi::Error error = Napi::Error::New(env, failure->message);
      error.Set("code", Napi::String::New(env, ErrnoName(failure->err)));
      throw error;
    }
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[4].As<Napi::Function>(), "kubesonar:netlinkListen", 0, 1);
    // A listener never keeps the process alive by itself.
    tsfn_.Unref(env);
    reader_ = std::thread([this] { Read(); });
  }

  ~NetlinkListener() override { Stop(); }

 private:
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  void Stop() {
    if (sock_ < 0) return;
    uint64_t one = 1;
    ssize_t ignored = write(wake_, &one, sizeof one);
    (void)ignored;
    reader_.join();
    tsfn_.Release();
    close(sock_);
    close(wake_);
    sock_ = wake_ = -1;
  }

  void Deliver(Delivery* d) {
    auto call = [](Napi::Env env, Napi::Function callback, Delivery* d) {
      std::unique_ptr<Delivery> owned(d);
      if (d->err) callback.Call({env.Null(), Napi::String::New(env, ErrnoName(d->err))});
      else callback.Call({Napi::Buffer<uint8_t>::Copy(env, d->bytes.data(), d->bytes.size())});
    };
    if (tsfn_.NonBlockingCall(d, call) != napi_ok) delete d;  // the environment is going away
  }

  void Read() {
    std::vector<uint8_t> buf(64 * 1024);
    pollfd fds[2] = {{sock_, POLLIN, 0}, {wake_, POLLIN, 0}};
    for (;;) {
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        Deliver(new Delivery{{}, errno});
        return;
      }
      if (fds[1].revents) return;
      if (!(fds[0].revents & (POLLIN | POLLERR))) continue;
      ssize_t size = recv(sock_, buf.data(), buf.size(), MSG_PEEK | MSG_TRUNC);
      if (size > static_cast<ssize_t>(buf.size())) buf.resize(size);
      if (size >= 0) size = recv(sock_, buf.data(), buf.size(), 0);
      if (size < 0) {
        int err = errno;  // Deliver() allocates and calls into N-API: errno is not its to keep
        if (err == EINTR || err == EAGAIN) continue;
        // ENOBUFS: the kernel dropped notifications; the reader says so and keeps listening.
        Deliver(new Delivery{{}, err});
        if (err != ENOBUFS) return;
        continue;
      }
      Deliver(new Delivery{std::vector<uint8_t>(buf.begin(), buf.begin() + size), 0});
    }
  }

  int sock_ = -1;
  int wake_ = -1;
  std::thread reader_;
  Napi::ThreadSafeFunction tsfn_;
};

}  // namespace

void InitNetlinkListen(Napi::Env env, Napi::Object exports) {
  exports.Set("NetlinkListener", NetlinkListener::Define(env));
}
