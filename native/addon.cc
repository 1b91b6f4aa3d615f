// Entry point of the kubesonar addon: each part (netlink dumps and sessions, namespace file
// reads, the process scan, per-process counters) registers its exports. The eBPF loader is a separate addon
// (native/bpf/), so hosts without libbpf build this one.
#include <napi.h>

#include "netlink-listen.h"
#include "netlink-session.h"
#include "netlink.h"
#include "netns-read.h"
#include "proc-pids.h"
#include "proc-scan.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitNetlink(env, exports);
  InitNetlinkListen(env, exports);
  InitNetlinkSessions(env, exports);
  InitNetnsRead(env, exports);
  InitProcScan(env, exports);
  InitProcPids(env, exports);
  return exports;
}

NODE_API_MODULE(kubesonar, Init)
