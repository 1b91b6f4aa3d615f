// Reading files as a network namespace sees them (netns-read.cc).
#pragma once
#include <napi.h>

// Adds netnsReadFiles(netnsPath, paths) to the module exports.
void InitNetnsRead(Napi::Env env, Napi::Object exports);
