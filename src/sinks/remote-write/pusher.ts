// Prometheus remote write 1.0 of the agent's metrics, for Alibaba Cloud ARMS managed
// Prometheus (or any receiver): every interval collect → TimeSeries with the same names and
// labels as the /metrics endpoint (src/exporters/prometheus.ts's naming profile), protobuf,
// snappy block format, HTTP/1.1, basic auth with an AccessKey. As Prometheus's own remote-write
// queue: every collection's requests wait in a queue bounded in bytes (`max_queue_bytes`) and
// are sent in order by one sender, each retried on 5xx and 429 (Retry-After honoured) and
// connection errors until it is `max_age_ms` old; collections go on meanwhile, so the samples
// of an outage arrive, in order, afterwards. Other 4xx are dropped at once.
import type { Attributes, HrTime } from '@opentelemetry/api';
import { DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { labelName, metricName, type NamingProfile } from '../../exporters/prometheus.js';
import { HttpTransport, QueuedPusher, type PushQueueStats, type PusherHooks, type QueuedOutcome } from '../../transport/index.js';
import { SnappyCompressor } from '../../util/snappy.js';
import type { RemoteWriteSection } from './config.js';
import { encodeWriteRequest, METRIC_TYPE, type Label, type MetricMetadata, type TimeSeries } from './proto.js';

// Remote write's bodies are snappy's block format, as Loki's are.
const snappy = new SnappyCompressor();

export const USER_AGENT = 'kubesonar/0.1.0';

/** `event_config.sinks.remote_write` (keys as in the config file): the URL, and the rest at their defaults when unset. */
export type RemoteWriteConfig = Pick<RemoteWriteSection, 'url'> & Partial<RemoteWriteSection>;

export interface RemoteWritePusherOptions extends PusherHooks {
  config: RemoteWriteConfig;
  /** E.g. `async () => (await telemetry.pull.collect()).resourceMetrics`. */
  collect: () => Promise<ResourceMetrics>;
  /** Metric and label names as on /metrics (`metric_config.naming`); default netexporter. */
  naming?: NamingProfile | (() => NamingProfile);
  /** Labels added to every series (e.g. `cluster`), as Prometheus' external_labels. */
  externalLabels?: Record<string, string>;
  timeoutMs?: number;
  /** Series per request (Prometheus' max_samples_per_send default). */
  maxSamplesPerRequest?: number;
}

export interface RemoteWriteStats {
  pushes: number;
  /** Pushes that did not deliver every sample (or could not collect). */
  failedPushes: number;
  requests: number;
  /** Attempts beyond the first, over all requests. */
  retries: number;
  samplesSent: number;
  /** Samples given up on, by reason (`http_400`, `retries_exhausted`, `max_age`, `queue_full`, `password_file`, `duplicate_series`, `shutdown`). */
  samplesDropped: Record<string, number>;
  /** Requests waiting to be sent (the outage's samples). */
  queue: PushQueueStats;
  lastError?: string;
  lastSuccessUnixMs?: number;
}

const toMillis = (t: HrTime) => t[0] * 1000 + Math.floor(t[1] / 1e6);
const sanitizeName = (n: string) => n.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^([0-9])/, '_$1');

const byName = (a: Label, b: Label) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Labels of a data point without `__name__`, sorted, and a key identifying the set. */
interface LabelSet { labels: Label[]; key: string }

function labelSet(common: Attributes, attrs: Attributes, profile: NamingProfile, extra?: [string, string]): LabelSet {
  const m = new Map<string, string>();
  for (const src of [common, attrs]) {
    for (const [k, v] of Object.entries(src)) {
      // Prometheus has no empty labels: an empty value means the label is absent.
      if (v === undefined || v === null || v === '') continue;
      m.set(labelName(k, profile), String(v));
    }
  }
  if (extra) m.set(extra[0], extra[1]);
  m.delete('__name__');
  // The spec wants labels sorted by name (byte order; the names are ASCII).
  const labels = [...m].map(([name, value]) => ({ name, value })).sort(byName);
  return { labels, key: labels.map((l) => `${l.name}\u0000${l.value}`).join('\u0001') };
}

/** `__name__` inserted at its sorted place. */
function withName(set: LabelSet, name: string): Label[] {
  const at = set.labels.findIndex((l) => l.name > '__name__');
  const labels = set.labels.slice();
  labels.splice(at < 0 ? labels.length : at, 0, { name: '__name__', value: name });
  return labels;
}

function formatLe(v: number): string {
  return v === Infinity ? '+Inf' : String(v);
}

/** The metadata of one collection's metric families (metric name, type, help, unit). */
export function metadataOf(rm: ResourceMetrics, profile: NamingProfile): MetricMetadata[] {
  const metadata: MetricMetadata[] = [];
  for (const scope of rm.scopeMetrics) {
    for (const m of scope.metrics as MetricData[]) {
      if (m.dataPoints.length === 0 || m.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) continue;
      const type = m.dataPointType === DataPointType.HISTOGRAM ? METRIC_TYPE.HISTOGRAM
        : m.dataPointType === DataPointType.SUM && m.isMonotonic ? METRIC_TYPE.COUNTER : METRIC_TYPE.GAUGE;
      metadata.push({ type, metricFamilyName: sanitizeName(metricName(m.descriptor.name, profile)), help: m.descriptor.description ?? '', unit: m.descriptor.unit ?? '' });
    }
  }
  return metadata;
}

/**
 * The series of one collection, handed to `emit` one at a time (so a push can encode them a
 * request at a time instead of holding every series of the node at once): one sample each at
 * the data point's end time, node name from the resource, external labels first so a data
 * point's own label of the same name wins. Returns how many data points were left out as
 * duplicates.
 */
export function eachTimeSeries(rm: ResourceMetrics, profile: NamingProfile, externalLabels: Record<string, string>, emit: (series: TimeSeries) => void): number {
  const node = rm.resource.attributes['k8s.node.name'];
  const common: Attributes = { ...externalLabels, ...(node ? { 'k8s.node.name': node } : {}) };
  // Two data points can meet in one label set (an empty attribute vs. an absent one, names that
  // sanitize alike): Prometheus would store one sample of the two at random and reject the
  // request on a later conflict, so the first one is kept and the others are counted.
  const seen = new Set<string>();
  let duplicates = 0;
  const push = (name: string, set: LabelSet, value: number, timestamp: number) => {
    const key = `${name}\u0001${set.key}`;
    if (seen.has(key)) { duplicates++; return; }
    seen.add(key);
    emit({ labels: withName(set, name), samples: [{ value, timestamp }] });
  };
  // The snapshot shares one attributes object per namespace across its series: label each once.
  const cache = new WeakMap<Attributes, LabelSet>();
  const labelsOf = (attrs: Attributes) => {
    let set = cache.get(attrs);
    if (!set) cache.set(attrs, (set = labelSet(common, attrs, profile)));
    return set;
  };
  for (const scope of rm.scopeMetrics) {
    for (const m of scope.metrics as MetricData[]) {
      if (m.dataPoints.length === 0) continue;
      const name = sanitizeName(metricName(m.descriptor.name, profile));
      if (m.dataPointType === DataPointType.HISTOGRAM) {
        for (const dp of m.dataPoints) {
          const timestamp = toMillis(dp.endTime);
          const { boundaries, counts } = dp.value.buckets;
          let cumulative = 0;
          counts.forEach((n, i) => {
            cumulative += n;
            const le = formatLe(i < boundaries.length ? boundaries[i]! : Infinity);
            push(`${name}_bucket`, labelSet(common, dp.attributes, profile, ['le', le]), cumulative, timestamp);
          });
          push(`${name}_sum`, labelsOf(dp.attributes), dp.value.sum ?? 0, timestamp);
          push(`${name}_count`, labelsOf(dp.attributes), dp.value.count, timestamp);
        }
        continue;
      }
      if (m.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) continue; // not produced by this agent
      for (const dp of m.dataPoints) {
        push(name, labelsOf(dp.attributes), dp.value as number, toMillis(dp.endTime));
      }
    }
  }
  return duplicates;
}

/** Every series of one collection at once, with the metadata (for tests and small collections). */
export function toTimeSeries(rm: ResourceMetrics, profile: NamingProfile, externalLabels: Record<string, string> = {}): { series: TimeSeries[]; metadata: MetricMetadata[]; duplicates: number } {
  const series: TimeSeries[] = [];
  const duplicates = eachTimeSeries(rm, profile, externalLabels, (s) => series.push(s));
  return { series, metadata: metadataOf(rm, profile), duplicates };
}

/** The protocol's own headers; they win over configured ones, so those cannot break them. */
const PROTOCOL_HEADERS: Record<string, string> = {
  'content-encoding': 'snappy',
  'content-type': 'application/x-protobuf',
  'user-agent': USER_AGENT,
  'x-prometheus-remote-write-version': '0.1.0',
};

/** 5xx and 429 are worth another attempt; every other status is final (remote write 1.0). */
export const REMOTE_WRITE_RETRYABLE = (status: number) => status === 429 || (status >= 500 && status < 600);

export class RemoteWritePusher extends QueuedPusher {
  private readonly counters: Omit<RemoteWriteStats, 'queue' | 'pushes' | 'failedPushes'> = { requests: 0, retries: 0, samplesSent: 0, samplesDropped: {} };

  constructor(private readonly opts: RemoteWritePusherOptions) {
    const { url, username, password_file, headers } = opts.config;
    try { new URL(url); } catch { throw new Error(`remote_write.url: not a URL: "${url}"`); }
    const transport = new HttpTransport({
      target: url, timeoutMs: opts.timeoutMs ?? 10_000,
      // The password file is read at every push, so rotating the Secret needs no restart.
      auth: { headers, basic: username || password_file ? { username: username ?? '', passwordFile: password_file || undefined } : undefined },
      retry: {
        retryable: REMOTE_WRITE_RETRYABLE, minBackoffMs: opts.config.min_backoff_ms ?? 250, maxBackoffMs: opts.config.max_backoff_ms ?? 5000,
        // An unreadable password file is not something a retry within this push would fix.
        retryCredentials: false,
      },
      onReachability: opts.onReachability,
    });
    super(transport, {
      intervalMs: Math.max(1, opts.config.interval_seconds ?? 30) * 1000, collect: opts.collect, headers: PROTOCOL_HEADERS,
      maxBytes: opts.config.max_queue_bytes ?? 32 << 20, maxAgeMs: opts.retryBudgetMs ?? opts.config.max_age_ms ?? 15 * 60_000,
    });
  }

  protected outcome(o: QueuedOutcome): void {
    const r = o.result;
    if (r && r.attempts > 0) {
      this.counters.requests++;
      this.counters.retries += r.attempts - 1;
    }
    if (o.ok) {
      this.counters.samplesSent += o.count;
      this.counters.lastSuccessUnixMs = Date.now();
      return;
    }
    const reason = o.reason === 'credentials' ? 'password_file' : o.reason ?? 'error';
    this.drop(reason, o.count, r?.error ?? reason);
  }

  protected async queueMetrics(rm: ResourceMetrics): Promise<Promise<boolean>[]> {
    const naming = typeof this.opts.naming === 'function' ? this.opts.naming() : this.opts.naming ?? 'netexporter';
    const max = Math.max(1, this.opts.maxSamplesPerRequest ?? 2000);
    const at = Date.now();
    const sent: Promise<boolean>[] = [];
    // Each request is encoded as soon as its series are there, so at most one request's series
    // are held at a time, not every series of the node.
    let metadata: MetricMetadata[] = metadataOf(rm, naming); // it rides with the first request only
    const chunk: TimeSeries[] = [];
    const flush = () => {
      sent.push(this.queue.push(snappy.compress(encodeWriteRequest(chunk, metadata)), chunk.length, at));
      metadata = [];
      chunk.length = 0;
    };
    const duplicates = eachTimeSeries(rm, naming, this.opts.externalLabels ?? {}, (series) => {
      chunk.push(series);
      if (chunk.length === max) flush();
    });
    if (chunk.length > 0) flush();
    if (duplicates > 0) this.drop('duplicate_series', duplicates, `${duplicates} series with the label set of another`);
    if (sent.length === 0) return [Promise.resolve(duplicates === 0)];
    return sent;
  }

  stats(): RemoteWriteStats {
    return { ...this.pushCounts, ...this.counters, samplesDropped: { ...this.counters.samplesDropped }, queue: this.queue.stats() };
  }

  protected drop(reason: string, n: number, error: string): void {
    if (reason !== 'shutdown') this.opts.onError?.(`remote write: ${n} dropped (${reason}): ${error}`);
    if (n > 0) this.counters.samplesDropped[reason] = (this.counters.samplesDropped[reason] ?? 0) + n;
    this.counters.lastError = error;
  }
}
