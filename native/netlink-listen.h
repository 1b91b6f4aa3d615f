// Netlink notifications for the kubesonar addon.
#pragma once
#include <napi.h>

// Adds the NetlinkListener class (a socket subscribed to multicast groups) to the module exports.
void InitNetlinkListen(Napi::Env env, Napi::Object exports);
