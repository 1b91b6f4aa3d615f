// Events as OTLP/HTTP log records, to an OTel Collector (`/v1/logs`) or Loki 3.x
// (`/otlp/v1/logs`); see README.md here. No BatchLogRecordProcessor (it drops silently when
// full): the event pipeline queues and batches, and calls send() with one batch at a time.
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { EventRecord, EventSink, SendOptions, SendResult } from '../../events/model.js';
import { resolveOtlp, type OtlpSinkConfig, type ResolvedOtlp } from './config.js';
import { encodeLogs, otlpRequest, rejectedCount, type Scope } from './encode.js';
import type { HttpTransport, ReachabilityChange } from '../../transport/index.js';
import { otlpTransport } from './transport.js';

export const USER_AGENT = 'kubesonar/0.1.0';
export const SCOPE: Scope = { name: 'kubesonar', version: '0.1.0' };

export interface OtlpLogSinkOptions {
  /** `event_config.sinks.otlp`; unset keys fall back to OTEL_EXPORTER_OTLP_* then defaults. */
  config: OtlpSinkConfig;
  nodeName: string;
  serviceName?: string;
  /** Environment to read OTEL_EXPORTER_OTLP_* from (default process.env). */
  env?: Record<string, string | undefined>;
  /**
   * Without a deadline from the pipeline: how long one batch is retried (429/502/503/504 and
   * connection errors) before it is dropped as `retries_exhausted`. Default 5 minutes.
   */
  retryBudgetMs?: number;
  /** Told why a batch (or part of it) was dropped, one line, for the agent's log and /status. */
  onError?: (message: string) => void;
  /** Told once when the receiver stops answering and once when it is back. */
  onReachability?: (change: ReachabilityChange) => void;
}

export class OtlpLogSink implements EventSink {
  readonly name = 'otlp';
  readonly settings: ResolvedOtlp;
  private readonly resource: Resource;
  private readonly transport: HttpTransport;
  private readonly onError?: (message: string) => void;
  private readonly retryBudgetMs: number;

  /** Throws on an invalid setting (bad URL, unknown protocol or compression, unreadable certificate). */
  constructor(opts: OtlpLogSinkOptions) {
    this.settings = resolveOtlp(opts.config, 'logs', opts.env);
    // Loki 3.x turns these resource attributes into index labels (service_name, k8s_node_name).
    this.resource = resourceFromAttributes({ 'service.name': opts.serviceName ?? 'kubesonar-agent', 'k8s.node.name': opts.nodeName });
    this.onError = opts.onError;
    this.retryBudgetMs = opts.retryBudgetMs ?? 300_000;
    this.transport = otlpTransport(this.settings, { minBackoffMs: opts.config.min_backoff_ms ?? 1000, maxBackoffMs: opts.config.max_backoff_ms ?? 30_000 }, opts.onReachability);
  }

  async send(batch: readonly EventRecord[], options?: SendOptions): Promise<SendResult> {
    if (batch.length === 0) return { delivered: 0 };
    const { protocol, compression } = this.settings;
    let req;
    try {
      const observed = BigInt(Date.now()) * 1_000_000n;
      req = await otlpRequest(encodeLogs(protocol, batch, this.resource, SCOPE, observed), protocol, compression, USER_AGENT);
    } catch (err) {
      this.onError?.(`otlp logs: ${batch.length} records not encodable: ${(err as Error).message}`);
      return { delivered: 0, dropped: { encode_error: batch.length } };
    }
    const res = await this.transport.post(req.body, req.headers, { deadline: options?.deadline ?? Date.now() + this.retryBudgetMs });
    if (!res.ok) {
      const reason = res.reason ?? 'error';
      if (reason !== 'shutdown') this.onError?.(`otlp logs: ${batch.length} records dropped (${reason}) after ${res.attempts} attempts to ${this.settings.url}: ${res.error ?? ''}`);
      return { delivered: 0, dropped: { [reason]: batch.length } };
    }
    const { rejected, message } = rejectedCount(res.body, protocol, 'rejectedLogRecords');
    const n = Math.min(rejected, batch.length);
    if (n > 0) this.onError?.(`otlp logs: the receiver rejected ${n} of ${batch.length} records: ${message ?? ''}`);
    return n > 0 ? { delivered: batch.length - n, dropped: { rejected: n } } : { delivered: batch.length };
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
