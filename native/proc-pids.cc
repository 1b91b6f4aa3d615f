// procPidStats(procRoot, pids) -> Promise<Float64Array>: for each pid, in order, 8 numbers:
//   [io errno, fd errno, open fds, open sockets, syscr, syscw, read_bytes, write_bytes]
// (an errno of 0: that part was read). What the fd and io probes need of every process of a
// namespace, read in one pool job instead of one JS call per file and per descriptor: on a
// node the host namespace alone has hundreds of processes and thousands of descriptors.

#include "proc-pids.h"

#include "promise-worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

constexpr size_t kFields = 8;

// /proc/<pid>/fd: every entry, and those whose link is "socket:[...]".
int CountFds(const std::string& dir, double& fds, double& sockets) {
  DIR* d = opendir(dir.c_str());
  if (!d) return errno;
  int dfd = dirfd(d);
  char link[32];
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    fds++;
    ssize_t n = readlinkat(dfd, e->d_name, link, sizeof link);
    if (n >= 7 && memcmp(link, "socket:", 7) == 0) sockets++;  // closed meanwhile: not one
  }
  closedir(d);
  return 0;
}

// /proc/<pid>/io: "syscr: 12" lines.
int ReadIo(const std::string& path, double* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[1024];
  ssize_t n;
  do n = read(fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  int err = n < 0 ? errno : 0;
  close(fd);
  if (err) return err;
  buf[n] = 0;
  static const char* const kNames[] = {"syscr", "syscw", "read_bytes", "write_bytes"};
  for (char* line = buf; line && *line;) {
    char* next = strchr(line, '\n');
    if (next) *next++ = 0;
    char* colon = strchr(line, ':');
    if (colon) {
      *colon = 0;
      for (int i = 0; i < 4; i++)
        if (strcmp(line, kNames[i]) == 0) out[i] = strtod(colon + 1, nullptr);
    }
    line = next;
  }
  return 0;
}

class PidsWorker : public PromiseWorker {
 public:
  PidsWorker(Napi::Env env, std::string root, std::vector<uint32_t> pids)
      : PromiseWorker(env, "kubesonar:procPidStats"),
        root_(std::move(root)),
        pids_(std::move(pids)),
        out_(pids_.size() * kFields, 0) {}

  void Execute() override {
    for (size_t i = 0; i < pids_.size(); i++) {
      double* row = &out_[i * kFields];
      std::string base = root_ + "/" + std::to_string(pids_[i]);
      row[0] = ReadIo(base + "/io", row + 4);
      row[1] = CountFds(base + "/fd", row[2], row[3]);
    }
  }

  void OnOK() override {
    deferred_.Resolve(Float64ArrayOf(Env(), out_));
  }

 private:
  std::string root_;
  std::vector<uint32_t> pids_;
  std::vector<double> out_;
};

Napi::Value ProcPidStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) throw Napi::TypeError::New(env, "procPidStats(procRoot: string, pids: number[])");
  auto list = info[1].As<Napi::Array>();
  std::vector<uint32_t> pids;
  pids.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, "procPidStats: pids must be numbers");
    pids.push_back(v.As<Napi::Number>().Uint32Value());
  }
  auto* worker = new PidsWorker(env, info[0].As<Napi::String>().Utf8Value(), std::move(pids));
  return worker->Start();
}

}  // namespace

void InitProcPids(Napi::Env env, Napi::Object exports) {
  exports.Set("procPidStats", Napi::Function::New(env, ProcPidStats, "procPidStats"));
}
