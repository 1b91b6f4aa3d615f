// selftest: an object for the loader's tests (test/bpf.test.ts): one program that attaches
// and two that cannot on any kernel, to show that one bad program is skipped, not fatal.
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

__u64 hits = 0;

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(good, struct sock *sk) {
  __sync_fetch_and_add(&hits, 1);
  return 0;
}

SEC("tp_btf/kubesonar_no_such_tracepoint")
int BPF_PROG(bogus_btf) {
  return 0;
}

SEC("raw_tp/kubesonar_no_such_tracepoint")
int bogus_raw(void *ctx) {
  return 0;
}
