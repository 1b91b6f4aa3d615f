// The catalogue: what every probe declares, gathered from the probe list (src/probes/index.ts)
// for the parts that need it as a whole: the metric exporters (names, help, types), the event
// sinks and `watch` (event types), the config (probe names, aliases and options), the docs.
import type { Check } from '../checks/model.js';
import type { Severity } from '../events/model.js';
import type { MetricDef } from '../model.js';
import { PROBES } from '../probes/index.js';
import type { CheckDeps, EventDef, Probe, ProbeOption } from '../probes/probe.js';

export type { EventDef, Probe, ProbeOption } from '../probes/probe.js';
export type { MetricDef } from '../model.js';
export { PROBES };

/** Metric probe names, catalogue order. */
export const METRIC_PROBES: readonly string[] = PROBES.filter((p) => p.metric).map((p) => p.name);
/** Event probe names, catalogue order. */
export const EVENT_PROBES: readonly string[] = PROBES.filter((p) => p.event).map((p) => p.name);
/** The metric probes of the default config: all but the opt-in ones (those that cost every packet). */
export const DEFAULT_METRIC_PROBES: readonly string[] = PROBES.filter((p) => p.metric && !p.optIn).map((p) => p.name);
/** The event probes of the default config. */
export const DEFAULT_EVENT_PROBES: readonly string[] = PROBES.filter((p) => p.event && !p.optIn).map((p) => p.name);

export const METRICS: readonly MetricDef[] = PROBES.flatMap((p) => p.metric?.metrics ?? []);
export const EVENTS: readonly EventDef[] = PROBES.flatMap((p) => p.event?.types ?? []);

/** Event probes whose checks read the Kubernetes API. */
export const KUBE_PROBES: readonly string[] = PROBES.filter((p) => p.event?.readsKubeApi).map((p) => p.name);

/** Other spellings found in the seeds and their predecessors' configs → the probe's name. */
export const PROBE_ALIASES: Readonly<Record<string, string>> = Object.fromEntries(PROBES.flatMap((p) => p.aliases.map((a) => [a, p.name])));

const byName = new Map(PROBES.map((p) => [p.name, p]));
export const probe = (name: string): Probe | undefined => byName.get(name);

export function metricsOf(probeName: string): MetricDef[] {
  return METRICS.filter((m) => m.probe === probeName);
}

const eventsByType = new Map(EVENTS.map((e) => [e.type, e]));
export function eventDef(type: string): EventDef | undefined {
  return eventsByType.get(type);
}
export const severityOf = (type: string): Severity => eventDef(type)?.severity ?? 'WARN';

/**
 * The probe options of a config section, each once (probes may share one), with the probes
 * that read it.
 */
export function probeOptions(section: ProbeOption['section']): { option: ProbeOption; probes: string[] }[] {
  const out = new Map<string, { option: ProbeOption; probes: string[] }>();
  for (const p of PROBES) {
    for (const o of p.options) {
      if (o.section !== section) continue;
      const seen = out.get(o.key);
      if (seen && seen.option !== o) throw new Error(`probe option ${section}.${o.key} is declared twice (${seen.probes[0]}, ${p.name})`);
      if (seen) seen.probes.push(p.name);
      else out.set(o.key, { option: o, probes: [p.name] });
    }
  }
  return [...out.values()];
}

/** The configuration checks of every probe that has them: one set per scheduler (they hold state). */
export function createChecks(deps: CheckDeps = {}): Check[] {
  return PROBES.flatMap((p) => p.event?.checks?.(deps) ?? []);
}

/** The Prometheus series names of a metric named `name`: a histogram's `_bucket`, `_sum` and `_count`. */
export function seriesNames(m: MetricDef, name: string): string[] {
  return m.type === 'histogram' ? ['_bucket', '_sum', '_count'].map((suffix) => name + suffix) : [name];
}

/** `netexporter_<probe>_<name>`: the default (KCE) name and the OTel instrument name. */
export function kceName(m: MetricDef): string {
  return `netexporter_${m.probe}_${m.name}`;
}

/** ACK's `inspector_pod_<probe><name>`, or the ACK table's own spelling. */
export function ackName(m: MetricDef): string {
  return m.ack ?? `inspector_pod_${m.probe}${m.name}`;
}
