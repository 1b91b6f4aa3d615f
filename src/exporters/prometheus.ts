// Prometheus text exposition (format 0.0.4) of OTel ResourceMetrics, written here rather than
// with @opentelemetry/exporter-prometheus because the seeds' names must survive exactly:
// counters keep their names (no `_total` appended), no otel_scope_* labels, no target_info,
// and the node name becomes a label on every series as both predecessors did.
import type { Attributes } from '@opentelemetry/api';
import { DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ackName, kceName, METRICS } from '../catalogue/index.js';

export type NamingProfile = 'netexporter' | 'inspector';

const ACK_NAMES = new Map(METRICS.map((m) => [kceName(m), ackName(m)]));

const LABEL_NAMES: Record<NamingProfile, Record<string, string>> = {
  netexporter: { 'k8s.node.name': 'k8s_node', 'k8s.namespace.name': 'k8s_namespace', 'k8s.pod.name': 'k8s_pod', 'k8s.pod.ip': 'k8s_pod_ip' },
  inspector: { 'k8s.node.name': 'node', 'k8s.namespace.name': 'namespace', 'k8s.pod.name': 'pod', 'k8s.pod.ip': 'ip' },
};

export function metricName(otelName: string, profile: NamingProfile): string {
  return profile === 'inspector' ? ACK_NAMES.get(otelName) ?? otelName : otelName;
}

export function labelName(attr: string, profile: NamingProfile): string {
  const known = LABEL_NAMES[profile][attr];
  if (known) return known;
  // Pod labels become label_<key>, as kube-state-metrics spells them.
  const name = attr.startsWith('k8s.pod.label.') ? `label_${attr.slice('k8s.pod.label.'.length)}` : attr;
  return name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelSet(common: Attributes, attrs: Attributes, profile: NamingProfile, extra?: [string, string]): string {
  const seen = new Map<string, string>();
  for (const src of [common, attrs]) {
    for (const [k, v] of Object.entries(src)) {
      if (v === undefined || v === '') continue;
      seen.set(labelName(k, profile), String(v));
    }
  }
  if (extra) seen.set(extra[0], extra[1]);
  if (seen.size === 0) return '';
  return `{${[...seen].map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

/** Label sets by attributes object: the snapshot shares one object per namespace across its series. */
type LabelCache = WeakMap<Attributes, string>;

function cachedLabelSet(cache: LabelCache, common: Attributes, attrs: Attributes, profile: NamingProfile): string {
  let s = cache.get(attrs);
  if (s === undefined) cache.set(attrs, (s = labelSet(common, attrs, profile)));
  return s;
}

function writeMetric(out: Lines, m: MetricData, common: Attributes, profile: NamingProfile, cache: LabelCache): void {
  if (m.dataPoints.length === 0) return;
  const name = metricName(m.descriptor.name, profile);
  const type = m.dataPointType === DataPointType.SUM ? (m.isMonotonic ? 'counter' : 'gauge')
    : m.dataPointType === DataPointType.HISTOGRAM ? 'histogram' : 'gauge';
  if (m.descriptor.description) out.push(`# HELP ${name} ${escapeHelp(m.descriptor.description)}`);
  out.push(`# TYPE ${name} ${type}`);
  if (m.dataPointType === DataPointType.HISTOGRAM) {
    for (const dp of m.dataPoints) {
      const { boundaries, counts } = dp.value.buckets;
      // The series' labels once; each bucket's adds `le` last (as labelSet would place it).
      const labels = cachedLabelSet(cache, common, dp.attributes, profile);
      const open = labels === '' ? `${name}_bucket{le="` : `${name}_bucket${labels.slice(0, -1)},le="`;
      let cumulative = 0;
      for (let i = 0; i < counts.length; i++) {
        cumulative += counts[i]!;
        const le = i < boundaries.length ? formatValue(boundaries[i]!) : '+Inf';
        out.push(`${open}${le}"} ${cumulative}`);
      }
      out.push(`${name}_sum${labels} ${formatValue(dp.value.sum ?? 0)}`);
      out.push(`${name}_count${labels} ${dp.value.count}`);
    }
    return;
  }
  if (m.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) return; // not produced by this agent
  for (const dp of m.dataPoints) out.push(`${name}${cachedLabelSet(cache, common, dp.attributes, profile)} ${formatValue(dp.value as number)}`);
}

/** Lines gathered into chunks of about CHUNK_CHARS, handed on as they fill. */
class Lines {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly emit: (chunk: string) => void) {}
  push(line: string): void {
    this.parts.push(line);
    this.size += line.length + 1;
    if (this.size >= CHUNK_CHARS) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0) return;
    this.parts.push('');
    this.emit(this.parts.join('\n'));
    this.parts = [];
    this.size = 0;
  }
}
const CHUNK_CHARS = 64 * 1024;

/**
 * Renders every metric in chunks of whole lines (each ends with a newline), so a scrape of a
 * full node is written as it is made rather than held as one body; the resource's
 * k8s.node.name is added as a label to every series.
 */
export function writePrometheusText(rm: ResourceMetrics, profile: NamingProfile, emit: (chunk: string) => void): void {
  const nodeName = rm.resource.attributes['k8s.node.name'];
  const common: Attributes = nodeName ? { 'k8s.node.name': nodeName } : {};
  const out = new Lines(emit);
  const cache: LabelCache = new WeakMap();
  for (const scope of rm.scopeMetrics) for (const m of scope.metrics) writeMetric(out, m, common, profile, cache);
  out.flush();
}

/** The whole exposition as one string (writePrometheusText's chunks joined). */
export function toPrometheusText(rm: ResourceMetrics, profile: NamingProfile): string {
  const chunks: string[] = [];
  writePrometheusText(rm, profile, (c) => chunks.push(c));
  return chunks.join('');
}
