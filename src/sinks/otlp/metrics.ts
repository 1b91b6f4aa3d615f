// The agent's metrics pushed over OTLP/HTTP every interval: collect() from the agent's
// PullMetricReader (cumulative temporality, so counters go out as cumulative monotonic sums),
// serialize, POST. A push that cannot be delivered before the next one is due is dropped and
// counted: the next push carries the same cumulative counters, so only resolution is lost.
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { HttpTransport, ReachabilityChange } from '../../transport/index.js';
import { resolveOtlp, type OtlpSinkConfig, type ResolvedOtlp } from './config.js';
import { encodeMetrics, otlpRequest, rejectedCount } from './encode.js';
import { USER_AGENT } from './logs.js';
import { otlpTransport } from './transport.js';
import { Periodic } from './periodic.js';

export interface OtlpMetricsPusherOptions {
  /** `event_config.sinks.otlp` (interval_seconds, default 30); unset keys fall back to OTEL_EXPORTER_OTLP_*. */
  config: OtlpSinkConfig;
  /** E.g. `async () => (await telemetry.pull.collect()).resourceMetrics`. */
  collect: () => Promise<ResourceMetrics>;
  env?: Record<string, string | undefined>;
  /** Retries of one push stop after this (default: the interval). */
  retryBudgetMs?: number;
  /** Told why points were dropped, one line, for the agent's log and /status. */
  onError?: (message: string) => void;
  /** Told once when the receiver stops answering and once when it is back. */
  onReachability?: (change: ReachabilityChange) => void;
}

export interface PushStats {
  pushes: number;
  failedPushes: number;
  /** Data points accepted by the receiver. */
  pointsSent: number;
  /** Data points given up on, by reason (`http_400`, `retries_exhausted`, `rejected`, `collect_error`). */
  pointsDropped: Record<string, number>;
  lastError?: string;
  lastSuccessUnixMs?: number;
}

export function countPoints(rm: ResourceMetrics): number {
  let n = 0;
  for (const s of rm.scopeMetrics) for (const m of s.metrics) n += m.dataPoints.length;
  return n;
}

export class OtlpMetricsPusher {
  readonly settings: ResolvedOtlp;
  readonly intervalMs: number;
  private readonly transport: HttpTransport;
  private readonly loop: Periodic;
  private readonly counters: PushStats = { pushes: 0, failedPushes: 0, pointsSent: 0, pointsDropped: {} };

  constructor(private readonly opts: OtlpMetricsPusherOptions) {
    this.settings = resolveOtlp(opts.config, 'metrics', opts.env);
    this.intervalMs = Math.max(1000, this.settings.intervalMs ?? 30_000);
    this.transport = otlpTransport(this.settings, { minBackoffMs: Math.min(1000, this.intervalMs / 4), maxBackoffMs: 5000 }, opts.onReachability);
    this.loop = new Periodic(this.intervalMs, async () => { await this.pushOnce(); });
  }

  start(): void { this.loop.start(); }

  /** One collect and export; resolves true when delivered. Never throws. */
  async pushOnce(): Promise<boolean> {
    this.counters.pushes++;
    let rm: ResourceMetrics;
    try {
      rm = await this.opts.collect();
    } catch (err) {
      return this.fail('collect_error', 0, (err as Error).message);
    }
    const points = countPoints(rm);
    if (points === 0) return true;
    const { protocol, compression } = this.settings;
    const req = await otlpRequest(encodeMetrics(protocol, rm), protocol, compression, USER_AGENT);
    // Retries end when the next push is due: it carries the same cumulative counters.
    const res = await this.transport.post(req.body, req.headers, { deadline: Date.now() + (this.opts.retryBudgetMs ?? this.intervalMs) });
    if (!res.ok) return this.fail(res.reason ?? 'error', points, res.error ?? res.reason ?? 'error');
    const { rejected: said, message } = rejectedCount(res.body, protocol, 'rejectedDataPoints');
    const rejected = Math.min(said, points); // a receiver cannot reject more than it was sent
    this.counters.pointsSent += points - rejected;
    if (rejected > 0) this.drop('rejected', rejected, message ?? 'partial success');
    this.counters.lastSuccessUnixMs = Date.now();
    return true;
  }

  stats(): PushStats {
    return { ...this.counters, pointsDropped: { ...this.counters.pointsDropped } };
  }

  async close(): Promise<void> {
    const stopped = this.loop.stop();
    await this.transport.close();
    await stopped;
  }

  private drop(reason: string, n: number, error: string): void {
    if (reason !== 'shutdown') this.opts.onError?.(`otlp metrics: ${n} dropped (${reason}): ${error}`);
    this.counters.pointsDropped[reason] = (this.counters.pointsDropped[reason] ?? 0) + n;
    this.counters.lastError = error;
  }

  private fail(reason: string, n: number, error: string): false {
    this.counters.failedPushes++;
    this.drop(reason, n, error);
    return false;
  }
}
