// What a probe is: one descriptor that says everything about it, so that a probe is its module
// (plus its .bpf.c, for eBPF probes) and one line in index.ts. The catalogue, the config
// schema, the docs and /status are derived from the descriptors.
import type { BpfProbe, EventOptions } from '../bpf/probe.js';
import type { BpfRecord } from '../bpf/records.js';
import type { Check } from '../checks/model.js';
import type { KubeView, ServiceSource } from '../checks/kubeview.js';
import type { NetEvent, Severity } from '../events/model.js';
import type { Entity, MetricDef, MetricProbe, MetricType, ProbeContext, ProbeScope, Sample } from '../model.js';

export interface EventDef {
  type: string;
  /** The event probe that emits it. */
  probe: string;
  severity: Severity;
  help: string;
}

/**
 * A setting of the config file that belongs to a probe: `metric_config.<key>`,
 * `event_config.<key>` or, for a probe's configuration checks, `event_config.checks.<key>`.
 * Several probes may share one (the same object): it appears once, and the docs name every
 * probe that reads it.
 */
export interface ProbeOption {
  section: ProbeOptionSection;
  key: string;
  /** JSON Schema of the value; its `default` is the value when the file does not set it. */
  schema: { default: unknown; description: string } & Record<string, unknown>;
  /**
   * Checks a structurally valid value (cross-field rules); returns one line per problem, each
   * starting with the path of the key at fault (`path` is the option's own).
   */
  validate?(value: unknown, path: string): string[];
}

export type ProbeOptionSection = 'metric_config' | 'event_config' | 'event_config.checks';

/** What the configuration checks of a probe may use. */
export interface CheckDeps {
  /** The cluster (informers), for the checks that read the Kubernetes API. */
  kube?: KubeView;
  /** Services for the IPVS comparison without a whole KubeView (tests). */
  services?: ServiceSource;
  /** Kernel log device (tests may point elsewhere). */
  kmsgPath?: string;
}

/** How an event probe produces events. */
export interface EventSide {
  types: readonly EventDef[];
  /** eBPF: one kernel record → one event (may throw on a record it cannot read; counted). */
  fromRecord?(r: BpfRecord): NetEvent | undefined;
  /** eBPF: writes the probe's event options into its object before events start; returns why not. */
  configure?(options: ProbeEventOptions): string | undefined;
  /** Configuration checks: one set per scheduler (they may hold state). */
  checks?(deps: CheckDeps): Check[];
  /** Its checks read the Kubernetes API: re-run when the cluster changes, off without the API. */
  readsKubeApi?: boolean;
  /** Why this build has no implementation on a kernel like this one (reported in /status). */
  notBuilt?: string;
}

/** The event options of a running eBPF probe: the kernel rate limit and the probe's own settings. */
export interface ProbeEventOptions extends EventOptions {
  /** event_config.<key> of the options the probe declares. */
  values: Readonly<Record<string, unknown>>;
}

export interface Probe {
  readonly name: string;
  /** Other spellings the config accepts (the seeds' and their predecessors'). */
  readonly aliases: readonly string[];
  /** Set for a metric probe: its metrics and how it collects them. */
  readonly metric?: MetricProbe;
  /** Set for an event probe. */
  readonly event?: EventSide;
  /** The kernel side of an eBPF probe: loaded while the probe is in either list. */
  readonly kernel?: BpfProbe;
  /**
   * eBPF: applies the probe's event_config options that its kernel side reads whether or not
   * events flow (the latency sampling), on every config change; never loads the object.
   */
  readonly tune?: (values: Readonly<Record<string, unknown>>) => void;
  readonly options: readonly ProbeOption[];
  /**
   * Why the probe is not in the default probe lists (it costs every packet): it runs only when a
   * config names it (or gives an empty list, which means every probe).
   */
  readonly optIn?: string;
  /** A section of the reference docs (otel/catalogue.md) beyond its catalogue entries. */
  readonly docs?: { title: string; text: string };
}

export interface ProbeSpec {
  name: string;
  aliases?: readonly string[];
  /** Metric probes: their metrics (the catalogue entries), scope and collection. */
  metrics?: readonly Omit<MetricDef, 'probe'>[];
  scope?: ProbeScope;
  unsupported?(): Promise<string | undefined>;
  collect?(entity: Entity, ctx: ProbeContext): Promise<Sample[]>;
  /** Event probes: their event types and how they are produced. */
  events?: readonly Omit<EventDef, 'probe'>[];
  fromRecord?: EventSide['fromRecord'];
  configure?: EventSide['configure'];
  checks?: EventSide['checks'];
  readsKubeApi?: boolean;
  notBuilt?: string;
  kernel?: BpfProbe;
  tune?: Probe['tune'];
  optIn?: string;
  options?: readonly ProbeOption[];
  docs?: Probe['docs'];
}

/** Builds a probe's descriptor; the catalogue entries are stamped with its name. */
export function defineProbe(spec: ProbeSpec): Probe {
  const { name } = spec;
  let metric: MetricProbe | undefined;
  if (spec.metrics) {
    if (!spec.collect) throw new Error(`probe ${name}: metrics without collect()`);
    metric = {
      name,
      scope: spec.scope ?? 'netns',
      metrics: spec.metrics.map((m) => ({ ...m, probe: name })),
      unsupported: spec.unsupported,
      collect: spec.collect,
    };
  }
  const event: EventSide | undefined = spec.events && {
    types: spec.events.map((e) => ({ ...e, probe: name })),
    fromRecord: spec.fromRecord,
    configure: spec.configure,
    checks: spec.checks,
    readsKubeApi: spec.readsKubeApi,
    notBuilt: spec.notBuilt,
  };
  return { name, aliases: spec.aliases ?? [], metric, event, kernel: spec.kernel, tune: spec.tune, options: spec.options ?? [], optIn: spec.optIn, docs: spec.docs };
}

// Catalogue entries, as the probe modules write them.
type MetricExtra = Partial<Pick<MetricDef, 'ack' | 'labels' | 'buckets' | 'scope' | 'sampled'>>;
const metricDef = (type: MetricType) => (name: string, source: string, help: string, unit = '1', extra: MetricExtra = {}): Omit<MetricDef, 'probe'> =>
  ({ name, type, unit, help, source, ...extra });
export const counter = metricDef('counter');
export const gauge = metricDef('gauge');
export const event = (type: string, severity: Severity, help: string): Omit<EventDef, 'probe'> => ({ type, severity, help });

/** Labels and scope shared by many entries. */
export const IF = { labels: ['if_name'] } as const;
export const HOST = { scope: 'host' } as const;

/** The `eventslost` counter of an eBPF probe's sampled events (node-wide: the ring buffer is). */
export const eventsLost = (probe: string, extra: MetricExtra = {}) =>
  counter('eventslost', 'ring buffer reserve failures', `Sampled ${probe} events lost because the ring buffer was full (node-wide).`, '{event}', extra);
