// tcpreset: resets sent (tcp:tcp_send_reset) and received (tcp:tcp_receive_reset), classified
// in the kernel into the seeds' event types, counted per network namespace and type, with a
// rate-limited event per reset.
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// Counter and event kind; userspace reads it from the BTF (BpfProbe.kernelKinds), where the
// counter key's type puts it.
enum tcpreset_kind {
  TCPRESET_SEND_RST = 0,        // a reply to a segment of an existing socket (e.g. TIME_WAIT, bad ACK)
  TCPRESET_SEND_RST_NOSOCK = 1, // a reply to a segment no socket wanted
  TCPRESET_SEND_RST_ACTIVE = 2, // the local side aborted (tcp_send_active_reset: no segment to answer)
  TCPRESET_RCV_RST_SYN = 3,
  TCPRESET_RCV_RST_ESTAB = 4,
  TCPRESET_RCV_RST_TW = 5,
};

struct reset_key {
  __u32 netns;
  enum tcpreset_kind kind; // 4 bytes, like the u32 that BpfProbe.counters() reads
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, struct reset_key);
  __type(value, __u64);
} resets SEC(".maps");

static __always_inline void emit(__u32 netns, enum tcpreset_kind kind, const struct sock *sk, const struct sk_buff *skb, __u32 reason) {
  struct reset_key key = {.netns = netns, .kind = kind};
  counter_add(&resets, &key, 1);
  struct event *e = netns_event_begin(bpf_ktime_get_ns(), netns, kind, sk);
  if (!e) return;
  e->reason = reason;
  if (sk) {
    e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
    tuple_from_sk(e, sk);
  } else if (skb && tuple_from_skb(e, skb)) {
    // The reset answers this segment: report it from the local side, like a socket tuple.
    __u8 a[16];
    __builtin_memcpy(a, e->saddr, 16);
    __builtin_memcpy(e->saddr, e->daddr, 16);
    __builtin_memcpy(e->daddr, a, 16);
    __u16 p = e->sport;
    e->sport = e->dport;
    e->dport = p;
  }
  event_submit(e);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_send_reset, const struct sock *sk, const struct sk_buff *skb, enum sk_rst_reason reason) {
  // tcp_v4/v6_send_reset passes the segment it answers (and sk NULL when no socket matched,
  // or a timewait/request socket); tcp_send_active_reset passes no segment at all.
  enum tcpreset_kind kind = !sk ? TCPRESET_SEND_RST_NOSOCK : !skb ? TCPRESET_SEND_RST_ACTIVE : TCPRESET_SEND_RST;
  __u32 netns = sk ? sk_netns(sk) : skb ? dev_netns(BPF_CORE_READ(skb, dev)) : 0;
  emit(netns, kind, sk, skb, reason);
  return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset, struct sock *sk) {
  __u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
  enum tcpreset_kind kind = (state == TCP_SYN_SENT || state == TCP_SYN_RECV || state == TCP_NEW_SYN_RECV) ? TCPRESET_RCV_RST_SYN
                          : state == TCP_ESTABLISHED ? TCPRESET_RCV_RST_ESTAB
                          : TCPRESET_RCV_RST_TW;
  emit(sk_netns(sk), kind, sk, 0, 0);
  return 0;
}
