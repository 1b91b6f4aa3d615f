// netiftxlat: transmit latency below the stack, per network namespace of the device.
//  - qdisc wait: net:net_dev_queue (the packet enters __dev_queue_xmit, before its qdisc)
//    → net:net_dev_start_xmit (the driver is handed it). Only packets of a transmit queue
//    with a qdisc: noqueue devices (veth pairs and loopback, as a rule) have nothing to wait
//    in, and skipping them keeps their packets off the shared map.
//  - driver xmit: net:net_dev_start_xmit → net:net_dev_xmit (ndo_start_xmit returned).
// Both are fixed-bucket histograms kept in the kernel (see latency.bpf.h), and rate-limited
// events when they exceed the threshold (default 100 ms, set from userspace in `threshold`).
//
// A queued packet may leave from another CPU later, so queued packets are matched by skb
// address and data buffer in a direct-mapped table (`queued`). A packet dropped by its qdisc
// leaves its slot behind until another packet takes it or its address is queued again (which
// clears or overwrites it); an skb that reaches the driver without net_dev_queue (a GSO
// segment, a direct xmit) at a recycled address could match such a leftover, so a match also
// needs the same skb->len.
// The driver call is synchronous: start and end are on one CPU, nested only when a driver
// transmits through another device (a tunnel), so a small per-CPU stack pairs them.
// Both are sampled where they begin (event_config.latency_sample, latency.bpf.h).
#include "common.bpf.h"
#include "latency.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// Metric and event kind; userspace reads it from the BTF (BpfProbe.kernelKinds).
enum netiftxlat_kind {
  NETIFTXLAT_QDISC = 0,
  NETIFTXLAT_XMIT = 1,
};
BTF_EXPORT(enum netiftxlat_kind, kind);

// When an skb entered __dev_queue_xmit, in a direct-mapped table indexed by its address (an
// array: its lookup is a few instructions where a hash map costs a helper call per packet).
// A sampled packet with a qdisc takes the slot; any other packet at the same address clears
// it, so it never ends a measurement it did not begin. Two sampled packets waiting at once
// whose addresses share a slot: the later one wins, the earlier is not measured.
struct pending {
  __u64 skb;
  __u64 ts;
  __u32 len;
  __u32 pad;
};
#define QUEUED_SLOTS 16384
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, QUEUED_SLOTS);
  __type(key, __u32);
  __type(value, struct pending);
} queued SEC(".maps");

// The slot of an skb, by the address of its data buffer (the verifier allows no arithmetic on
// a kernel pointer, a probe read of skb->head gives a plain number; buffers are 64-byte aligned). A
// packet whose buffer is reallocated between queue and driver is not measured.
static __always_inline struct pending *queued_slot(const struct sk_buff *skb) {
  __u64 h = (__u64)BPF_CORE_READ(skb, head);
  __u32 idx = ((h >> 6) ^ (h >> 20)) & (QUEUED_SLOTS - 1);
  return bpf_map_lookup_elem(&queued, &idx);
}

// Per CPU: the driver calls in progress (innermost last), with when each began.
#define XMIT_DEPTH 4
// A driver call runs with bottom halves off and lasts microseconds: a call pushed longer ago
// than this is a leftover whose end was not seen.
#define XMIT_STALE_NS 1000000000ULL
struct xmit_stack {
  __u32 depth;
  __u32 pad;
  struct {
    __u64 skb;
    __u64 ts;
  } call[XMIT_DEPTH];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct xmit_stack);
} xmitting SEC(".maps");

HIST_MAP(hist);


// True when the packet's transmit queue has a qdisc to wait in (what __dev_queue_xmit checks
// right after this tracepoint); noqueue has no enqueue. Direct reads (BTF pointers): this runs
// for every packet sent, and on a noqueue device (veth, loopback) it is all that runs.
static __always_inline bool has_qdisc(const struct sk_buff *skb) {
  struct net_device *dev = skb->dev;
  if (!dev) return false;
  struct netdev_queue *txq = dev->_tx;
  if (!txq) return false;
  __u16 queue = skb->queue_mapping;
  if (!queue) {
    struct Qdisc *q = txq->qdisc;
    return q && q->enqueue;
  }
  // The array stride is the running kernel's struct size, not this build's: a queue other than
  // the first is found by probe reads (the verifier allows no arithmetic on a BTF pointer).
  struct netdev_queue *mine = (void *)BPF_CORE_READ(dev, _tx) + queue * bpf_core_type_size(struct netdev_queue);
  struct Qdisc *q = BPF_CORE_READ(mine, qdisc);
  return q && BPF_CORE_READ(q, enqueue);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(net_dev_queue, struct sk_buff *skb) {
  // Without a qdisc nothing waits, and the packet never touches the table (nor does its
  // net_dev_start_xmit, which asks the same).
  if (!skb || !has_qdisc(skb)) return 0;
  struct pending *p = queued_slot(skb);
  if (!p) return 0;
  if (!sample_this()) {
    if (p->skb == (__u64)skb) p->ts = 0; // a leftover at this address is not this packet's
    return 0;
  }
  p->skb = (__u64)skb;
  p->len = skb->len;
  p->ts = bpf_ktime_get_ns();
  return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(net_dev_start_xmit, const struct sk_buff *skb, const struct net_device *dev) {
  if (!skb) return 0;
  __u64 key = (__u64)skb;
  __u64 now = 0;
  struct pending *p = has_qdisc(skb) ? queued_slot(skb) : 0;
  if (p && p->ts && p->skb == key) {
    __u64 since = p->ts;
    __u32 len = p->len;
    p->ts = 0; // taken
    now = bpf_ktime_get_ns();
    if (len == skb->len && now >= since) {
      struct event *e = latency_event(&hist, dev_netns(dev), NETIFTXLAT_QDISC, now - since, now, skb->sk);
      if (e) {
        tuple_from_skb(e, skb);
        event_submit(e);
      }
    }
  }
  // Only sampled calls are pushed: a driver call ends at the net_dev_xmit of the same skb on
  // this CPU, after any call nested in it has ended, so the innermost pushed call is the one an
  // skb's net_dev_xmit can end; an unsampled call's net_dev_xmit finds another skb on top and
  // leaves it.
  if (!sample_this()) return 0;
  __u32 zero = 0;
  struct xmit_stack *st = bpf_map_lookup_elem(&xmitting, &zero);
  if (!st) return 0;
  if (!now) now = bpf_ktime_get_ns();
  __u32 d = st->depth;
  // A call on top that began long ago never ended here (its net_dev_xmit ran before that
  // program was attached): start again empty.
  if (d > 0 && d <= XMIT_DEPTH && now - st->call[d - 1].ts > XMIT_STALE_NS) d = 0;
  if (d >= XMIT_DEPTH) return 0; // deeper than any real nesting: left unmeasured
  st->call[d].skb = key;
  st->call[d].ts = now;
  st->depth = d + 1;
  return 0;
}

// The skb may already be freed here (the tracepoint passes it only as a value): it is not read.
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(net_dev_xmit, struct sk_buff *skb, int rc, struct net_device *dev, unsigned int skb_len) {
  __u32 zero = 0;
  struct xmit_stack *st = bpf_map_lookup_elem(&xmitting, &zero);
  if (!st) return 0;
  __u32 d = st->depth;
  if (d == 0 || d > XMIT_DEPTH) return 0;
  d -= 1;
  if (st->call[d].skb != (__u64)skb) return 0; // an unsampled call (nested in a sampled one, or not)
  st->depth = d;
  __u64 since = st->call[d].ts;
  __u64 now = bpf_ktime_get_ns();
  if (now < since || now - since > XMIT_STALE_NS) return 0; // a leftover at a recycled address

  struct event *e = latency_event(&hist, dev_netns(dev), NETIFTXLAT_XMIT, now - since, now, NULL);
  if (e) event_submit(e);
  return 0;
}
