// Entry point of the kubesonar addon: each part (netlink, namespace file reads) registers its
// exports. The eBPF loader is a separate addon (native/bpf/), so hosts without libbpf build this one.
#include <napi.h>

#include "netlink-listen.h"
#include "netlink.h"
#include "netns-read.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitNetlink(env, exports);
  InitNetlinkListen(env, exports);
  InitNetnsRead(env, exports);
  return exports;
}

NODE_API_MODULE(kubesonar, Init)
