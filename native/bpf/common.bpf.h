// Shared by every kubesonar BPF object: the event record that goes through the ring buffer,
// the in-kernel rate limit of events, and the per-probe counters of what was not delivered.
// Userspace keeps no copy of the layouts and numbers here: src/bpf/contract.ts reads struct
// event, struct settings, enum setting_flag and enum stat_index from each object's BTF by name
// when it opens the object, and refuses the object if a member it needs is missing or resized.
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define MAX_STACK 32

// clang -g writes BTF only for the types that a global variable, a map or a program's signature
// uses. A type userspace reads by name but the code only casts to (struct event, through the
// ring buffer) or uses as plain numbers (the enums) is anchored by a pointer that nothing reads:
// 8 bytes of .bss per type. Check with `bpftool btf dump file <object>`.
#define BTF_EXPORT(type, name) type *btf_export_##name __attribute__((unused))

struct event {
  __u64 ts;          // bpf_ktime_get_ns (CLOCK_MONOTONIC)
  __u32 netns;       // inode of the network namespace
  __u16 kind;        // probe-specific event kind
  __u16 family;      // AF_INET, AF_INET6, or 0 when the packet had no IP header to read
  __u8 saddr[16];    // IPv4 in the first 4 bytes
  __u8 daddr[16];
  __u16 sport;       // host byte order
  __u16 dport;
  __u8 protocol;     // IPPROTO_*
  __u8 state;        // TCP state of the socket, 0 when there is none
  __u16 pad;
  __u32 reason;      // drop reason / reset reason
  __u32 stack_bytes; // bytes of `stack` filled (0: the probe sends no stack)
  __u64 stack[MAX_STACK];
};
// Records without a stack stop here.
#define EVENT_NOSTACK_SIZE __builtin_offsetof(struct event, stack)
BTF_EXPORT(struct event, event);

// Set by userspace: events per second the probe may emit (0: no events, counters only).
struct settings {
  __u32 events_per_sec;
  __u32 flags; // SETTING_*
};
enum setting_flag {
  // Events without the kernel stack: unwinding is most of an event's cost in the kernel.
  SETTING_NO_STACK = 1,
};
BTF_EXPORT(enum setting_flag, setting_flag);
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct settings);
} settings SEC(".maps");

// One-second windows shared by all CPUs; the reset race at a window edge can let a few
// extra events through, which is acceptable for a rate limit.
struct window {
  __u64 start;
  __u64 count;
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct window);
} ratelimit SEC(".maps");

// Index into `stats` (an array map: its key must stay a plain u32 for the kernel's BTF check,
// so the enum reaches the BTF through an anchor).
enum stat_index {
  STAT_LOST = 0,       // events lost because the ring buffer was full (reserve failed)
  STAT_SUPPRESSED = 1, // events suppressed by the rate limit
  STAT_MAPFULL = 2,    // counter updates that found the map full
  STAT_OWN = 3,        // events of the agent's own sockets, not emitted (own_sockets)
  STAT_UNATTRIBUTED = 4, // events with no network namespace to attribute them to, not emitted
  STAT_MAX = 5,
};
BTF_EXPORT(enum stat_index, stat_index);
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

static __always_inline void stat_inc(__u32 which) {
  __u64 *v = bpf_map_lookup_elem(&stats, &which);
  if (v) *v += 1; // per-CPU slot: no atomic needed
}

// The agent's own sockets by cookie (its pushes to backends, its API watches, the scrapes it
// serves): their events are never emitted, so the agent never reports itself. self.bpf.c fills
// it; userspace makes every object use that object's map (shareMap) before loading it, so an
// object loaded alone has an empty one. Cookies are never reused; the LRU forgets old sockets.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u64);
  __type(value, __u8);
} own_sockets SEC(".maps");

// Whether `sk` is one of the agent's sockets (counted in STAT_OWN). A socket's cookie is 0
// until someone asks for it, and self.bpf.c asks for every socket it records.
static __always_inline bool is_own(const struct sock *sk) {
  if (!sk) return false;
  __u64 cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
  if (!cookie || !bpf_map_lookup_elem(&own_sockets, &cookie)) return false;
  stat_inc(STAT_OWN);
  return true;
}

// True when an event may be emitted now (and its flags in *flags); counts the suppressed ones.
static __always_inline bool event_allowed(__u64 now, __u32 *flags) {
  __u32 zero = 0;
  struct settings *s = bpf_map_lookup_elem(&settings, &zero);
  if (!s || s->events_per_sec == 0) return false;
  *flags = s->flags;
  struct window *w = bpf_map_lookup_elem(&ratelimit, &zero);
  if (!w) return false;
  if (now - w->start >= 1000000000ULL) {
    w->start = now;
    w->count = 0;
  }
  if (__sync_fetch_and_add(&w->count, 1) >= s->events_per_sec) {
    stat_inc(STAT_SUPPRESSED);
    return false;
  }
  return true;
}

// Waking the reader for every record costs the producing CPU an irq_work and a scheduler
// wakeup per event, which at tens of thousands of events per second costs more than the
// program itself: wake it only once this much is waiting (it also drains on a timer).
#define WAKEUP_BYTES (128 * 1024)

static __always_inline void event_submit(struct event *e) {
  __u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
  bpf_ringbuf_submit(e, waiting >= WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline struct event *event_reserve(__u64 size) {
  struct event *e = bpf_ringbuf_reserve(&events, size, 0);
  if (!e) stat_inc(STAT_LOST);
  return e;
}

// A zeroed event without a stack, stamped and tagged, when the rate limit allows one now and it
// is about something else than the agent's own socket `sk` (NULL: no socket). `netns` 0 is a
// node-wide event (no namespace to name).
static __always_inline struct event *event_begin(__u64 now, __u32 netns, __u32 kind, const struct sock *sk) {
  __u32 flags;
  if (is_own(sk) || !event_allowed(now, &flags)) return NULL;
  struct event *e = event_reserve(EVENT_NOSTACK_SIZE);
  if (!e) return NULL;
  __builtin_memset(e, 0, EVENT_NOSTACK_SIZE);
  e->ts = now;
  e->netns = netns;
  e->kind = kind;
  return e;
}

// event_begin() for an event that happened in a network namespace: one whose namespace could not
// be found is not emitted (an event nobody can attribute helps nobody), only counted.
static __always_inline struct event *netns_event_begin(__u64 now, __u32 netns, __u32 kind, const struct sock *sk) {
  if (netns) return event_begin(now, netns, kind, sk);
  stat_inc(STAT_UNATTRIBUTED);
  return NULL;
}

// Adds `delta` to a u64 counter in a hash map, creating it on first use.
static __always_inline void counter_add(void *map, const void *key, __u64 delta) {
  __u64 *v = bpf_map_lookup_elem(map, key);
  if (v) {
    __sync_fetch_and_add(v, delta);
    return;
  }
  __u64 init = delta;
  // BPF_NOEXIST: another CPU may have created it meanwhile; then add to that one.
  if (bpf_map_update_elem(map, key, &init, BPF_NOEXIST) != 0) {
    v = bpf_map_lookup_elem(map, key);
    if (v) __sync_fetch_and_add(v, delta);
    else stat_inc(STAT_MAPFULL);
  }
}

static __always_inline __u32 dev_netns(const struct net_device *dev) {
  return dev ? BPF_CORE_READ(dev, nd_net.net, ns.inum) : 0;
}

static __always_inline __u32 sk_netns(const struct sock *sk) {
  return sk ? BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) : 0;
}

// The socket's addresses from the local point of view (saddr = local).
static __always_inline void tuple_from_sk(struct event *e, const struct sock *sk) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  e->family = family;
  e->protocol = IPPROTO_TCP;
  __u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
  // A full socket keeps its port in inet_sport even after close() released the bind
  // (skc_num is 0 then, e.g. an abortive close); timewait and request sockets have only skc_num.
  if (state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV)
    e->sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
  else
    e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (family == AF_INET) {
    // Explicit sizes: BPF_CORE_READ_INTO would copy sizeof(*dst), one byte of the array.
    bpf_core_read(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
    bpf_core_read(e->daddr, 4, &sk->__sk_common.skc_daddr);
  } else if (family == AF_INET6) {
    bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
    bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
  }
}

// The packet's IP/TCP/UDP header fields as they are on the wire (saddr = sender).
// Returns false when the skb has no readable IPv4/IPv6 header.
static __always_inline bool tuple_from_skb(struct event *e, const struct sk_buff *skb) {
  unsigned char *head = BPF_CORE_READ(skb, head);
  __u16 nh = BPF_CORE_READ(skb, network_header);
  __u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
  if (!head || nh == (__u16)~0U) return false;
  __u8 *ip = head + nh;
  __u32 l4_off;
  if (proto == ETH_P_IP) {
    struct iphdr iph;
    if (bpf_probe_read_kernel(&iph, sizeof(iph), ip) || iph.version != 4) return false;
    e->family = AF_INET;
    e->protocol = iph.protocol;
    __builtin_memcpy(e->saddr, &iph.saddr, 4);
    __builtin_memcpy(e->daddr, &iph.daddr, 4);
    l4_off = iph.ihl * 4;
  } else if (proto == ETH_P_IPV6) {
    struct ipv6hdr ip6;
    if (bpf_probe_read_kernel(&ip6, sizeof(ip6), ip) || ip6.version != 6) return false;
    e->family = AF_INET6;
    e->protocol = ip6.nexthdr; // extension headers are not walked: ports stay 0 then
    __builtin_memcpy(e->saddr, &ip6.saddr, 16);
    __builtin_memcpy(e->daddr, &ip6.daddr, 16);
    l4_off = sizeof(ip6);
  } else {
    return false;
  }
  if (e->protocol == IPPROTO_TCP || e->protocol == IPPROTO_UDP) {
    __be16 ports[2];
    if (bpf_probe_read_kernel(ports, sizeof(ports), ip + l4_off) == 0) {
      e->sport = bpf_ntohs(ports[0]);
      e->dport = bpf_ntohs(ports[1]);
    }
  }
  return true;
}
