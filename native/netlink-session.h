// Netlink sockets kept per network namespace for the collection loop (netlink-session.cc).
#pragma once
#include <napi.h>

// Adds netlinkQueries, netlinkQueriesMany, netlinkRelease and netlinkSessions to the module exports.
void InitNetlinkSessions(Napi::Env env, Napi::Object exports);
