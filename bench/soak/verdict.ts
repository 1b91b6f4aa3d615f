// The soak's judgement over its samples: after the warm-up nothing may grow (RSS by at most 10 %),
// and every event the agent emitted is either received or counted as dropped.

export interface Sample {
  /** Seconds since the agent started. */
  t: number;
  rssBytes: number;
  heapUsedBytes: number;
  fds: number;
  /** Network namespaces the agent references that are neither the host's nor a live pod's. */
  pinnedNetns: number;
  /** Events the agent published so far. */
  published: number;
  /** Events waiting per sink (queued and in flight). */
  queued: Record<string, number>;
  /** Events dropped per sink so far, all reasons. */
  dropped: Record<string, number>;
  lokiUp: boolean;
}

/** Samples a blip shorter than this many is forgiven (a socket mid-request, a pod mid-deletion). */
export const LEVEL_SAMPLES = 3;
/** RSS moves with every garbage collection: its level is the median of this many samples (a minute). */
export const RSS_SAMPLES = 6;

/**
 * The level of a count at the end of `samples`: the lowest of its last LEVEL_SAMPLES values, so
 * a transient peak does not count as growth and a leak (which only ever adds) still does.
 */
export function levelAt(samples: Sample[], figure: (s: Sample) => number): number {
  return Math.min(...samples.slice(-LEVEL_SAMPLES).map(figure));
}

/** The RSS at the end of `samples`: the median of the last RSS_SAMPLES. */
export function rssAt(samples: Sample[]): number {
  const last = samples.slice(-RSS_SAMPLES).map((s) => s.rssBytes).sort((a, b) => a - b);
  const mid = last.length >> 1;
  return last.length % 2 ? last[mid]! : (last[mid - 1]! + last[mid]!) / 2;
}

/** What grew after the warm-up beyond what is allowed: RSS more than 10 %, fds or pinned namespaces at all. */
export function growthFailures(samples: Sample[], warmupSeconds: number): string[] {
  const warm = samples.filter((s) => s.t <= warmupSeconds);
  if (warm.length === 0 || warm.length === samples.length) return [`too few samples to judge growth (${samples.length}, ${warm.length} in the warm-up)`];
  const failures: string[] = [];
  const at = (figure: (s: Sample) => number) => ({ warm: levelAt(warm, figure), last: levelAt(samples, figure) });
  const rss = { warm: rssAt(warm), last: rssAt(samples) };
  if (rss.last > rss.warm * 1.1) failures.push(`RSS grew ${pct(rss.last / rss.warm - 1)} after the warm-up (${mb(rss.warm)} → ${mb(rss.last)} MB, allowed 10 %)`);
  const fds = at((s) => s.fds);
  if (fds.last > fds.warm) failures.push(`open fds grew after the warm-up (${fds.warm} → ${fds.last})`);
  const ns = at((s) => s.pinnedNetns);
  if (ns.last > ns.warm) failures.push(`network namespaces pinned by the agent grew after the warm-up (${ns.warm} → ${ns.last})`);
  return failures;
}

export interface SinkAccount {
  sink: string;
  /** Events the agent published while this sink existed. */
  emitted: number;
  /** Distinct events the receiving end got. */
  received: number;
  /** Events the sink counted as dropped, by reason. */
  dropped: Record<string, number>;
  /** Events still queued when the books were closed (should be 0). */
  queued: number;
}

/** emitted − received − counted drops − still queued: > 0 is an event lost without being counted. */
export function uncounted(a: SinkAccount): number {
  return a.emitted - a.received - sum(a.dropped) - a.queued;
}

export const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
export const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
