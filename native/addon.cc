// Entry point of the kubesonar addon: each part (netlink, later eBPF) registers its exports.
#include <napi.h>

#include "netlink.h"
#include "netns-read.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitNetlink(env, exports);
  InitNetnsRead(env, exports);
  return exports;
}

NODE_API_MODULE(kubesonar, Init)
