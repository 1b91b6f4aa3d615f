// Shared by the latency probes (net_softirq, socketlatency): the fixed buckets of their
// in-kernel histograms (native/bpf/latency.bpf.h) and their decoding from a counter map.
import type { HistogramValue } from '../model.js';

/** Bucket upper bounds in ns, 1-2-5 from 1 µs to 1 s, as in latency.bpf.h (plus a +Inf bucket). */
export const LATENCY_BUCKETS_NS = [
  1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8, 2e8, 5e8, 1e9,
] as const;
/** The same bounds in seconds, for the catalogue (written out, so the `le` labels stay exact). */
export const LATENCY_BUCKETS_S = [
  0.000001, 0.000002, 0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005,
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1,
] as const;
const BUCKETS = LATENCY_BUCKETS_NS.length + 1;
/** Slot of the sum in ns (after the buckets). */
const SUM_SLOT = BUCKETS;
/** First bucket whose observations are all over 100 ms (its lower bound is 0.1 s). */
const OVER_100MS = LATENCY_BUCKETS_NS.indexOf(1e8) + 1;

/** The default event threshold of both probes (the kernel's default too). */
export const DEFAULT_THRESHOLD_MS = 100;

/**
 * The histogram with high bits `base` out of one id's slots (slot → count, from
 * BpfProbe.counters()), in seconds; undefined when nothing was observed.
 */
export function histogramOf(slots: ReadonlyMap<number, number> | undefined, base: number): HistogramValue | undefined {
  const counts = new Array<number>(BUCKETS).fill(0);
  let count = 0;
  for (let i = 0; i < BUCKETS; i++) {
    counts[i] = slots?.get(base | i) ?? 0;
    count += counts[i]!;
  }
  if (count === 0) return undefined;
  return { counts, count, sum: (slots?.get(base | SUM_SLOT) ?? 0) / 1e9 };
}

export const emptyHistogram = (): HistogramValue => ({ counts: new Array<number>(BUCKETS).fill(0), count: 0, sum: 0 });

/** Observations over 100 ms (the seeds' `...100ms` counters), from the bucket counts. */
export function over100ms(h: HistogramValue | undefined): number {
  return h ? h.counts.slice(OVER_100MS).reduce((a, b) => a + b, 0) : 0;
}
