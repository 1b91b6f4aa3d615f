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

// Whether a drop reason is an event (1) or only counted (0), by reason: userspace writes the
// policy (each reason's class in the catalogue, and the config). Reasons of other subsystems
// (a subsystem in the high 16 bits) share the last slot.
#define REASON_SLOTS 256
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, REASON_SLOTS);
  __type(key, __u32);
  __type(value, __u8);
} event_reasons SEC(".maps");

#define PF_KTHREAD 0x00200000

// The namespace of the task the drop happens in, for skbs that are on no device and own no
// socket (loopback and socket-layer paths): there the stack runs in the sending or receiving
// process. Not a kernel thread's (ksoftirqd runs for every namespace): 0 then.
static __always_inline __u32 task_netns(void) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  if (BPF_CORE_READ(t, flags) & PF_KTHREAD) return 0;
  return BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason) {
  // The device the skb was on when dropped names the namespace best (a veth pair moves an
  // skb between namespaces); a packet not yet on a device (transmit side) has its socket.
  // Direct reads (BTF pointers) rather than probe reads: a drop flood runs this for every packet.
  struct net_device *dev = skb->dev;
  const struct sock *sk = skb->sk;
  __u32 netns = dev ? dev->nd_net.net->ns.inum : 0;
  if (!netns && sk) netns = sk->__sk_common.skc_net.net->ns.inum;
  if (!netns) netns = task_netns();
  struct drop_key key = {.netns = netns, .reason = reason};
  counter_add(&drops, &key, 1);

  // Events: the reasons asked for, IP packets only (vsock, ARP, ... have no tuple and nothing to act on).
  __u32 slot = reason < REASON_SLOTS - 1 ? reason : REASON_SLOTS - 1;
  __u8 *wanted = bpf_map_lookup_elem(&event_reasons, &slot);
  if (!wanted || !*wanted) return 0;
  __u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
  if (proto != ETH_P_IP && proto != ETH_P_IPV6) return 0;
  if (!netns) {
    stat_inc(STAT_UNATTRIBUTED);
    return 0;
  }
  if (is_own(sk)) return 0;
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
