// Entry point of the netobserv addon: each part (netlink, later eBPF) registers its exports.
#include <napi.h>

#include "netlink.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitNetlink(env, exports);
  return exports;
}

NODE_API_MODULE(netobserv, Init)
