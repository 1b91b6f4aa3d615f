// What the remote write tests push: metrics from a real MeterProvider, the agent's own
// telemetry of a fixed snapshot, and the series of a Prometheus text to compare against.
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { createTelemetry, PullMetricReader } from '../../src/exporters/telemetry.js';
import type { Entity } from '../../src/model.js';
import type { Collector, Snapshot } from '../../src/pipeline/collector.js';
import { RemoteWritePusher, type RemoteWritePusherOptions } from '../../src/sinks/remote-write/index.js';

/** Builders whose providers, telemetry and pushers are closed by the caller's `cleanups`. */
export function remoteWriteFixtures(cleanups: (() => Promise<unknown> | void)[]) {
  /** Metrics as the agent's PullMetricReader delivers them, from a real MeterProvider. */
  function metrics() {
    const reader = new PullMetricReader();
    const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'kubesonar-agent', 'k8s.node.name': 'node-a' }), readers: [reader] });
    cleanups.push(() => provider.shutdown());
    const meter = provider.getMeter('kubesonar', '0.1.0');
    const opens = meter.createCounter('netexporter_tcp_activeopens', { description: 'Connections started.' });
    const estab = meter.createGauge('netexporter_tcp_currestab', { description: 'Established connections.' });
    const pod = { netns: 'ns4026532281', 'k8s.namespace.name': 'default', 'k8s.pod.name': 'web-0', 'k8s.pod.ip': '' };
    opens.add(41, pod);
    opens.add(1, pod);
    estab.record(3, { netns: 'ns4026531840' });
    return { reader, meter, opens, pod, collect: async () => (await reader.collect()).resourceMetrics };
  }

  /** A snapshot as the collector publishes it: the host and one pod (with pod labels), real catalogue metrics. */
  function agentTelemetry(nodeName: string) {
    const host: Entity = { netns: 4026531840, isHost: true, pids: [1] };
    const pod: Entity = { netns: 4026532999, isHost: false, pids: [4242], pod: { name: 'web-1', namespace: 'shop', uid: 'u1', ip: '10.1.2.3', labels: { app: 'web', 'app.kubernetes.io/tier': 'front' }, source: 'cri' } };
    const snap: Snapshot = {
      time: Date.now(), entities: [host, pod], firstSeen: new Map([[pod.netns, Date.now() - 60_000]]), durationMs: 12, cpuMs: 9,
      samples: [
        { probe: 'tcp', metric: 'activeopens', value: 120, entity: host },
        { probe: 'tcp', metric: 'activeopens', value: 7, entity: pod },
        { probe: 'tcp', metric: 'currestab', value: 3, entity: pod },
        { probe: 'netdev', metric: 'rxpackets', value: 99, labels: { if_name: 'eth0' }, entity: pod },
        { probe: 'netdev', metric: 'rxpackets', value: 5, labels: { if_name: 'lo' }, entity: pod },
      ],
    };
    const collector = { snapshot: snap, status: () => ({ tcp: { state: 'ok', notes: [], errors: 0, lastDurationMs: 1 } }) } as unknown as Collector;
    const t = createTelemetry(nodeName, collector, () => true);
    cleanups.push(() => t.shutdown());
    return async () => (await t.pull.collect()).resourceMetrics;
  }

  function pusher(opts: RemoteWritePusherOptions): RemoteWritePusher {
    const p = new RemoteWritePusher(opts);
    cleanups.push(() => p.close());
    return p;
  }

  return { metrics, agentTelemetry, pusher };
}

/** `name{a="x",b="y"} value` lines of the Prometheus text (comments skipped), labels sorted. */
export function textSeries(text: string): string[] {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((line) => {
    const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(line)!;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}="${x[2]}"`).sort();
    return `${m[1]}{${labels.join(',')}} ${Number(m[3])}`;
  }).sort();
}

/** The same lines from decoded series (label `__name__` is the metric name). */
export function canonical(series: { labels: Record<string, string>; value: number }[]): string[] {
  return series.map(({ labels, value }) => {
    const { __name__, ...rest } = labels;
    return `${__name__}{${Object.entries(rest).map(([k, v]) => `${k}="${v}"`).sort().join(',')}} ${value}`;
  }).sort();
}
