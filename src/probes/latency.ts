// What the latency probes share: the fixed buckets of their in-kernel histograms
// (native/bpf/latency.bpf.h), their decoding from a counter map, the event threshold they all
// read from the config, and the collection of the per-namespace ones.
import type { BpfProbe } from '../bpf/probe.js';
import { LATENCY_BUCKETS_NS, LATENCY_BUCKETS_S, type Entity, type HistogramValue, type MetricDef, type ProbeContext, type Sample } from '../model.js';
import { int } from '../util/schema.js';
import { countersIn, lostEvents } from './counters.js';
import type { ProbeEventOptions, ProbeOption } from './probe.js';

const BUCKETS = LATENCY_BUCKETS_NS.length + 1;
/** Slot of the sum in ns (after the buckets). */
const SUM_SLOT = BUCKETS;
/** First bucket whose observations are all over 100 ms (its lower bound is 0.1 s). */
const OVER_100MS = LATENCY_BUCKETS_NS.indexOf(1e8) + 1;

/** The catalogue's note on every series the latency sampling scales (histograms and their counters over 100 ms). */
export const SAMPLED = 'sampled: measured during `event_config.latency_window_ms` of every `latency_period_ms` (the programs are detached otherwise), 1 measurement in `latency_sample` within, each counting the inverse of that fraction (an estimate; exact, always attached, at `latency_sample` 1).';

/** A latency histogram in seconds with the buckets of the in-kernel histograms. */
export const histogram = (name: string, source: string, help: string, extra: Partial<Pick<MetricDef, 'ack' | 'labels' | 'scope' | 'sampled'>> = {}): Omit<MetricDef, 'probe'> =>
  ({ name, type: 'histogram', unit: 's', help, source, buckets: LATENCY_BUCKETS_S, sampled: SAMPLED, ...extra });

/**
 * event_config.latency_sample: the in-kernel sampling of the latency probes. Measuring every
 * packet costs each packet a clock read and a map write at every hook; 1 in N costs the others
 * a random number. Counting probes (drops, resets, retransmits, TIME_WAIT) are never sampled.
 */
export const LATENCY_SAMPLE: ProbeOption = {
  section: 'event_config',
  key: 'latency_sample',
  schema: int(1, 65536, 16,
    'Latency histograms and their counters measure 1 packet (or socket wait, or softirq run) in this many at random, each counted this many times; 1 measures every one (exact). Slow-latency events come from the sampled measurements only'),
};

/**
 * event_config.latency_window_ms and latency_period_ms: time-window sampling. While
 * latency_sample is over 1, the latency probes' programs are attached only during the first
 * window_ms of every period_ms and detached otherwise: a detached program costs a packet
 * nothing, where even an empty attached one costs each of its runs 30-35 ns of dispatch (README
 * "eBPF bench"). Measurements count period/window times more (latency.bpf.h). A window of at
 * least its period keeps them attached. Exact mode (latency_sample 1) is always attached.
 */
export const LATENCY_WINDOW: ProbeOption = {
  section: 'event_config',
  key: 'latency_window_ms',
  schema: int(100, 600000, 250,
    'While latency_sample is over 1: the latency probes\' programs are attached only this many milliseconds of every latency_period_ms (detached otherwise, so most packets run none), and each measurement counts period/window times more; at least the period: always attached'),
};
export const LATENCY_PERIOD: ProbeOption = {
  section: 'event_config',
  key: 'latency_period_ms',
  schema: int(100, 600000, 2000, 'The period of latency_window_ms: one window begins every this many milliseconds'),
};

/** Why the latency probes are opt-in (ProbeSpec.optIn). */
export const PER_PACKET = 'its programs run for every packet (or softirq run); README "Benchmark" gives their cost per packet';

/** A numeric option's value in `values` (event_config), or its default. */
const numberOf = (option: ProbeOption, values: Readonly<Record<string, unknown>>): number => Number(values[option.key] ?? option.schema.default);

/** The probe's `tune`: writes event_config.latency_sample and its time windows into its object (now if loaded, and at every load). */
export const tuneSampling = (kernel: BpfProbe) => (values: Readonly<Record<string, unknown>>): void =>
  kernel.setSampling(numberOf(LATENCY_SAMPLE, values), { ms: numberOf(LATENCY_WINDOW, values), periodMs: numberOf(LATENCY_PERIOD, values) });

/** event_config.latency_threshold_ms: ACK's 100 ms; the kernel's default too. */
export const LATENCY_THRESHOLD: ProbeOption = {
  section: 'event_config',
  key: 'latency_threshold_ms',
  schema: int(1, 60000, 100, 'Emit an event for latencies above this many milliseconds (the histograms see every one)'),
};

/**
 * Writes the event threshold into the loaded object's `threshold` map (latency.bpf.h) before
 * events start; an object that cannot take it is an error rather than a silent default.
 */
export function writeThreshold(kernel: BpfProbe, options: ProbeEventOptions): string | undefined {
  const ms = numberOf(LATENCY_THRESHOLD, options.values);
  if (!Number.isFinite(ms) || ms < 0) return `${kernel.name}: invalid event threshold ${ms} ms`;
  const value = Buffer.alloc(8);
  // 0 would mean "the default" in the kernel: a threshold of 0 ms is 1 ns (every observation).
  value.writeBigUInt64LE(BigInt(Math.max(1, Math.round(ms * 1e6))));
  return kernel.updateMap('threshold', Buffer.alloc(4), value);
}

/**
 * The histogram with high bits `base` out of one id's slots (slot → count, from
 * BpfProbe.counters()), in seconds; undefined when nothing was observed.
 */
export function histogramOf(slots: ReadonlyMap<number, number> | undefined, base: number): HistogramValue | undefined {
  if (!slots) return undefined; // the common case on a quiet namespace
  const counts = new Array<number>(BUCKETS).fill(0);
  let count = 0;
  for (let i = 0; i < BUCKETS; i++) {
    counts[i] = slots?.get(base | i) ?? 0;
    count += counts[i]!;
  }
  if (count === 0) return undefined;
  return { counts, count, sum: (slots?.get(base | SUM_SLOT) ?? 0) / 1e9 };
}

/**
 * The histogram of a namespace where nothing was observed: one frozen object shared by every
 * such series of every cycle (most namespaces, most of the time), never re-allocated.
 */
const EMPTY: HistogramValue = Object.freeze({ counts: Object.freeze(new Array<number>(BUCKETS).fill(0)) as number[], count: 0, sum: 0 });
export const emptyHistogram = (): HistogramValue => EMPTY;

/** Observations over 100 ms (the seeds' `...100ms` counters), from the bucket counts. */
export function over100ms(h: HistogramValue | undefined): number {
  return h ? h.counts.slice(OVER_100MS).reduce((a, b) => a + b, 0) : 0;
}

/** One latency a per-namespace probe measures: its kernel kind, its two metrics, its programs. */
export interface MeasuredLatency {
  /** Its member of the probe's kind enum, without the prefix (the histogram map's keys are kind << 8). */
  kind: string;
  histogram: string;
  /** The seeds' count of observations over 100 ms. */
  over100ms: string;
  /** Exported only while these programs (one of each inner list) are attached. */
  programs: readonly (readonly string[])[];
}

/**
 * Collection of a probe over `kernel`'s per-namespace histograms: per latency whose programs
 * are attached, its histogram and its count over 100 ms in the entity's namespace, and on the
 * host the events lost.
 */
export function namespaceLatencies(kernel: BpfProbe, kindEnum: readonly [name: string, prefix: string], latencies: readonly MeasuredLatency[]) {
  // What the kernel side looks like is read once per cycle (one ctx per probe and cycle), not
  // once per namespace: the program states, their notes and the kinds. Keyed weakly: holding
  // the last cycle's ctx would keep its shared reads (texts, socket dumps) alive until the next.
  const perCycle = new WeakMap<ProbeContext, { kinds: ReadonlyMap<string, number>; measured: readonly MeasuredLatency[] }>();
  return async (entity: Entity, ctx: ProbeContext): Promise<Sample[]> => {
    const samples: Sample[] = [];
    let seen = perCycle.get(ctx);
    if (!seen) {
      for (const f of kernel.failures()) ctx.note(`not attached, the latency it begins or ends is not exported: ${f}`);
      const measured = latencies.filter((l) => l.programs.every((alternatives) => alternatives.some((p) => kernel.isAttached(p))));
      perCycle.set(ctx, (seen = { kinds: kernel.kernelKinds(...kindEnum), measured }));
    }
    const { kinds, measured } = seen;
    for (const l of measured) {
      const h = histogramOf(await countersIn(kernel, entity, ctx), kinds.get(l.kind)! << 8);
      samples.push({ metric: l.histogram, value: h ?? emptyHistogram() });
      samples.push({ metric: l.over100ms, value: over100ms(h) });
    }
    return [...samples, ...lostEvents(kernel, entity)];
  };
}
