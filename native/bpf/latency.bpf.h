// Shared by the latency probes: fixed-bucket histograms kept in a BpfProbe counter map, and the event threshold set by userspace.
#pragma once

// Bucket upper bounds in ns; observations above the last go to the +Inf bucket. Their values
// live in one place, LATENCY_BUCKETS_NS in src/model.ts (the metric catalogue needs them
// without any object): userspace writes them into hist_bounds before load (src/bpf/contract.ts),
// and refuses to load an object whose HIST_BOUNDS (the size of hist_bounds, and of struct hist)
// differs from their count. `const volatile`: frozen after load, the programs cannot change it.
#define HIST_BOUNDS 19
const volatile __u64 hist_bounds[HIST_BOUNDS] = {};
#define HIST_BUCKETS (HIST_BOUNDS + 1)
#define HIST_SUM HIST_BUCKETS // slot of the sum of observations, in ns

// One histogram per {id, base}: its buckets, then the sum. Read by BpfProbe.counters() as
// slots base | i (src/probes/latency.ts histogramOf), so base keeps its low 8 bits clear.
struct hist_key {
  __u32 id;   // netns inode, or CPU for a per-CPU probe
  __u32 base; // probe-specific: kind << 8 (a per-CPU probe may add e.g. vector << 16)
};
struct hist {
  __u64 slot[HIST_BUCKETS + 1];
};

// The histogram map of a latency probe: 8192 histograms (4096 namespaces with two kinds each).
#define HIST_MAP(name)                       \
  struct {                                   \
    __uint(type, BPF_MAP_TYPE_HASH);         \
    __uint(max_entries, 8192);               \
    __type(key, struct hist_key);            \
    __type(value, struct hist);              \
  } name SEC(".maps")

static __always_inline __u32 hist_bucket(__u64 ns) {
  // Most observations are short: count up from the first bound.
  for (__u32 i = 0; i < HIST_BOUNDS; i++)
    if (ns <= hist_bounds[i]) return i;
  return HIST_BOUNDS;
}

// In-kernel sampling: 1 measurement in sampling[0] is taken (0 and 1: every one, exact). The
// decision is made where a measurement begins, or, where a measurement's begin is only known by
// state kept between packets (a socket's wait, a softirq's run), at the end of the one before
// (the probe "arms" the next), so a packet nobody measures costs its programs a random number
// and no clock read, and, wherever that can be avoided, no write to shared state; each
// observation then counts sampling[0] times in its
// histogram (bucket and sum), so the histograms and the counters over 100 ms read from them
// estimate the totals: a count c has a standard error of about sqrt(c * (N - 1)). Userspace
// writes it (src/probes/latency.ts); an object nobody configured measures every packet.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} sampling SEC(".maps");

static __always_inline __u32 sample_every(void) {
  __u32 zero = 0;
  __u32 *n = bpf_map_lookup_elem(&sampling, &zero);
  return n && *n > 1 ? *n : 1;
}

// Whether the measurement beginning now is one of the sampled ones.
static __always_inline bool sample_this(void) {
  __u32 n = sample_every();
  return n == 1 || bpf_get_prandom_u32() % n == 0;
}

// The start of a measurement that was not sampled, where a start time would be kept: the
// measurement's end then only clears it (no clock reads 1 ns).
#define NOT_SAMPLED 1

// A start time, or NOT_SAMPLED.
static __always_inline __u64 sampled_start(void) {
  return sample_this() ? bpf_ktime_get_ns() : NOT_SAMPLED;
}

// One map lookup per observation: the bucket and the sum live in the same value. The
// observation weighs as many as the sampling it stands for.
static __always_inline void hist_observe(void *map, __u32 id, __u32 base, __u64 ns) {
  struct hist_key key = {.id = id, .base = base};
  struct hist *h = bpf_map_lookup_elem(map, &key);
  if (!h) {
    struct hist empty = {};
    // BPF_NOEXIST: another CPU may have created it meanwhile; then add to that one.
    bpf_map_update_elem(map, &key, &empty, BPF_NOEXIST);
    h = bpf_map_lookup_elem(map, &key);
    if (!h) {
      stat_inc(STAT_MAPFULL);
      return;
    }
  }
  __u32 b = hist_bucket(ns);
  if (b > HIST_BOUNDS) return; // for the verifier: b indexes the buckets
  __u32 weight = sample_every();
  __sync_fetch_and_add(&h->slot[b], weight);
  __sync_fetch_and_add(&h->slot[HIST_SUM], ns * weight);
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

// Records a latency in the namespace's histogram and, above the threshold, begins its event
// (latency in `reason`, µs) about socket `sk` (NULL: none); NULL when no event is due. The
// caller fills the rest and submits.
static __always_inline struct event *latency_event(void *hist, __u32 netns, __u32 kind, __u64 ns, __u64 now, const struct sock *sk) {
  hist_observe(hist, netns, kind << 8, ns);
  if (ns <= latency_threshold()) return NULL;
  struct event *e = netns_event_begin(now, netns, kind, sk);
  if (e) e->reason = us(ns);
  return e;
}
