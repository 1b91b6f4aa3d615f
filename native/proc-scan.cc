// procScanNetns(procRoot) -> Promise<Float64Array>: [pid, netns inode, pid, inode, ...] for
// every process under procRoot whose /proc/<pid>/ns/net link could be read.
//
// Entity discovery needs this every cycle. From JS it is one readdir and one readlink per
// process, each a trip through the thread pool (or, synchronously, a stall of the event loop
// on nodes with thousands of processes); here it is one pool job of plain system calls.

#include "proc-scan.h"

#include "promise-worker.h"

#include "netlink-io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

// "net:[4026531840]" -> 4026531840; 0 for anything else.
uint64_t ParseNsLink(const char* link, ssize_t n) {
  static const char kPrefix[] = "net:[";
  constexpr ssize_t kPrefixLen = sizeof kPrefix - 1;
  if (n <= kPrefixLen + 1 || memcmp(link, kPrefix, kPrefixLen) != 0 || link[n - 1] != ']') return 0;
  uint64_t ino = 0;
  for (ssize_t i = kPrefixLen; i < n - 1; i++) {
    if (link[i] < '0' || link[i] > '9') return 0;
    ino = ino * 10 + static_cast<uint64_t>(link[i] - '0');
  }
  return ino;
}

bool IsPid(const char* name) {
  if (!*name) return false;
  for (const char* p = name; *p; p++)
    if (*p < '0' || *p > '9') return false;
  return true;
}

class ScanWorker : public PromiseWorker {
 public:
  ScanWorker(Napi::Env env, std::string root)
      : PromiseWorker(env, "kubesonar:procScanNetns"), root_(std::move(root)) {}

  void Execute() override {
    DIR* dir = opendir(root_.c_str());
    if (!dir) {
      SetError("cannot list " + root_ + ": " + nlio::ErrnoName(errno));
      return;
    }
    int dfd = dirfd(dir);
    char path[64];
    char link[64];
    // Only thread-group leaders are listed in /proc, so each entry is one process; one that
    // exits meanwhile simply drops out.
    while (dirent* e = readdir(dir)) {
      if (!IsPid(e->d_name) || strlen(e->d_name) > 20) continue;
      snprintf(path, sizeof path, "%s/ns/net", e->d_name);
      ssize_t n = readlinkat(dfd, path, link, sizeof link);
      if (n <= 0) continue;
      uint64_t ino = ParseNsLink(link, n);
      if (!ino) continue;
      out_.push_back(static_cast<double>(strtoul(e->d_name, nullptr, 10)));
      out_.push_back(static_cast<double>(ino));
    }
    closedir(dir);
  }

  void OnOK() override {
    deferred_.Resolve(Float64ArrayOf(Env(), out_));
  }

 private:
  std::string root_;
  std::vector<double> out_;
};

Napi::Value ProcScanNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "procScanNetns(procRoot: string)");
  auto* worker = new ScanWorker(env, info[0].As<Napi::String>().Utf8Value());
  return worker->Start();
}

}  // namespace

void InitProcScan(Napi::Env env, Napi::Object exports) {
  exports.Set("procScanNetns", Napi::Function::New(env, ProcScanNetns, "procScanNetns"));
}
