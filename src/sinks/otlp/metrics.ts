// The agent's metrics pushed over OTLP/HTTP every interval: collect() from the agent's
// PullMetricReader (cumulative temporality, so counters go out as cumulative monotonic sums),
// serialize, queue. The queue (src/transport/queue.ts, bounded by `max_queue_bytes`) keeps the
// pushes of an outage and sends them in order afterwards, each retried until it is
// `max_age_ms` old; what it gives up on is counted by reason.
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { QueuedPusher, type PushQueueStats, type PusherHooks, type QueuedOutcome } from '../../transport/index.js';
import { resolveOtlp, type OtlpSinkConfig, type ResolvedOtlp } from './config.js';
import { encodeMetrics, otlpRequest, rejectedCount } from './encode.js';
import { USER_AGENT } from './logs.js';
import { otlpTransport } from './transport.js';

export interface OtlpMetricsPusherOptions extends PusherHooks {
  /** `event_config.sinks.otlp` (interval_seconds, default 30); unset keys fall back to OTEL_EXPORTER_OTLP_*. */
  config: OtlpSinkConfig;
  /** E.g. `async () => (await telemetry.pull.collect()).resourceMetrics`. */
  collect: () => Promise<ResourceMetrics>;
  env?: Record<string, string | undefined>;
}

export interface PushStats {
  pushes: number;
  failedPushes: number;
  /** Data points accepted by the receiver. */
  pointsSent: number;
  /** Data points given up on, by reason (`http_400`, `retries_exhausted`, `max_age`, `queue_full`, `rejected`, `collect_error`, `encode_error`). */
  pointsDropped: Record<string, number>;
  /** Pushes waiting to be sent (an outage's). */
  queue?: PushQueueStats;
  lastError?: string;
  lastSuccessUnixMs?: number;
}

export function countPoints(rm: ResourceMetrics): number {
  let n = 0;
  for (const s of rm.scopeMetrics) for (const m of s.metrics) n += m.dataPoints.length;
  return n;
}

export class OtlpMetricsPusher extends QueuedPusher {
  readonly settings: ResolvedOtlp;
  private readonly counters: Omit<PushStats, 'pushes' | 'failedPushes'> = { pointsSent: 0, pointsDropped: {} };
  private readonly protocol;

  constructor(private readonly opts: OtlpMetricsPusherOptions) {
    const settings = resolveOtlp(opts.config, 'metrics', opts.env);
    const intervalMs = Math.max(1000, settings.intervalMs ?? 30_000);
    const backoff = { minBackoffMs: opts.config.min_backoff_ms ?? Math.min(1000, intervalMs / 4), maxBackoffMs: opts.config.max_backoff_ms ?? 5000 };
    super(otlpTransport(settings, backoff, opts.onReachability), {
      intervalMs, collect: opts.collect, headers: {},
      maxBytes: opts.config.max_queue_bytes ?? 32 << 20, maxAgeMs: opts.retryBudgetMs ?? opts.config.max_age_ms ?? 15 * 60_000,
    });
    this.settings = settings;
    this.protocol = settings.protocol;
  }

  protected async queueMetrics(rm: ResourceMetrics): Promise<Promise<boolean>[]> {
    const points = countPoints(rm);
    if (points === 0) return [];
    const { protocol, compression } = this.settings;
    const req = await otlpRequest(encodeMetrics(protocol, rm), protocol, compression, USER_AGENT);
    return [this.queue.push(req.body, points, Date.now(), req.headers)];
  }

  protected outcome(o: QueuedOutcome): void {
    if (!o.ok) {
      this.drop(o.reason ?? 'error', o.count, o.result?.error ?? o.reason ?? 'error');
      return;
    }
    const { rejected: said, message } = rejectedCount(o.result!.body, this.protocol, 'rejectedDataPoints');
    const rejected = Math.min(said, o.count); // a receiver cannot reject more than it was sent
    this.counters.pointsSent += o.count - rejected;
    if (rejected > 0) this.drop('rejected', rejected, message ?? 'partial success');
    this.counters.lastSuccessUnixMs = Date.now();
  }

  stats(): PushStats {
    return { ...this.pushCounts, ...this.counters, pointsDropped: { ...this.counters.pointsDropped }, queue: this.queue.stats() };
  }

  protected drop(reason: string, n: number, error: string): void {
    if (reason !== 'shutdown') this.opts.onError?.(`otlp metrics: ${n} dropped (${reason}): ${error}`);
    this.counters.pointsDropped[reason] = (this.counters.pointsDropped[reason] ?? 0) + n;
    this.counters.lastError = error;
  }
}
