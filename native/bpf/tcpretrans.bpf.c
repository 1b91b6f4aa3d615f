// tcpretrans: TCP retransmissions (tcp:tcp_retransmit_skb) and SYN-ACK retransmissions
// (tcp:tcp_retransmit_synack), counted per network namespace, with rate-limited events.
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

enum { RETRANS = 0, RETRANS_SYNACK = 1 }; // order of RETRANS_TYPES in src/probes/tcpretrans.ts

struct retrans_key {
  __u32 netns;
  __u32 kind;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, struct retrans_key);
  __type(value, __u64);
} retrans SEC(".maps");

static __always_inline void emit(__u32 kind, const struct sock *sk) {
  __u32 netns = sk_netns(sk);
  struct retrans_key key = {.netns = netns, .kind = kind};
  counter_add(&retrans, &key, 1);
  struct event *e = event_begin(bpf_ktime_get_ns(), netns, kind);
  if (!e) return;
  e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
  tuple_from_sk(e, sk);
  event_submit(e);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit_skb, const struct sock *sk) {
  emit(RETRANS, sk);
  return 0;
}

// The request socket carries the connection's addresses (sock_common is its first member).
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(tcp_retransmit_synack, const struct sock *sk, const struct request_sock *req) {
  emit(RETRANS_SYNACK, (const struct sock *)req);
  return 0;
}
