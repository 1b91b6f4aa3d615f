// OpenTelemetry side of the metrics: one MeterProvider whose readers see the probe
// snapshot through a custom MetricProducer (no observable instruments: those never forget
// a series and fold past 2000 attribute sets, see DESIGN.md), plus the agent's own
// instruments for its health.
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality, DataPointType, MeterProvider, MetricReader,
  type CollectionResult, type MetricData, type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { kceName, METRICS, type MetricDef } from '../catalogue/metrics.js';
import type { Entity } from '../model.js';
import type { Collector, Snapshot } from './collector.js';

export const SCOPE = { name: 'netobserv', version: '0.1.0' };
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

export class SnapshotProducer implements MetricProducer {
  /** First time each namespace was seen: the start of its cumulative counters. */
  private readonly firstSeen = new Map<number, HrTime>();
  private readonly agentStart = millisToHrTime(Date.now());

  constructor(private readonly snapshot: () => Snapshot, private readonly verbose: () => boolean) {}

  async collect(): Promise<CollectionResult> {
    const snap = this.snapshot();
    const end = millisToHrTime(snap.time || Date.now());
    this.forgetGone(snap.entities);
    const byMetric = new Map<MetricDef, MetricData>();
    const verbose = this.verbose();
    const attrsOf = new Map<Entity, Attributes>(snap.entities.map((e) => [e, entityAttributes(e, verbose)]));
    for (const s of snap.samples) {
      const def = DEFS.get(`${s.probe}/${s.metric}`);
      if (!def) continue;
      let data = byMetric.get(def);
      if (!data) {
        data = newMetricData(def);
        byMetric.set(def, data);
      }
      data.dataPoints.push({
        startTime: this.startOf(s.entity),
        endTime: end,
        attributes: s.labels ? { ...attrsOf.get(s.entity), ...s.labels } : attrsOf.get(s.entity)!,
        value: s.value,
      } as never);
    }
    return {
      resourceMetrics: { resource: resourceFromAttributes({}), scopeMetrics: [{ scope: SCOPE, metrics: [...byMetric.values()] }] },
      errors: [],
    };
  }

  private startOf(e: Entity): HrTime {
    if (e.isHost) return this.agentStart;
    let t = this.firstSeen.get(e.netns);
    if (!t) this.firstSeen.set(e.netns, (t = millisToHrTime(Date.now())));
    return t;
  }

  private forgetGone(entities: readonly Entity[]): void {
    const live = new Set(entities.map((e) => e.netns));
    for (const ns of this.firstSeen.keys()) if (!live.has(ns)) this.firstSeen.delete(ns);
  }
}

function newMetricData(def: MetricDef): MetricData {
  const descriptor = { name: kceName(def), description: def.help, unit: def.unit, valueType: ValueType.DOUBLE };
  const base = { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPoints: [] };
  return def.type === 'counter'
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

/** Builds the MeterProvider: resource `k8s.node.name`, the snapshot producer, the agent's own metrics. */
export function createTelemetry(nodeName: string, collector: Collector, verbose: () => boolean): Telemetry {
  const resource = resourceFromAttributes({ 'service.name': 'netobserv-agent', 'k8s.node.name': nodeName });
  const pull = new PullMetricReader({ metricProducers: [new SnapshotProducer(() => collector.snapshot, verbose)] });
  const provider = new MeterProvider({ resource, readers: [pull] });
  registerAgentMetrics(provider, collector);
  return { provider, pull, shutdown: () => provider.shutdown() };
}

function registerAgentMetrics(provider: MeterProvider, collector: Collector): void {
  const meter = provider.getMeter(SCOPE.name, SCOPE.version);
  const duration = meter.createObservableGauge('netexporter_agent_collect_duration_seconds', {
    description: 'Wall time of the last collection cycle.', unit: 's',
  });
  const cpu = meter.createObservableGauge('netexporter_agent_collect_cpu_seconds', {
    description: 'CPU time (user + system) of the last collection cycle.', unit: 's',
  });
  const entities = meter.createObservableGauge('netexporter_agent_entities', {
    description: 'Network namespaces observed (host and pods).',
  });
  const up = meter.createObservableGauge('netexporter_agent_probe_up', {
    description: 'Whether a probe collected without error in the last cycle (0 on error or when unsupported on this node).',
  });
  const errors = meter.createObservableCounter('netexporter_agent_probe_errors_total', {
    description: 'Probe collection errors since the agent started.',
  });
  meter.addBatchObservableCallback((result) => {
    const snap = collector.snapshot;
    result.observe(duration, snap.durationMs / 1000);
    result.observe(cpu, snap.cpuMs / 1000);
    result.observe(entities, snap.entities.length);
    for (const [probe, st] of Object.entries(collector.status())) {
      result.observe(up, st.state === 'ok' ? 1 : 0, { probe });
      result.observe(errors, st.errors, { probe });
    }
  }, [duration, cpu, entities, up, errors]);
}
