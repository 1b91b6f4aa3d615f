// The network namespace of every process, in one pass over /proc (proc-scan.cc).
#pragma once
#include <napi.h>

// Adds procScanNetns(procRoot) to the module exports.
void InitProcScan(Napi::Env env, Napi::Object exports);
