// The push exporters of metrics, reconciled components like the sinks: OTLP metrics and
// Prometheus remote write (ARMS). Both pull the same ResourceMetrics the /metrics endpoint serves.
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { AgentConfig } from '../config/index.js';
import type { NamingProfile } from '../exporters/prometheus.js';
import type { SelfMetric } from '../exporters/telemetry.js';
import type { Logger } from '../log.js';
import { OtlpMetricsPusher } from '../sinks/otlp/index.js';
import { RemoteWritePusher } from '../sinks/remote-write/index.js';
import { logReachability } from '../transport/index.js';
import { Reconciled, type Component } from './reconcile.js';

interface Pusher {
  start(): void;
  close(): Promise<void>;
}

export class MetricPushers {
  private readonly otlp: Reconciled<AgentConfig['event_config']['sinks']['otlp'], OtlpMetricsPusher>;
  private readonly remoteWrite: Reconciled<AgentConfig['event_config']['sinks']['remote_write'], RemoteWritePusher>;

  constructor(
    private readonly collect: () => Promise<ResourceMetrics>,
    private readonly naming: () => NamingProfile,
    private readonly log: Logger,
  ) {
    this.otlp = new Reconciled(this.component('otlp', (settings) =>
      new OtlpMetricsPusher({
        config: settings, collect: this.collect,
        onError: (m) => this.log.warn('otlp metrics', { error: m }), onReachability: logReachability(this.log, 'otlp metrics'),
      })));
    this.remoteWrite = new Reconciled(this.component('remote_write', (settings) =>
      new RemoteWritePusher({
        config: settings, collect: this.collect, naming: this.naming,
        onError: (m) => this.log.warn('remote write', { error: m }), onReachability: logReachability(this.log, 'remote write'),
      })));
  }

  private component<S, T extends Pusher>(name: string, create: (s: S) => T): Component<S, T> {
    return {
      name: `event_config.sinks.${name}`,
      build: async (s) => {
        const pusher = create(s);
        pusher.start();
        this.log.info('metric exporter started', { exporter: name });
        return pusher;
      },
      close: async (pusher, replacedBy) => {
        await pusher.close().catch((e: Error) => this.log.warn('metric exporter did not close cleanly', { exporter: name, error: e.message }));
        if (!replacedBy) this.log.info('metric exporter stopped', { exporter: name });
      },
    };
  }

  /** The pushers export the metric server's series: off with it (enableMetricServer: false). */
  async apply(config: AgentConfig): Promise<string[]> {
    const { otlp, remote_write: rw } = config.event_config.sinks;
    const on = config.metric_config.enabled;
    const problems: string[] = [];
    for (const [part, settings] of [[this.otlp, on && otlp.enabled && otlp.metrics ? otlp : undefined], [this.remoteWrite, on && rw.enabled ? rw : undefined]] as const) {
      const problem = await (part as Reconciled<unknown, Pusher>).apply(settings);
      if (problem) {
        problems.push(problem);
        this.log.error('metric exporter not applied', { error: problem });
      }
    }
    return problems;
  }

  async close(): Promise<void> {
    await this.otlp.close();
    await this.remoteWrite.close();
  }

  /** Exported points and drops per exporter. */
  metrics(): SelfMetric[] {
    const sent: SelfMetric['points'] = [];
    const dropped: SelfMetric['points'] = [];
    const otlp = this.otlp.instance?.stats();
    if (otlp) {
      sent.push({ attributes: { exporter: 'otlp' }, value: otlp.pointsSent });
      for (const [reason, n] of Object.entries(otlp.pointsDropped)) dropped.push({ attributes: { exporter: 'otlp', reason }, value: n });
    }
    const rw = this.remoteWrite.instance?.stats();
    if (rw) {
      sent.push({ attributes: { exporter: 'remote_write' }, value: rw.samplesSent });
      for (const [reason, n] of Object.entries(rw.samplesDropped)) dropped.push({ attributes: { exporter: 'remote_write', reason }, value: n });
    }
    return [
      { name: 'netexporter_agent_export_points_sent_total', help: 'Metric points (samples) delivered by the push exporters.', type: 'counter', points: sent },
      { name: 'netexporter_agent_export_points_dropped_total', help: 'Metric points (samples) the push exporters gave up on, by reason.', type: 'counter', points: dropped },
    ];
  }

  status(): Record<string, unknown> {
    const errors: Record<string, string> = {};
    if (this.otlp.error) errors.otlp = this.otlp.error;
    if (this.remoteWrite.error) errors.remote_write = this.remoteWrite.error;
    return { otlp: this.otlp.instance?.stats() ?? null, remote_write: this.remoteWrite.instance?.stats() ?? null, errors };
  }
}
