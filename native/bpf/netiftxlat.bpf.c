// netiftxlat: transmit latency below the stack, per network namespace of the device.
//  - qdisc wait: net:net_dev_queue (the packet enters __dev_queue_xmit, before its qdisc)
//    → net:net_dev_start_xmit (the driver is handed it); about 0 on noqueue devices.
//  - driver xmit: net:net_dev_start_xmit → net:net_dev_xmit (ndo_start_xmit returned).
// Both are fixed-bucket histograms kept in the kernel (see latency.bpf.h), and rate-limited
// events when they exceed the threshold (default 100 ms, set from userspace in `threshold`).
//
// Packets are matched by skb address in bounded LRU maps. A packet dropped by its qdisc leaves
// its entry behind until the LRU evicts it or the address is queued again (which overwrites
// it); an skb that reaches the driver without net_dev_queue (a GSO segment, a direct xmit)
// at a recycled address could match such a leftover, so a match also needs the same skb->len.
#include "common.bpf.h"
#include "latency.bpf.h"

char LICENSE[] SEC("license") = "GPL";

enum { QDISC = 0, XMIT = 1 }; // metric and event kind (src/probes/netiftxlat.ts)

struct pending {
  __u64 ts;
  __u32 len;
  __u32 pad;
};

// skb address → when it entered __dev_queue_xmit.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct pending);
} queued SEC(".maps");

// skb address → when the driver was handed it.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, __u64);
} xmitting SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536); // 42 keys per namespace
  __type(key, struct hist_key);
  __type(value, __u64);
} hist SEC(".maps");


SEC("tp_btf/net_dev_queue")
int BPF_PROG(net_dev_queue, struct sk_buff *skb) {
  if (!skb) return 0;
  __u64 key = (__u64)skb;
  struct pending p = {.ts = bpf_ktime_get_ns(), .len = BPF_CORE_READ(skb, len)};
  bpf_map_update_elem(&queued, &key, &p, BPF_ANY); // a recycled address starts afresh
  return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(net_dev_start_xmit, const struct sk_buff *skb, const struct net_device *dev) {
  if (!skb) return 0;
  __u64 key = (__u64)skb;
  __u64 now = bpf_ktime_get_ns();
  struct pending *p = bpf_map_lookup_elem(&queued, &key);
  if (p) {
    __u64 since = p->ts;
    __u32 len = p->len;
    bpf_map_delete_elem(&queued, &key);
    if (len == BPF_CORE_READ(skb, len) && now >= since) {
      struct event *e = latency_event(&hist, dev_netns(dev), QDISC, now - since, now);
      if (e) {
        tuple_from_skb(e, skb);
        event_submit(e);
      }
    }
  }
  bpf_map_update_elem(&xmitting, &key, &now, BPF_ANY);
  return 0;
}

// The skb may already be freed here (the tracepoint passes it only as a value): it is not read.
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(net_dev_xmit, struct sk_buff *skb, int rc, struct net_device *dev, unsigned int skb_len) {
  __u64 key = (__u64)skb;
  __u64 now = bpf_ktime_get_ns();
  __u64 ns = take_elapsed(&xmitting, &key, now);
  if (!ns) return 0;
  struct event *e = latency_event(&hist, dev_netns(dev), XMIT, ns, now);
  if (e) event_submit(e);
  return 0;
}
