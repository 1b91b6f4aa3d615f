// The Prometheus text the endpoint serves, from real OTel ResourceMetrics built by the
// snapshot producer: names, TYPE lines, labels and escaping in both naming profiles.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValueType } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { toPrometheusText, writePrometheusText } from '../../src/exporters/prometheus.js';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Entity } from '../../src/model.js';
import { Collector, type Snapshot } from '../../src/pipeline/collector.js';
import { createTelemetry } from '../../src/exporters/telemetry.js';

const host: Entity = { netns: 4026531840, isHost: true, pids: [1] };
const pod: Entity = {
  netns: 4026532001, isHost: false, pids: [42],
  pod: { name: 'nginx-1', namespace: 'default', uid: 'u1', ip: '10.244.0.7', labels: { app: 'web', 'app.kubernetes.io/part-of': 'shop "x"' }, source: 'cri' },
};

function fixedCollector(snapshot: Snapshot): Collector {
  const c = new Collector({ discover: async () => snapshot.entities }, {} as never);
  Object.defineProperty(c, 'snapshot', { get: () => snapshot });
  return c;
}

const snapshot: Snapshot = {
  time: Date.now(), entities: [host, pod], durationMs: 3, cpuMs: 2, firstSeen: new Map([[pod.netns, Date.now() - 1000]]),
  samples: [
    { probe: 'tcp', metric: 'attemptfails', value: 3, entity: pod },
    { probe: 'tcp', metric: 'currestab', value: 2, entity: host },
    { probe: 'netdev', metric: 'rxbytes', value: 1500, entity: pod, labels: { if_name: 'eth0' } },
  ],
};

async function render(naming: 'netexporter' | 'inspector', verbose = false): Promise<string> {
  const t = createTelemetry('node-a', fixedCollector(snapshot), () => verbose);
  const { resourceMetrics } = await t.pull.collect();
  await t.shutdown();
  return toPrometheusText(resourceMetrics, naming);
}

test('KCE names and labels, counter TYPE without _total', async () => {
  const text = await render('netexporter');
  assert.match(text, /^# TYPE netexporter_tcp_attemptfails counter$/m);
  assert.match(text, /^netexporter_tcp_attemptfails\{k8s_node="node-a",netns="ns4026532001",k8s_namespace="default",k8s_pod="nginx-1"\} 3$/m);
  assert.match(text, /^# TYPE netexporter_tcp_currestab gauge$/m);
  assert.match(text, /^netexporter_tcp_currestab\{k8s_node="node-a",netns="ns4026531840"\} 2$/m);
  assert.match(text, /^netexporter_netdev_rxbytes\{k8s_node="node-a",netns="ns4026532001",k8s_namespace="default",k8s_pod="nginx-1",if_name="eth0"\} 1500$/m);
  assert.doesNotMatch(text, /_total\{|otel_scope|target_info|k8s_pod_ip/);
  assert.match(text, /^netexporter_agent_entities\{k8s_node="node-a"\} 2$/m);
});

test('inspector profile: ACK names and labels', async () => {
  const text = await render('inspector');
  assert.match(text, /^# TYPE inspector_pod_tcpattemptfails counter$/m);
  assert.match(text, /^inspector_pod_tcpattemptfails\{node="node-a",netns="ns4026532001",namespace="default",pod="nginx-1"\} 3$/m);
  assert.match(text, /^inspector_pod_netdevrxbytes\{node="node-a",netns="ns4026532001",namespace="default",pod="nginx-1",if_name="eth0"\} 1500$/m);
  assert.doesNotMatch(text, /^netexporter_tcp/m);
});

test('verbose adds pod IP and pod labels, escaped', async () => {
  const text = await render('netexporter', true);
  assert.match(text, /^netexporter_tcp_attemptfails\{[^}]*k8s_pod_ip="10\.244\.0\.7",label_app="web",label_app_kubernetes_io_part_of="shop \\"x\\""\} 3$/m);
});

test('a namespace that left is gone from the next scrape', async () => {
  const snap = { ...snapshot, samples: [...snapshot.samples] };
  const c = fixedCollector(snap);
  const t = createTelemetry('node-a', c, () => false);
  assert.match(toPrometheusText((await t.pull.collect()).resourceMetrics, 'netexporter'), /nginx-1/);
  snap.entities = [host];
  snap.samples = snap.samples.filter((s) => s.entity === host);
  assert.doesNotMatch(toPrometheusText((await t.pull.collect()).resourceMetrics, 'netexporter'), /nginx-1|ns4026532001/);
  await t.shutdown();
});

test('histograms: cumulative buckets with le, _sum and _count', async () => {
  const { resource } = (await createTelemetry('node-a', fixedCollector(snapshot), () => false).pull.collect()).resourceMetrics;
  const histogram = {
    descriptor: { name: 'netexporter_test_latency', description: 'A test histogram.', unit: 's', valueType: ValueType.DOUBLE },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.HISTOGRAM,
    dataPoints: [{
      startTime: [0, 0], endTime: [1, 0], attributes: { netns: 'ns1', 'k8s.pod.name': 'p' },
      value: { buckets: { boundaries: [0.001, 0.01], counts: [2, 3, 1] }, sum: 0.05, count: 6, min: undefined, max: undefined },
    }],
  } as MetricData;
  const text = toPrometheusText({ resource, scopeMetrics: [{ scope: { name: 't' }, metrics: [histogram] }] }, 'netexporter');
  const pre = 'netexporter_test_latency';
  const lbl = 'k8s_node="node-a",netns="ns1",k8s_pod="p"';
  assert.match(text, new RegExp(`^# TYPE ${pre} histogram$`, 'm'));
  assert.ok(text.includes(`${pre}_bucket{${lbl},le="0.001"} 2\n${pre}_bucket{${lbl},le="0.01"} 5\n${pre}_bucket{${lbl},le="+Inf"} 6\n${pre}_sum{${lbl}} 0.05\n${pre}_count{${lbl}} 6\n`), text);
});

test('a large exposition is written in chunks of whole lines that add up to the text', () => {
  const t: [number, number] = [1, 0];
  const metric = {
    descriptor: { name: 'netexporter_tcp_currestab', description: 'Established connections.', unit: '1', valueType: ValueType.DOUBLE },
    aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE,
    dataPoints: Array.from({ length: 5000 }, (_, i) => ({ startTime: t, endTime: t, attributes: { netns: `ns${4026532000 + i}`, 'k8s.pod.name': `pod-${i}` }, value: i })),
  } as MetricData;
  const rm = { resource: resourceFromAttributes({ 'k8s.node.name': 'node-1' }), scopeMetrics: [{ scope: { name: 'kubesonar' }, metrics: [metric] }] };
  const chunks: string[] = [];
  writePrometheusText(rm, 'netexporter', (c) => chunks.push(c));
  assert.ok(chunks.length > 1, `${chunks.length} chunk(s)`);
  for (const c of chunks) assert.ok(c.endsWith('\n'));
  const text = toPrometheusText(rm, 'netexporter');
  assert.equal(chunks.join(''), text);
  assert.equal(text.split('\n').length, 5000 + 2 + 1); // HELP, TYPE, the series, the final newline
  assert.match(text, /^netexporter_tcp_currestab\{k8s_node="node-1",netns="ns4026536999",k8s_pod="pod-4999"\} 4999$/m);
});
