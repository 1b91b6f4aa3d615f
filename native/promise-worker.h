// What every asynchronous call of the addon shares: work on a pool thread (Execute) whose end
// settles a promise on the JavaScript thread. A worker resolves with Settle's value, or
// rejects with its error (OnError may be overridden to add `code`/`errno`).
#pragma once

#include <napi.h>

#include <string.h>

#include <vector>

class PromiseWorker : public Napi::AsyncWorker {
 public:
  // Queues the worker (the addon frees it when it is done) and returns its promise.
  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

  Napi::Promise::Deferred deferred_;
};

// `values` as a Float64Array (the flat tables the /proc workers return).
inline Napi::Float64Array Float64ArrayOf(Napi::Env env, const std::vector<double>& values) {
  auto array = Napi::Float64Array::New(env, values.size());
  if (!values.empty()) memcpy(array.Data(), values.data(), values.size() * sizeof(double));
  return array;
}
