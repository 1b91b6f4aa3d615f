// Per-process procfs counters of a namespace's processes in one call (proc-pids.cc).
#pragma once
#include <napi.h>

// Adds procPidStats(procRoot, pids) to the module exports.
void InitProcPids(Napi::Env env, Napi::Object exports);
