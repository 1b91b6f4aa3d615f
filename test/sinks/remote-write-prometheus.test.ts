// Prometheus remote write into a real Prometheus (Debian's package, remote-write receiver on):
// it stores the pushed series and answers PromQL with the right names, labels and values, in
// both naming profiles, and refuses a conflicting sample with a 400 that is counted.
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { toPrometheusText } from '../../src/exporters/prometheus.js';
import { freePort } from '../helpers/net.js';
import { startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';
import { canonical, remoteWriteFixtures, textSeries } from '../helpers/remote-write.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'kubesonar-rw-'));
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });
const { metrics, agentTelemetry, pusher } = remoteWriteFixtures(cleanups);

describe('real Prometheus', () => {
  let prometheus: TestPrometheus;
  let promUrl: string;

  // A remote-write receiver only: it scrapes nothing.
  before(async () => {
    prometheus = await startPrometheus(dir, [], '1m');
    promUrl = prometheus.url;
  });

  after(async () => {
    await prometheus?.stop();
  });

  const query = (q: string) => prometheus.query(q);

  test('stores the pushed series; PromQL returns them with names, labels and values of both naming profiles', async () => {
    const m = metrics();
    const url = `${promUrl}/api/v1/write`;
    const kce = pusher({ config: { url }, collect: m.collect, externalLabels: { cluster: 'c1' } });
    assert.equal(await kce.pushOnce(), true);
    assert.deepEqual(kce.stats().samplesDropped, {});
    assert.equal(kce.stats().samplesSent, 2);

    const opens = await query('netexporter_tcp_activeopens');
    assert.deepEqual(opens.map((r) => r.metric), [{
      __name__: 'netexporter_tcp_activeopens', cluster: 'c1', k8s_node: 'node-a', k8s_namespace: 'default', k8s_pod: 'web-0', netns: 'ns4026532281',
    }]);
    assert.equal(opens[0]!.value[1], '42');
    const estab = await query('netexporter_tcp_currestab{netns="ns4026531840"}');
    assert.deepEqual(estab.map((r) => [r.metric, r.value[1]]), [[{ __name__: 'netexporter_tcp_currestab', cluster: 'c1', k8s_node: 'node-a', netns: 'ns4026531840' }, '3']]);

    // The counter grows between pushes and Prometheus sees the increase. The second sample comes
    // a second after the first, as from a pusher with interval_seconds 1: a time the test sets, not a wait.
    await sleep(1100);
    m.opens.add(8, m.pod);
    assert.equal(await kce.pushOnce(), true);
    const inc = await query('increase(netexporter_tcp_activeopens[1m])');
    assert.ok(Number(inc[0]!.value[1]) > 0, `increase ${inc[0]?.value[1]}`);
    assert.equal((await query('max_over_time(netexporter_tcp_activeopens[1m])'))[0]!.value[1], '50');

    const ack = pusher({ config: { url }, collect: m.collect, naming: 'inspector' });
    assert.equal(await ack.pushOnce(), true);
    const inspector = await query('inspector_pod_tcpactiveopens');
    assert.deepEqual(inspector.map((r) => [r.metric, r.value[1]]), [[{
      __name__: 'inspector_pod_tcpactiveopens', node: 'node-a', namespace: 'default', pod: 'web-0', netns: 'ns4026532281',
    }, '50']]);
  });

  test('the agent\'s telemetry: Prometheus holds exactly the series /metrics serves (names, labels, values)', async () => {
    const collect = agentTelemetry('node-e2e');
    const p = pusher({ config: { url: `${promUrl}/api/v1/write` }, collect });
    assert.equal(await p.pushOnce(), true);
    const stored = await query('{k8s_node="node-e2e"}');
    const text = toPrometheusText(await collect(), 'netexporter');
    assert.deepEqual(canonical(stored.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }))), textSeries(text));
    assert.ok(stored.some((r) => r.metric.label_app === 'web' && r.metric.k8s_pod_ip === '10.1.2.3' && r.metric.if_name === 'eth0'));
  });

  test('Prometheus rejects a conflicting sample with 400: dropped and counted, not retried', async () => {
    const m = metrics();
    const rm = await m.collect(); // fixed timestamps from here on
    let bump = 0;
    const p = pusher({
      config: { url: `${promUrl}/api/v1/write` },
      collect: async () => {
        for (const s of rm.scopeMetrics) for (const metric of s.metrics) for (const dp of metric.dataPoints) (dp as { value: number }).value += bump;
        return rm;
      },
    });
    assert.equal(await p.pushOnce(), true);
    // Same series and timestamps, other values: Prometheus answers 400 (duplicate sample for timestamp).
    bump = 1;
    assert.equal(await p.pushOnce(), false);
    const st = p.stats();
    assert.deepEqual(st.samplesDropped, { http_400: 2 });
    assert.match(st.lastError!, /^HTTP 400/);
    assert.equal(st.retries, 0);
    assert.equal(st.requests, 2);
    assert.equal(st.samplesSent, 2);
  });

  test('Prometheus unreachable for a while: the samples of the outage are kept and arrive afterwards, in order, none dropped', async (t) => {
    // A TCP forwarder in front of Prometheus: closing it makes the receiver unreachable (connection refused).
    const port = await freePort();
    const target = new URL(promUrl);
    const sockets = new Set<Socket>();
    let server: Server | undefined;
    const up = async () => {
      server = createServer((c) => {
        const p = connect(Number(target.port), target.hostname);
        for (const s of [c, p]) { sockets.add(s); s.on('close', () => sockets.delete(s)).on('error', () => {}); }
        c.pipe(p).pipe(c);
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    };
    const down = async () => {
      const s = server!;
      for (const sock of sockets) sock.destroy();
      await new Promise((resolve) => s.close(resolve));
    };
    cleanups.push(() => (server?.listening ? down() : undefined));
    await up();
    const m = metrics();
    const pod = { ...m.pod, 'k8s.pod.name': 'outage-0' };
    // Every collection: the counter one higher, at its own timestamp.
    const p = pusher({
      config: { url: `http://127.0.0.1:${port}/api/v1/write`, interval_seconds: 1, min_backoff_ms: 10, max_backoff_ms: 200, max_age_ms: 120_000 },
      collect: async () => { m.opens.add(1, pod); return m.collect(); },
    });
    p.start();
    await waitFor('pushes delivered', () => p.stats().samplesSent >= 6, 20_000);
    await down();
    await waitFor('collections queued during the outage', () => p.stats().queue.requests >= 5, 20_000);
    const queuedAtEnd = p.stats().queue;
    await up();
    await waitFor('the queue sent', () => p.stats().queue.requests === 0, 20_000);
    await p.close();
    const st = p.stats();
    assert.deepEqual(st.samplesDropped, {}, 'nothing dropped: in time order, so Prometheus took every sample');
    // Every collection carried the series once: Prometheus holds one sample per collection.
    const series = (await query('{__name__=~".*activeopens.*"}')).find((r) => Object.values(r.metric).includes('outage-0'));
    assert.ok(series, 'the outage series is stored');
    const selector = `{${Object.entries(series.metric).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    const [count] = await query(`count_over_time(${selector}[10m])`);
    const pushes = st.pushes;
    assert.equal(Number(count!.value[1]), pushes, `one sample per collection (${pushes})`);
    const [resets] = await query(`resets(${selector}[10m])`);
    assert.equal(Number(resets!.value[1]), 0, 'the counter never went back: the samples arrived in order');
    t.diagnostic(`${pushes} collections, ${queuedAtEnd.requests} requests (${queuedAtEnd.bytes} bytes) queued at the end of the outage, ${st.retries} retries, 0 dropped`);
  });
});

after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});
