// kernellatency: how long packets take through the protocol stack, per network namespace of
// the socket, between points that tracepoints reach (ACK's probe used kprobes on ip_rcv ...
// ip_finish_output; this kernel has none).
//  - receive: net:netif_receive_skb (the stack takes the packet from the device, in the
//    namespace of that device) → the transport layer taking it: tcp:tcp_probe (a segment
//    entering tcp_rcv_established) or, for UDP, the sock:sk_data_ready that announces the
//    datagram. Covers netfilter (an NFQUEUE verdict included), routing, and the socket
//    backlog while the application holds the socket lock; not the softirq backlog before
//    netif_receive_skb (the softirq probe's) nor the wait in the socket (the socket probe's).
//  - transmit, TCP only: the departure timestamp TCP writes on each segment it transmits
//    (skb->tstamp, CLOCK_MONOTONIC: TCP's clock as of the start of its transmit pass, so the
//    later segments of a burst include the stack time of the earlier ones) → net:net_dev_queue
//    of the first device. Covers routing, netfilter and neighbour resolution (a segment
//    queued while ARP/ND resolves the next hop), not the qdisc (the device probe's). Not
//    measured: other protocols (no timestamp), segments paced into the future (fq), and pure
//    ACKs, which TCP may send with a clock cached long before (a window update after a read).
// Both are fixed-bucket histograms kept in the kernel (latency.bpf.h), with rate-limited
// events over the threshold (default 100 ms, set from userspace in `threshold`), sampled where
// a measurement begins (event_config.latency_sample: netif_receive_skb, and net_dev_queue for
// transmit).
#include "common.bpf.h"
#include "latency.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// Metric and event kind; userspace reads it from the BTF (BpfProbe.kernelKinds).
enum kernellatency_kind {
  KERNELLATENCY_RX = 0,
  KERNELLATENCY_TX = 1,
};
BTF_EXPORT(enum kernellatency_kind, kind);
#define SKB_CLOCK_MONOTONIC 1

// When the stack last took an skb from a device, in a direct-mapped table indexed by the skb's
// address (an array: its lookup is a few instructions, where a hash map costs a helper call on
// every packet). Each pass of netif_receive_skb overwrites the slot (a packet a veth forwards
// into a pod is measured from its arrival in the pod's namespace; one redirected straight into
// the pod by BPF, bpf_redirect_peer or netkit, from its arrival on the node); a pass that is not
// sampled clears it, so an unsampled packet never ends a measurement it did not begin. Slots of
// packets that never reach an end point (forwarded on, or to sockets not in ESTABLISHED) stay
// until overwritten. Two packets in flight at once whose addresses share a slot: the later
// one wins and the earlier is not measured (thousands of slots for the few packets in flight
// between a device and a socket). The slot is found by the data buffer (skb->head) and both the
// skb and its buffer must match: a few skbs reach a socket without netif_receive_skb (UDP
// multicast clones, segments of a UDP GSO packet) and at recycled addresses would meet a
// leftover; a packet whose buffer was reallocated on the way is not measured.
struct arrival {
  __u64 skb;
  __u64 head;
  __u64 ts;
};
#define ARRIVAL_SLOTS 16384
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, ARRIVAL_SLOTS);
  __type(key, __u32);
  __type(value, struct arrival);
} arrived SEC(".maps");

// The slot of an skb, by the address of its data buffer: the verifier allows no arithmetic on
// a kernel pointer, while a probe read of skb->head gives a plain number. Buffers are at least
// 64-byte aligned.
static __always_inline struct arrival *arrival_slot(const struct sk_buff *skb) {
  __u64 h = (__u64)BPF_CORE_READ(skb, head);
  __u32 idx = ((h >> 6) ^ (h >> 20)) & (ARRIVAL_SLOTS - 1);
  return bpf_map_lookup_elem(&arrived, &idx);
}

HIST_MAP(hist);

// The last segment measured on this CPU: a host socket's segment through a tunnel device is
// queued again (same skb, same timestamp) to the underlying device, and counts once.
struct measured {
  __u64 skb;
  __s64 tstamp;
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct measured);
} last_tx SEC(".maps");

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(netif_receive_skb, struct sk_buff *skb) {
  struct arrival *a = arrival_slot(skb);
  if (!a) return 0;
  if (!sample_this()) {
    if (a->skb == (__u64)skb) a->ts = 0; // not this packet's to end
    return 0;
  }
  a->skb = (__u64)skb;
  a->head = (__u64)BPF_CORE_READ(skb, head);
  a->ts = bpf_ktime_get_ns();
  return 0;
}

static __always_inline void received(const struct sock *sk, const struct sk_buff *skb) {
  struct arrival *a = arrival_slot(skb);
  if (!a || !a->ts || a->skb != (__u64)skb) return;
  __u64 since = a->ts;
  a->ts = 0; // taken
  if (a->head != (__u64)BPF_CORE_READ(skb, head)) return;
  __u64 now = bpf_ktime_get_ns();
  if (now < since || before_window(since)) return; // begun in an earlier time window
  struct event *e = latency_event(&hist, sk_netns(sk), KERNELLATENCY_RX, now - since, now, sk);
  if (!e) return;
  e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
  tuple_from_skb(e, skb);
  event_submit(e);
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_probe, struct sock *sk, const struct sk_buff *skb) {
  if (sk && skb) received(sk, skb);
  return 0;
}

// UDP queues a datagram at the tail of sk_receive_queue and then calls sk_data_ready. Unmeasured:
// the other datagrams of a batch (several CPUs enqueueing at once get one sk_data_ready), and a
// datagram a reader on another CPU dequeued in between. (Some 6.12 kernels called sk_data_ready
// only when the queue was empty before: there only the first datagram of a burst is measured.)
SEC("tp_btf/sk_data_ready")
int BPF_PROG(sk_data_ready, const struct sock *sk) {
  // Direct reads (BTF pointers) rather than probe reads: this runs for every packet.
  if (!sk || sk->sk_protocol != IPPROTO_UDP) return 0;
  __u16 family = sk->__sk_common.skc_family;
  if (family != AF_INET && family != AF_INET6) return 0;
  const struct sk_buff *tail = sk->sk_receive_queue.prev;
  // An empty queue (the reader was faster) points back at its own head: no entry matches it.
  if (tail && (void *)tail != (void *)&sk->sk_receive_queue) received(sk, tail);
  return 0;
}

static __always_inline bool monotonic_tstamp(const struct sk_buff *skb) {
  if (!bpf_core_field_exists(skb->tstamp_type)) return true; // before 6.11 TCP's stamp had no type
  return BPF_CORE_READ_BITFIELD_PROBED(skb, tstamp_type) == SKB_CLOCK_MONOTONIC;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(net_dev_queue, struct sk_buff *skb) {
  if (!skb) return 0;
  // Direct reads (BTF pointers) rather than probe reads: this runs for every packet sent.
  struct sock *sk = skb->sk;
  if (!sk) return 0; // forwarded (a pod's packet in the host namespace) or kernel-made
  // Request and timewait sockets have no sk_protocol to read; only full TCP sockets count.
  __u8 state = sk->__sk_common.skc_state;
  if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV) return 0;
  if (sk->sk_protocol != IPPROTO_TCP) return 0;
  // TCP marks its pure ACKs with a truesize of 2 (skb_set_tcp_pure_ack).
  if (skb->truesize == 2) return 0;
  __s64 tstamp = skb->tstamp;
  if (tstamp <= 0 || !monotonic_tstamp(skb)) return 0;
  __u32 zero = 0;
  struct measured *last = bpf_map_lookup_elem(&last_tx, &zero);
  if (!last) return 0;
  if (last->skb == (__u64)skb && last->tstamp == tstamp) return 0;
  last->skb = (__u64)skb;
  last->tstamp = tstamp;
  if (!sample_this()) return 0;
  __u64 now = bpf_ktime_get_ns();
  if (now < (__u64)tstamp) return 0; // paced: due to leave later
  // TCP's own start time: only this end needs the program attached (a span of 0 for the
  // time-window weight, latency.bpf.h).
  struct event *e = latency_event_span(&hist, sk_netns(sk), KERNELLATENCY_TX, now - tstamp, 0, now, sk);
  if (!e) return 0;
  e->state = state;
  tuple_from_skb(e, skb);
  event_submit(e);
  return 0;
}
