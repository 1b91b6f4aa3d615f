// Netlink helpers of the kubesonar addon.
#pragma once
#include <napi.h>

// Adds netlinkDump(netnsPath, protocol, request) to the module exports.
void InitNetlink(Napi::Env env, Napi::Object exports);
