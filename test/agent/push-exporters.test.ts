// The agent's push exporters, wired from its config file and hot-reloaded: OTLP metrics and
// logs into a strict OTLP receiver, their counters in /metrics, and stopping them by config.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { seriesValue, startAgent } from '../helpers/agent.js';
import { ConfigMapMount } from '../helpers/configmap.js';
import { OtlpReceiver } from '../helpers/otlp-receiver.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

test('OTLP metrics and logs follow the config: on, counted, then off', async () => {
  const rx = new OtlpReceiver();
  await rx.start();
  cleanups.push(() => rx.close());
  const dir = await mkdtemp(join(tmpdir(), 'kubesonar-exporters-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const mount = new ConfigMapMount(join(dir, 'cm'));
  const otlp = (enabled: boolean) => `metric_config: {interval: 1, probes: [tcp]}
event_config:
  probes: [kernelparam]
  sinks:
    stdout: {enabled: false}
    otlp: {enabled: ${enabled}, endpoint: "http://127.0.0.1:${rx.port}", protocol: http/protobuf, interval_seconds: 1}
`;
  await mount.create(otlp(true));
  const agent = await startAgent({ configPath: mount.path, port: 0 });
  cleanups.push(() => agent.stop());

  const metrics = await waitFor('a metrics export with the tcp series', () =>
    rx.requests.find((r) => r.path === '/v1/metrics' && JSON.stringify(r.message).includes('netexporter_tcp_activeopens')), 20_000);
  const rm0 = metrics.message.resourceMetrics[0];
  assert.ok(JSON.stringify(rm0.resource).includes('test-node'), 'k8s.node.name on the resource');
  await waitFor('the export counted in /metrics', async () =>
    (seriesValue(await agent.metrics(), 'netexporter_agent_export_points_sent_total', { exporter: 'otlp' }) ?? 0) > 0, 20_000);
  const status = await agent.status();
  assert.equal(status.exporters.remote_write, null);
  assert.ok(status.exporters.otlp.pushes >= 1);

  // Turned off by a ConfigMap update: no export after it is applied.
  await mount.update(otlp(false));
  await waitFor('the exporter stopped', async () => (await agent.status()).exporters.otlp === null, 20_000);
  const pushes = () => rx.requests.filter((r) => r.path === '/v1/metrics').length;
  const count = pushes();
  // Over more than two of its 1 s intervals.
  await holdsFor('no metrics export after the exporter stopped', () => pushes() === count, 2500);
  assert.ok(!(await agent.status()).events.sinks.otlp, 'the OTLP log sink is gone too');
});
