// netnsReadFiles(netnsPath, paths): the contents of small files as seen from inside a network
// namespace. Per-namespace sysctls (/proc/sys/net/ipv4/tcp_syncookies, ...) answer for the
// namespace of the thread that opens them, and unlike /proc/<pid>/net/* there is no path
// that names another namespace. So, as for netlink sockets, a short-lived thread setns()es,
// opens and reads every file, and exits with the namespace switch: Node's threads never move.

#include "netns-read.h"

#include "promise-worker.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

// Sysctl files are a few bytes; the cap only guards against a path that is not one.
constexpr size_t kMaxFileBytes = 64 * 1024;
constexpr size_t kMaxPaths = 4096;

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(err)) return name;
#endif
  return "errno " + std::to_string(err);
}

struct FileResult {
  int err = 0;  // 0: read; otherwise the errno of open/read
  std::string data;
};

FileResult ReadFile(const std::string& path) {
  FileResult r;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.err = errno;
    return r;
  }
  char buf[4096];
  while (r.data.size() < kMaxFileBytes) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.err = errno;
      break;
    }
    if (n == 0) break;
    r.data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return r;
}

class ReadWorker : public PromiseWorker {
 public:
  ReadWorker(Napi::Env env, std::string netns, std::vector<std::string> paths)
      : PromiseWorker(env, "kubesonar:netnsReadFiles"),
        netns_(std::move(netns)),
        paths_(std::move(paths)) {}

  void Execute() override {
    auto work = [this] {
      int ns = open(netns_.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0) {
        Fail(errno, "cannot open network namespace " + netns_);
        return;
      }
      int rc = setns(ns, CLONE_NEWNET);
      int err = errno;
      close(ns);
      if (rc != 0) {
        Fail(err, "cannot enter network namespace " + netns_);
        return;
      }
      for (const auto& p : paths_) results_.push_back(ReadFile(p));
    };
    try {
      std::thread(work).join();
    } catch (const std::system_error& e) {
      Fail(e.code().value(), "cannot start namespace thread");
    }
    if (err_) SetError(message_);
  }

  // One entry per path: its contents, or null when it does not exist in that namespace (a
  // sysctl of a module not loaded); any other failure rejects with the errno name as `code`.
  void OnOK() override {
    Napi::Env env = Env();
    for (size_t i = 0; i < results_.size(); i++) {
      int e = results_[i].err;
      if (e != 0 && e != ENOENT && e != ENOTDIR) {
        Napi::Error error = Napi::Error::New(env, "read " + paths_[i] + " in " + netns_ + ": " + ErrnoName(e));
        error.Set("code", Napi::String::New(env, ErrnoName(e)));
        deferred_.Reject(error.Value());
        return;
      }
    }
    Napi::Array out = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); i++) {
      out.Set(i, results_[i].err ? env.Null() : Napi::String::New(env, results_[i].data));
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& error) override {
    Napi::Error rejection = Napi::Error::New(Env(), error.Message());
    rejection.Set("code", Napi::String::New(Env(), ErrnoName(err_)));
    deferred_.Reject(rejection.Value());
  }

 private:
  void Fail(int err, const std::string& what) {
    err_ = err;
    message_ = what + ": " + ErrnoName(err);
  }

  std::string netns_;
  std::vector<std::string> paths_;
  std::vector<FileResult> results_;
  int err_ = 0;
  std::string message_;
};

Napi::Value NetnsReadFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray())
    throw Napi::TypeError::New(env, "netnsReadFiles(netnsPath: string, paths: string[])");
  auto list = info[1].As<Napi::Array>();
  if (list.Length() > kMaxPaths) throw Napi::RangeError::New(env, "netnsReadFiles: too many paths");
  std::vector<std::string> paths;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "netnsReadFiles: paths must be strings");
    paths.push_back(v.As<Napi::String>().Utf8Value());
  }
  auto* worker = new ReadWorker(env, info[0].As<Napi::String>().Utf8Value(), std::move(paths));
  return worker->Start();
}

}  // namespace

void InitNetnsRead(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsReadFiles", Napi::Function::New(env, NetnsReadFiles, "netnsReadFiles"));
}
