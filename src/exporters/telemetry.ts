// OpenTelemetry side of the metrics: one MeterProvider whose readers see the probe snapshot
// and the agent's own health through a custom MetricProducer. No observable instruments:
// those never forget a series (a pod or a disabled probe would stay exported) and fold past
// 2000 attribute sets (see DESIGN.md).
import { ValueType, type Attributes } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality, DataPointType, MeterProvider, MetricReader,
  type CollectionResult, type MetricData, type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { kceName, METRICS } from '../catalogue/index.js';
import type { Entity, MetricDef, MetricType } from '../model.js';
import type { Collector, Snapshot } from '../pipeline/collector.js';

export const SCOPE = { name: 'kubesonar', version: '0.1.0' };
const DEFS = new Map(METRICS.map((m) => [`${m.probe}/${m.name}`, m]));

/** Attributes that identify an entity; `verbose` adds pod IP and pod labels. */
export function entityAttributes(e: Entity, verbose: boolean): Attributes {
  const attrs: Attributes = { netns: `ns${e.netns}` };
  if (!e.pod) return attrs;
  attrs['k8s.namespace.name'] = e.pod.namespace;
  attrs['k8s.pod.name'] = e.pod.name;
  if (verbose) {
    if (e.pod.ip) attrs['k8s.pod.ip'] = e.pod.ip;
    for (const [k, v] of Object.entries(e.pod.labels ?? {})) attrs[`k8s.pod.label.${k}`] = v;
  }
  return attrs;
}

/** A metric the agent reports about itself (probe health, event sinks), built at each collect. */
export interface SelfMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  unit?: string;
  points: { attributes?: Attributes; value: number }[];
}

export class SnapshotProducer implements MetricProducer {
  private readonly agentStart = millisToHrTime(Date.now());

  constructor(
    private readonly snapshot: () => Snapshot,
    private readonly verbose: () => boolean,
    private readonly selfMetrics: () => SelfMetric[] = () => [],
  ) {}

  async collect(): Promise<CollectionResult> {
    const snap = this.snapshot();
    const end = millisToHrTime(snap.time || Date.now());
    const byMetric = new Map<MetricDef, MetricData>();
    const verbose = this.verbose();
    const attrsOf = new Map<Entity, Attributes>(snap.entities.map((e) => [e, entityAttributes(e, verbose)]));
    // One start time per namespace, shared by its series (not two arrays per data point).
    const starts = new Map<Entity, ReturnType<typeof millisToHrTime>>();
    const startOf = (e: Entity) => {
      let t = starts.get(e);
      if (t === undefined) {
        const seen = snap.firstSeen.get(e.netns);
        starts.set(e, (t = e.isHost || seen === undefined ? this.agentStart : millisToHrTime(seen)));
      }
      return t;
    };
    for (const s of snap.samples) {
      const def = DEFS.get(`${s.probe}/${s.metric}`);
      if (!def) continue;
      let data = byMetric.get(def);
      if (!data) {
        data = newMetricData(kceName(def), def.help, def.unit, def.type);
        byMetric.set(def, data);
      }
      data.dataPoints.push({
        startTime: startOf(s.entity),
        endTime: end,
        attributes: s.labels ? { ...attrsOf.get(s.entity), ...s.labels } : attrsOf.get(s.entity)!,
        value: typeof s.value === 'number' ? s.value
          : { buckets: { boundaries: [...def.buckets!], counts: s.value.counts }, sum: s.value.sum, count: s.value.count, min: undefined, max: undefined },
      } as never);
    }
    const now = millisToHrTime(Date.now());
    const own = this.selfMetrics().map((m) => {
      const data = newMetricData(m.name, m.help, m.unit ?? '1', m.type);
      for (const p of m.points) data.dataPoints.push({ startTime: this.agentStart, endTime: now, attributes: p.attributes ?? {}, value: p.value } as never);
      return data;
    });
    return {
      resourceMetrics: { resource: resourceFromAttributes({}), scopeMetrics: [{ scope: SCOPE, metrics: [...byMetric.values(), ...own] }] },
      errors: [],
    };
  }
}

function newMetricData(name: string, description: string, unit: string, type: MetricType): MetricData {
  const descriptor = { name, description, unit, valueType: ValueType.DOUBLE };
  const base = { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPoints: [] };
  if (type === 'histogram') return { ...base, dataPointType: DataPointType.HISTOGRAM };
  return type === 'counter'
    ? { ...base, dataPointType: DataPointType.SUM, isMonotonic: true }
    : { ...base, dataPointType: DataPointType.GAUGE };
}

/** A reader that collects only when asked: the Prometheus endpoint pulls through it. */
export class PullMetricReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export interface Telemetry {
  provider: MeterProvider;
  pull: PullMetricReader;
  shutdown(): Promise<void>;
}

/** Builds the MeterProvider: resource `k8s.node.name`, the snapshot producer with the agent's own metrics. */
export function createTelemetry(nodeName: string, collector: Collector, verbose: () => boolean, extra: () => SelfMetric[] = () => []): Telemetry {
  const resource = resourceFromAttributes({ 'service.name': 'kubesonar-agent', 'k8s.node.name': nodeName });
  const producer = new SnapshotProducer(() => collector.snapshot, verbose, () => [...collectorMetrics(collector), ...extra()]);
  const pull = new PullMetricReader({ metricProducers: [producer] });
  const provider = new MeterProvider({ resource, readers: [pull] });
  return { provider, pull, shutdown: () => provider.shutdown() };
}

/** The collector's health: cycle cost, entities, and each configured probe's state and errors. */
export function collectorMetrics(collector: Collector): SelfMetric[] {
  const snap = collector.snapshot;
  const probes = Object.entries(collector.status());
  return [
    { name: 'netexporter_agent_collect_duration_seconds', help: 'Wall time of the last collection cycle.', type: 'gauge', unit: 's', points: [{ value: snap.durationMs / 1000 }] },
    { name: 'netexporter_agent_collect_cpu_seconds', help: 'CPU time (user + system) of the last collection cycle.', type: 'gauge', unit: 's', points: [{ value: snap.cpuMs / 1000 }] },
    { name: 'netexporter_agent_entities', help: 'Network namespaces observed (host and pods).', type: 'gauge', points: [{ value: snap.entities.length }] },
    {
      name: 'netexporter_agent_probe_up', type: 'gauge',
      help: 'Whether a configured probe collected without error in the last cycle (0 on error); a probe that does not apply to this node has no series here but one in netexporter_agent_probe_unsupported.',
      points: probes.filter(([, st]) => st.state !== 'unsupported').map(([probe, st]) => ({ attributes: { probe }, value: st.state === 'ok' ? 1 : 0 })),
    },
    {
      name: 'netexporter_agent_probe_unsupported', type: 'gauge',
      help: 'A configured probe this node cannot run or that does not apply to it (GET /status says why): 1.',
      points: probes.filter(([, st]) => st.state === 'unsupported').map(([probe]) => ({ attributes: { probe }, value: 1 })),
    },
    {
      name: 'netexporter_agent_probe_errors_total', type: 'counter', help: 'Probe collection errors since the agent started.',
      points: probes.map(([probe, st]) => ({ attributes: { probe }, value: st.errors })),
    },
  ];
}
