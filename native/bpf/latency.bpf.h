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
// observation then counts sampling[0] times in its histogram (bucket and sum; more in time
// windows, see observation_weight), so the histograms and the counters over 100 ms read from
// them estimate the totals: a count c has a standard error of about sqrt(c * (N - 1)). Userspace
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

// Time-window sampling (event_config.latency_window_ms / latency_period_ms): while latency
// sampling is on, userspace (src/bpf/probe.ts) attaches the programs only during `length` ns
// of every `period` ns and detaches them otherwise, so most packets meet no program at all.
// `start` is when the current window's programs were attached (CLOCK_MONOTONIC, as
// bpf_ktime_get_ns), written before they attach: a start time older than it was recorded in an
// earlier window whose end was never seen (the programs were detached meanwhile), and must not
// pair with an end seen now (skb addresses and sockets are reused). All zero: always attached.
struct latency_window {
  __u64 start;
  __u64 length;
  __u64 period;
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct latency_window);
} lat_window SEC(".maps");

// Whether a start time (a bpf_ktime_get_ns() value) was recorded before the current window.
static __always_inline bool before_window(__u64 start) {
  __u32 zero = 0;
  struct latency_window *w = bpf_map_lookup_elem(&lat_window, &zero);
  return w && start < w->start;
}

// How many times an observation counts: the 1-in-N sampling, and in time windows the inverse of
// the chance that a measurement spanning `span` ns fell entirely inside one: (length - span) /
// period (a measurement taken at one point in time, span 0: length / period). Measurements
// spanning more than 3/4 of the window are rarer still; they count at most 4 times the
// weight of a short one. 0 (not counted) past the window's length: the kernel ends the window
// on time even when userspace detaches late (a busy event loop), so the weights stay exact.
static __always_inline __u64 observation_weight(__u64 span) {
  __u64 weight = sample_every();
  __u32 zero = 0;
  struct latency_window *w = bpf_map_lookup_elem(&lat_window, &zero);
  if (!w || !w->length || w->period <= w->length) return weight;
  if (bpf_ktime_get_ns() > w->start + w->length) return 0;
  __u64 floor = w->length / 4;
  __u64 open = w->length - floor > span ? w->length - span : floor;
  if (!open) return weight;
  return (weight * w->period + open / 2) / open;
}

// One map lookup per observation: the bucket and the sum live in the same value. The
// observation weighs as many as the sampling it stands for (observation_weight; `span`: how
// long the measurement needed the programs attached, ns for a start and an end, 0 for one point).
static __always_inline void hist_observe_span(void *map, __u32 id, __u32 base, __u64 ns, __u64 span) {
  __u64 weight = observation_weight(span);
  if (!weight) return;
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
  __sync_fetch_and_add(&h->slot[b], weight);
  __sync_fetch_and_add(&h->slot[HIST_SUM], ns * weight);
}

static __always_inline void hist_observe(void *map, __u32 id, __u32 base, __u64 ns) {
  hist_observe_span(map, id, base, ns, ns);
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
static __always_inline struct event *latency_event_span(void *hist, __u32 netns, __u32 kind, __u64 ns, __u64 span, __u64 now, const struct sock *sk) {
  hist_observe_span(hist, netns, kind << 8, ns, span);
  if (ns <= latency_threshold()) return NULL;
  struct event *e = netns_event_begin(now, netns, kind, sk);
  if (e) e->reason = us(ns);
  return e;
}

// A latency measured from a start and an end both seen by these programs.
static __always_inline struct event *latency_event(void *hist, __u32 netns, __u32 kind, __u64 ns, __u64 now, const struct sock *sk) {
  return latency_event_span(hist, netns, kind, ns, ns, now, sk);
}
