// tcpretrans: TCP retransmissions (tcp:tcp_retransmit_skb) and SYN-ACK retransmissions
// (tcp:tcp_retransmit_synack), counted per network namespace, with rate-limited events.
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// Counter and event kind; userspace reads it from the BTF (BpfProbe.kernelKinds), where the
// counter key's type puts it.
enum tcpretrans_kind {
  TCPRETRANS_RETRANS = 0,
  TCPRETRANS_SYNACK = 1,
};

struct retrans_key {
  __u32 netns;
  enum tcpretrans_kind kind; // 4 bytes, like the u32 that BpfProbe.counters() reads
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, struct retrans_key);
  __type(value, __u64);
} retrans SEC(".maps");

static __always_inline void emit(enum tcpretrans_kind kind, const struct sock *sk) {
  __u32 netns = sk_netns(sk);
  struct retrans_key key = {.netns = netns, .kind = kind};
  counter_add(&retrans, &key, 1);
  struct event *e = netns_event_begin(bpf_ktime_get_ns(), netns, kind, sk);
  if (!e) return;
  e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
  tuple_from_sk(e, sk);
  event_submit(e);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit_skb, const struct sock *sk) {
  emit(TCPRETRANS_RETRANS, sk);
  return 0;
}

// The request socket carries the connection's addresses (sock_common is its first member).
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(tcp_retransmit_synack, const struct sock *sk, const struct request_sock *req) {
  emit(TCPRETRANS_SYNACK, (const struct sock *)req);
  return 0;
}
