// The push exporters of metrics, kept in step with the config: OTLP metrics and Prometheus
// remote write (ARMS). Both pull the same ResourceMetrics the /metrics endpoint serves.
import { isDeepStrictEqual } from 'node:util';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { AgentConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { SelfMetric } from '../pipeline/telemetry.js';
import { OtlpMetricsPusher } from '../sinks/otlp/index.js';
import { RemoteWritePusher } from '../sinks/remote-write/index.js';
import { logReachability } from '../transport/index.js';
import type { NamingProfile } from './prometheus.js';

interface Running<T> {
  settings: unknown;
  pusher: T;
}

export class MetricPushers {
  private otlp?: Running<OtlpMetricsPusher>;
  private remoteWrite?: Running<RemoteWritePusher>;
  /** Why a pusher could not be built, for /status. */
  readonly errors = new Map<string, string>();

  constructor(
    private readonly collect: () => Promise<ResourceMetrics>,
    private readonly naming: () => NamingProfile,
    private readonly log: Logger,
  ) {}

  async apply(config: AgentConfig): Promise<void> {
    const { otlp, remote_write: rw } = config.event_config.sinks;
    // The pushers export the metric server's series: off with it (enableMetricServer: false).
    const on = config.metric_config.enabled;
    this.otlp = await this.reconcile('otlp', this.otlp, on && otlp.enabled && otlp.metrics ? otlp : undefined, (settings) =>
      new OtlpMetricsPusher({
        config: settings, collect: this.collect,
        onError: (m) => this.log.warn('otlp metrics', { error: m }), onReachability: logReachability(this.log, 'otlp metrics'),
      }));
    this.remoteWrite = await this.reconcile('remote_write', this.remoteWrite, on && rw.enabled ? rw : undefined, (settings) =>
      new RemoteWritePusher({
        config: settings, collect: this.collect, naming: this.naming,
        onError: (m) => this.log.warn('remote write', { error: m }), onReachability: logReachability(this.log, 'remote write'),
      }));
  }

  private async reconcile<S, T extends { start(): void; close(): Promise<void> }>(
    name: string, current: Running<T> | undefined, settings: S | undefined, build: (s: S) => T,
  ): Promise<Running<T> | undefined> {
    if (current && isDeepStrictEqual(current.settings, settings)) return current;
    let next: Running<T> | undefined;
    if (settings !== undefined) {
      try {
        next = { settings: structuredClone(settings), pusher: build(settings) };
      } catch (e) {
        this.errors.set(name, (e as Error).message);
        this.log.error('metric exporter not applied', { exporter: name, error: (e as Error).message });
        return current; // the previous one, if any, keeps running
      }
    }
    this.errors.delete(name);
    await current?.pusher.close().catch((e) => this.log.warn('metric exporter did not close cleanly', { exporter: name, error: (e as Error).message }));
    next?.pusher.start();
    if (next || current) this.log.info(next ? 'metric exporter started' : 'metric exporter stopped', { exporter: name });
    return next;
  }

  async close(): Promise<void> {
    await this.otlp?.pusher.close();
    await this.remoteWrite?.pusher.close();
  }

  /** Exported points and drops per exporter. */
  metrics(): SelfMetric[] {
    const sent: SelfMetric['points'] = [];
    const dropped: SelfMetric['points'] = [];
    if (this.otlp) {
      const s = this.otlp.pusher.stats();
      sent.push({ attributes: { exporter: 'otlp' }, value: s.pointsSent });
      for (const [reason, n] of Object.entries(s.pointsDropped)) dropped.push({ attributes: { exporter: 'otlp', reason }, value: n });
    }
    if (this.remoteWrite) {
      const s = this.remoteWrite.pusher.stats();
      sent.push({ attributes: { exporter: 'remote_write' }, value: s.samplesSent });
      for (const [reason, n] of Object.entries(s.samplesDropped)) dropped.push({ attributes: { exporter: 'remote_write', reason }, value: n });
    }
    return [
      { name: 'netexporter_agent_export_points_sent_total', help: 'Metric points (samples) delivered by the push exporters.', type: 'counter', points: sent },
      { name: 'netexporter_agent_export_points_dropped_total', help: 'Metric points (samples) the push exporters gave up on, by reason.', type: 'counter', points: dropped },
    ];
  }

  status(): Record<string, unknown> {
    return {
      otlp: this.otlp ? this.otlp.pusher.stats() : null,
      remote_write: this.remoteWrite ? this.remoteWrite.pusher.stats() : null,
      errors: Object.fromEntries(this.errors),
    };
  }
}
