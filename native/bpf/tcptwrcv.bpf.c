// tcptwrcv: TCP segments received by a connection in TIME_WAIT (a peer reusing the port pair
// with a new SYN, the peer's FIN after a local close, retransmissions, resets), counted per
// network namespace and by the segment's leading flag, with rate-limited events.
//
// No tracepoint sits in tcp_timewait_state_process. But every segment a timewait socket
// consumes ends in kfree_skb with that socket as the tracepoint's receiving socket (rx_sk,
// Linux 6.11+; older kernels reject this program and /status says so), so a kfree_skb whose
// rx_sk is in TIME_WAIT is one such segment. Not seen: a SYN that a listener takes over (the
// new connection proceeds; it is not freed here). Timewait sockets are freed under RCU, so the
// state read after one was just killed (by a reset) is still a timewait socket's.
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// Leading flag of the segment: the counter and event kind; userspace reads it from the BTF
// (BpfProbe.kernelKinds), where the counter key's type puts it.
enum tcptwrcv_kind {
  TCPTWRCV_SYN = 0,
  TCPTWRCV_RST = 1,
  TCPTWRCV_FIN = 2,
  TCPTWRCV_ACK = 3,
};
#define TCPHDR_FIN 0x01
#define TCPHDR_SYN 0x02
#define TCPHDR_RST 0x04

struct tw_key {
  __u32 netns;
  enum tcptwrcv_kind kind; // 4 bytes, like the u32 that BpfProbe.counters() reads
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, struct tw_key);
  __type(value, __u64);
} segments SEC(".maps");

static __always_inline enum tcptwrcv_kind leading_flag(const struct sk_buff *skb) {
  unsigned char *head = BPF_CORE_READ(skb, head);
  __u16 th = BPF_CORE_READ(skb, transport_header);
  __u8 flags = 0;
  if (head && th != (__u16)~0U) bpf_probe_read_kernel(&flags, 1, head + th + 13); // tcphdr byte 13
  if (flags & TCPHDR_SYN) return TCPTWRCV_SYN;
  if (flags & TCPHDR_RST) return TCPTWRCV_RST;
  if (flags & TCPHDR_FIN) return TCPTWRCV_FIN;
  return TCPTWRCV_ACK;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason, struct sock *rx_sk) {
  // A direct read (BTF pointer): this runs for every packet dropped.
  if (!rx_sk || rx_sk->__sk_common.skc_state != TCP_TIME_WAIT) return 0;
  __u32 netns = sk_netns(rx_sk);
  enum tcptwrcv_kind kind = leading_flag(skb);
  struct tw_key key = {.netns = netns, .kind = kind};
  counter_add(&segments, &key, 1);
  struct event *e = netns_event_begin(bpf_ktime_get_ns(), netns, kind, rx_sk);
  if (!e) return 0;
  // The substate after the segment was processed: TIME_WAIT, or FIN_WAIT2 for a closed socket
  // still waiting for the peer's FIN (its FIN shows TIME_WAIT, the state it moved to).
  e->state = BPF_CORE_READ((struct inet_timewait_sock *)rx_sk, tw_substate);
  e->reason = reason;
  tuple_from_skb(e, skb);
  event_submit(e);
  return 0;
}
