// packetloss: every skb the kernel frees as dropped (skb:kfree_skb), counted per network
// namespace and drop reason in the kernel; a rate-limited sample goes to userspace as an
// event with the 5-tuple and the kernel stack. Packets freed normally go through
// consume_skb (skb:consume_skb) and are not seen here.
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct drop_key {
  __u32 netns;
  __u32 reason;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct drop_key);
  __type(value, __u64);
} drops SEC(".maps");

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason) {
  // The device the skb was on when dropped names the namespace best (a veth pair moves an
  // skb between namespaces); a packet not yet on a device (transmit side) has its socket.
  struct net_device *dev = BPF_CORE_READ(skb, dev);
  __u32 netns = dev_netns(dev);
  if (!netns) netns = sk_netns(BPF_CORE_READ(skb, sk));
  struct drop_key key = {.netns = netns, .reason = reason};
  counter_add(&drops, &key, 1);

  __u64 now = bpf_ktime_get_ns();
  __u32 flags;
  if (!event_allowed(now, &flags)) return 0;
  struct event *e = event_reserve(sizeof(struct event));
  if (!e) return 0;
  __builtin_memset(e, 0, EVENT_NOSTACK_SIZE);
  e->ts = now;
  e->netns = netns;
  e->reason = reason;
  tuple_from_skb(e, skb);
  // Copied into the event rather than kept in a stack map: a sampled event needs no map
  // lookup from userspace, and a stack id cannot be recycled before userspace reads it.
  long n = (flags & SETTING_NO_STACK) ? 0 : bpf_get_stack(ctx, e->stack, sizeof(e->stack), 0);
  e->stack_bytes = n > 0 ? n : 0;
  event_submit(e);
  return 0;
}
