// The soak's judgement over its samples: after the warm-up nothing may grow (RSS by at most 10 %),
// and every event the agent emitted is either received or counted as dropped.

export interface Sample {
  /** Seconds since the load started. */
  t: number;
  rssBytes: number;
  heapUsedBytes: number;
  fds: number;
  /** The fds by kind (what grew, when they grew). */
  fdKinds?: Record<string, number>;
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

/**
 * The samples compared: the last `windowSeconds` of the warm-up against the last `windowSeconds`
 * of the run. A window spans whole Loki cycles (or the same half of one), so both hold the same
 * phases: an outage's full queue, or the socket of a Loki that is up, are no growth.
 */
export function windows(samples: Sample[], warmupSeconds: number, windowSeconds: number): { warm: Sample[]; end: Sample[] } {
  const endT = samples.at(-1)?.t ?? 0;
  return {
    warm: samples.filter((s) => s.t <= warmupSeconds && s.t > warmupSeconds - windowSeconds),
    end: samples.filter((s) => s.t > endT - windowSeconds),
  };
}

/** A count's level over a window: its lowest value, so a transient peak (a socket mid-request, a pod mid-deletion) is no growth and a leak, which only ever adds, is. */
export const levelOf = (window: Sample[], figure: (s: Sample) => number): number => Math.min(...window.map(figure));

/** RSS over a window: its median, as RSS moves with every garbage collection. */
export function rssOf(window: Sample[]): number {
  const sorted = window.map((s) => s.rssBytes).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** What grew after the warm-up beyond what is allowed: RSS more than 10 %, fds or pinned namespaces at all. */
export function growthFailures(samples: Sample[], warmupSeconds: number, windowSeconds: number): string[] {
  const { warm, end } = windows(samples, warmupSeconds, windowSeconds);
  if (warm.length === 0 || end.length === 0 || end[0]!.t <= warmupSeconds) {
    return [`too few samples to judge growth (${samples.length}; ${warm.length} in the warm-up's last ${windowSeconds} s, the run must last ${windowSeconds} s more)`];
  }
  const failures: string[] = [];
  const [rssWarm, rssEnd] = [rssOf(warm), rssOf(end)];
  if (rssEnd > rssWarm * 1.1) failures.push(`RSS grew ${pct(rssEnd / rssWarm - 1)} after the warm-up (${mb(rssWarm)} → ${mb(rssEnd)} MB, allowed 10 %)`);
  const [fdsWarm, fdsEnd] = [levelOf(warm, (s) => s.fds), levelOf(end, (s) => s.fds)];
  if (fdsEnd > fdsWarm) failures.push(`open fds grew after the warm-up (${fdsWarm} → ${fdsEnd}${kindsGrown(warm, end)})`);
  const [nsWarm, nsEnd] = [levelOf(warm, (s) => s.pinnedNetns), levelOf(end, (s) => s.pinnedNetns)];
  if (nsEnd > nsWarm) failures.push(`network namespaces pinned by the agent grew after the warm-up (${nsWarm} → ${nsEnd})`);
  return failures;
}

/** `: +2 tcp →:3100 ESTABLISHED`: the kinds that grew between the windows' lowest samples. */
function kindsGrown(warm: Sample[], end: Sample[]): string {
  const lowest = (w: Sample[]) => w.reduce((a, b) => (b.fds < a.fds ? b : a));
  const [before, after] = [lowest(warm).fdKinds, lowest(end).fdKinds];
  if (!before || !after) return '';
  const grown = Object.entries(after).map(([k, n]) => [k, n - (before[k] ?? 0)] as const).filter(([, d]) => d > 0);
  return grown.length ? `: ${grown.map(([k, d]) => `+${d} ${k}`).join(', ')}` : '';
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
