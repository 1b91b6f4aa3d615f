// net_softirq: NET_RX and NET_TX softirqs (irq:softirq_raise, softirq_entry, softirq_exit),
// per CPU: the schedule delay (first raise since the last run → entry) and the execution time
// (entry → exit) as fixed-bucket histograms kept in the kernel, and a rate-limited event when
// either exceeds the threshold (default 100 ms, set from userspace in `threshold`).
//
// The histograms live in the BpfProbe counter map `hist` (see latency.bpf.h), keyed by CPU and
// vector << 16 | metric << 8.
#include "common.bpf.h"
#include "latency.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// Metric and event kind; userspace reads it from the BTF (BpfProbe.kernelKinds).
enum net_softirq_kind {
  NET_SOFTIRQ_SCHED = 0, // raise → entry
  NET_SOFTIRQ_EXEC = 1,  // entry → exit
};
BTF_EXPORT(enum net_softirq_kind, kind);

// Per CPU and vector (index vector - NET_TX_SOFTIRQ): when it was first raised since its last
// run, and when the running one entered. Raise, entry and exit of a softirq are on one CPU.
//
// Sampling (event_config.latency_sample) is decided per run, at the entry that ends the
// previous one: `armed` says whether the next run is measured (its schedule delay from its
// first raise, and its execution time). A run that is not measured costs its raise a read of
// `armed`, its entry a random number and its exit a read of `entered`: no atomic operation,
// no clock read. Whether a run is measured does not depend on how long it waits or runs.
struct pending {
  __u64 raised;
  __u64 entered;
  __u32 armed;
  __u32 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct pending);
} pending SEC(".maps");

HIST_MAP(hist);

static __always_inline struct pending *pending_of(unsigned int vec) {
  if (vec != NET_TX_SOFTIRQ && vec != NET_RX_SOFTIRQ) return 0;
  __u32 idx = vec - NET_TX_SOFTIRQ;
  return bpf_map_lookup_elem(&pending, &idx);
}

static __always_inline void observe(unsigned int vec, enum net_softirq_kind metric, __u64 ns, __u64 now) {
  __u32 cpu = bpf_get_smp_processor_id();
  hist_observe(&hist, cpu, (vec << 16) | (metric << 8), ns);
  if (ns <= latency_threshold()) return;
  struct event *e = event_begin(now, 0, metric, NULL); // node-wide: no namespace, no socket
  if (!e) return;
  e->sport = cpu;                              // no tuple: the CPU and vector instead
  e->state = vec;
  e->reason = us(ns);
  event_submit(e);
}

SEC("tp_btf/softirq_raise")
int BPF_PROG(softirq_raise, unsigned int vec) {
  struct pending *p = pending_of(vec);
  // Only the first raise since the last run counts; a raise from a hard irq may interrupt the
  // entry program on this CPU, hence the compare-and-swap here and the exchange there.
  if (p && p->armed && !p->raised) __sync_val_compare_and_swap(&p->raised, 0, bpf_ktime_get_ns());
  return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(softirq_entry, unsigned int vec) {
  struct pending *p = pending_of(vec);
  if (!p) return 0;
  bool timed = p->armed;
  __u64 raised = p->raised ? __sync_lock_test_and_set(&p->raised, 0) : 0;
  __u64 now = timed || raised ? bpf_ktime_get_ns() : 0;
  if (timed) p->entered = now;
  // The next run: measured or not (written only on a change).
  __u32 arm = sample_this();
  if (p->armed != arm) p->armed = arm;
  // A run with no raise seen (raised before the program attached, or while not armed) has no
  // delay to report.
  if (raised && now >= raised) observe(vec, NET_SOFTIRQ_SCHED, now - raised, now);
  return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(softirq_exit, unsigned int vec) {
  struct pending *p = pending_of(vec);
  if (!p || !p->entered) return 0;
  __u64 now = bpf_ktime_get_ns();
  __u64 entered = p->entered;
  p->entered = 0;
  if (now >= entered) observe(vec, NET_SOFTIRQ_EXEC, now - entered, now);
  return 0;
}
