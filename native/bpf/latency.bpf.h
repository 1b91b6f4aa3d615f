// Shared by the latency probes (net_softirq, socketlatency): fixed-bucket histograms kept in a
// BpfProbe counter map, and the event threshold set by userspace.
#pragma once

// Bucket upper bounds in ns, 1-2-5 from 1 µs to 1 s; observations above the last go to the
// +Inf bucket. Keep in step with LATENCY_BUCKETS_NS in src/probes/latency.ts.
#define HIST_BOUNDS 19
#define HIST_BUCKETS (HIST_BOUNDS + 1)
#define HIST_SUM HIST_BUCKETS // slot of the sum of observations, in ns

struct hist_key {
  __u32 id;   // CPU (net_softirq) or netns inode (socketlatency)
  __u32 slot; // probe-specific high bits | slot
};

static __always_inline __u32 hist_bucket(__u64 ns) {
  static const __u64 bounds[HIST_BOUNDS] = {
      1000ULL, 2000ULL, 5000ULL, 10000ULL, 20000ULL, 50000ULL, 100000ULL, 200000ULL, 500000ULL,
      1000000ULL, 2000000ULL, 5000000ULL, 10000000ULL, 20000000ULL, 50000000ULL,
      100000000ULL, 200000000ULL, 500000000ULL, 1000000000ULL,
  };
  // Most observations are short: count up from the first bound.
  for (__u32 i = 0; i < HIST_BOUNDS; i++)
    if (ns <= bounds[i]) return i;
  return HIST_BOUNDS;
}

static __always_inline void hist_observe(void *map, __u32 id, __u32 base, __u64 ns) {
  struct hist_key key = {.id = id, .slot = base | hist_bucket(ns)};
  counter_add(map, &key, 1);
  key.slot = base | HIST_SUM;
  counter_add(map, &key, ns);
}

// threshold[0]: ns above which an observation is also an event; 0 means the default, 100 ms.
#define DEFAULT_THRESHOLD_NS 100000000ULL
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} threshold SEC(".maps");

static __always_inline __u64 latency_threshold(void) {
  __u32 zero = 0;
  __u64 *t = bpf_map_lookup_elem(&threshold, &zero);
  return t && *t ? *t : DEFAULT_THRESHOLD_NS;
}

// Microseconds in an event's 32-bit field, saturated.
static __always_inline __u32 us(__u64 ns) {
  return ns / 1000 > 0xffffffffULL ? 0xffffffff : ns / 1000;
}

// The time since the start stored under `key` in `starts` (which forgets it); 0 when none is stored.
static __always_inline __u64 take_elapsed(void *starts, const void *key, __u64 now) {
  __u64 *since = bpf_map_lookup_elem(starts, key);
  if (!since) return 0;
  __u64 start = *since;
  bpf_map_delete_elem(starts, key);
  return now > start ? now - start : 0;
}

// Records a latency in the namespace's histogram and, above the threshold, begins its event
// (latency in `reason`, µs); NULL when no event is due. The caller fills the rest and submits.
static __always_inline struct event *latency_event(void *hist, __u32 netns, __u32 kind, __u64 ns, __u64 now) {
  hist_observe(hist, netns, kind << 8, ns);
  if (ns <= latency_threshold()) return NULL;
  struct event *e = event_begin(now, netns, kind);
  if (e) e->reason = us(ns);
  return e;
}
