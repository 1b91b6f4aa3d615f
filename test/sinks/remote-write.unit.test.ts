// Prometheus remote write against a strict receiver that decodes snappy + protobuf with its own
// copy of the spec's messages and checks sorted labels, the spec's headers, basic auth, and the
// retry rules (5xx/429 retried, other 4xx dropped and counted). A real Prometheus storing the
// pushes is remote-write-prometheus.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import protobuf from 'protobufjs';
import { DEFAULT_CONFIG } from '../../src/config/defaults.js';
import { toPrometheusText } from '../../src/exporters/prometheus.js';
import { toTimeSeries } from '../../src/sinks/remote-write/index.js';
import { canonical, remoteWriteFixtures, textSeries } from '../helpers/remote-write.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const snappy = createRequire(import.meta.url)('snappyjs') as { uncompress(b: Uint8Array): Uint8Array };

// The receiver's own reading of the remote write 1.0 messages.
const WriteRequest = protobuf.parse(`
syntax = "proto3";
message WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
message MetricMetadata { int32 type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
`).root.lookupType('WriteRequest');

interface Decoded { labels: Record<string, string>; value: number; timestamp: number }
interface Received { headers: IncomingHttpHeaders; httpVersion: string; series: Decoded[]; metadata: any[]; error?: string }

const dir = mkdtempSync(join(tmpdir(), 'kubesonar-rw-'));
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });
const { metrics, agentTelemetry, pusher } = remoteWriteFixtures(cleanups);

class StrictReceiver {
  readonly received: Received[] = [];
  readonly script: { status: number; headers?: Record<string, string> }[] = [];
  private server?: Server;

  async start(): Promise<string> {
    this.server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const rec: Received = { headers: req.headers, httpVersion: req.httpVersion, series: [], metadata: [] };
        try {
          assert.equal(req.method, 'POST');
          assert.equal(req.url, '/api/v1/write');
          const msg = WriteRequest.toObject(WriteRequest.decode(snappy.uncompress(Buffer.concat(chunks))), { longs: Number, defaults: true }) as any;
          rec.metadata = msg.metadata;
          for (const ts of msg.timeseries) {
            const names = ts.labels.map((l: any) => l.name);
            assert.deepEqual(names, [...names].sort(), `labels sorted by name: ${names}`);
            assert.equal(new Set(names).size, names.length, 'label names unique');
            assert.ok(names.includes('__name__'));
            for (const l of ts.labels) assert.notEqual(l.value, '', `label ${l.name} has an empty value`);
            assert.equal(ts.samples.length, 1);
            rec.series.push({ labels: Object.fromEntries(ts.labels.map((l: any) => [l.name, l.value])), value: ts.samples[0].value, timestamp: ts.samples[0].timestamp });
          }
        } catch (err) {
          rec.error = (err as Error).message;
        }
        this.received.push(rec);
        const s = rec.error ? { status: 400 } : this.script.shift() ?? { status: 204 };
        res.writeHead(s.status, s.headers).end(rec.error);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    cleanups.push(() => { this.server!.closeAllConnections(); return new Promise((r) => this.server!.close(r)); });
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/api/v1/write`;
  }
}

describe('strict receiver', () => {
  test('snappy + protobuf, sorted labels, the spec headers, basic auth from the password file, metadata, histograms', async () => {
    const rx = new StrictReceiver();
    const url = await rx.start();
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'ak-secret\n');
    const m = metrics();
    const lat = m.meter.createHistogram('netexporter_dns_latency_seconds', { description: 'DNS latency', advice: { explicitBucketBoundaries: [0.1, 1] } });
    lat.record(0.05, { netns: 'ns1' });
    lat.record(0.5, { netns: 'ns1' });
    const p = pusher({ config: { url, username: 'LTAIakid', password_file: secretFile, headers: { 'X-Extra': 'yes', 'Content-Type': 'text/plain', Authorization: 'Bearer x' } }, collect: m.collect });
    const before = Date.now();
    assert.equal(await p.pushOnce(), true);
    assert.equal(rx.received.length, 1);
    const r = rx.received[0]!;
    assert.equal(r.error, undefined);
    assert.equal(r.httpVersion, '1.1');
    assert.equal(r.headers['content-encoding'], 'snappy');
    assert.equal(r.headers['content-type'], 'application/x-protobuf');
    assert.equal(r.headers['x-prometheus-remote-write-version'], '0.1.0');
    assert.equal(r.headers['user-agent'], 'kubesonar/0.1.0');
    assert.equal(r.headers['x-extra'], 'yes');
    assert.equal(r.headers.authorization, `Basic ${Buffer.from('LTAIakid:ak-secret').toString('base64')}`);
    const byKey = new Map(r.series.map((s) => [JSON.stringify(s.labels), s]));
    const get = (labels: Record<string, string>) => {
      const s = byKey.get(JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))));
      assert.ok(s, `series ${JSON.stringify(labels)} in ${[...byKey.keys()].join('\n')}`);
      return s;
    };
    // k8s.pod.ip was empty: no label at all.
    assert.equal(get({ __name__: 'netexporter_tcp_activeopens', k8s_namespace: 'default', k8s_node: 'node-a', k8s_pod: 'web-0', netns: 'ns4026532281' }).value, 42);
    assert.equal(get({ __name__: 'netexporter_tcp_currestab', k8s_node: 'node-a', netns: 'ns4026531840' }).value, 3);
    assert.equal(get({ __name__: 'netexporter_dns_latency_seconds_bucket', k8s_node: 'node-a', le: '0.1', netns: 'ns1' }).value, 1);
    assert.equal(get({ __name__: 'netexporter_dns_latency_seconds_bucket', k8s_node: 'node-a', le: '1', netns: 'ns1' }).value, 2);
    assert.equal(get({ __name__: 'netexporter_dns_latency_seconds_bucket', k8s_node: 'node-a', le: '+Inf', netns: 'ns1' }).value, 2);
    assert.equal(get({ __name__: 'netexporter_dns_latency_seconds_sum', k8s_node: 'node-a', netns: 'ns1' }).value, 0.55);
    assert.equal(get({ __name__: 'netexporter_dns_latency_seconds_count', k8s_node: 'node-a', netns: 'ns1' }).value, 2);
    assert.equal(r.series.length, 7);
    for (const s of r.series) assert.ok(s.timestamp >= before - 1000 && s.timestamp <= Date.now(), `timestamp ${s.timestamp} in ms`);
    assert.deepEqual(r.metadata.map((x: any) => [x.metricFamilyName, x.type]).sort(), [
      ['netexporter_dns_latency_seconds', 3], ['netexporter_tcp_activeopens', 1], ['netexporter_tcp_currestab', 2],
    ]);
    assert.deepEqual(p.stats(), { pushes: 1, failedPushes: 0, requests: 1, retries: 0, samplesSent: 7, samplesDropped: {}, lastSuccessUnixMs: p.stats().lastSuccessUnixMs, queue: { requests: 0, samples: 0, bytes: 0 } });

    // The password file is read at every push: rotation needs no restart.
    writeFileSync(secretFile, 'rotated');
    assert.equal(await p.pushOnce(), true);
    assert.equal(rx.received[1]!.headers.authorization, `Basic ${Buffer.from('LTAIakid:rotated').toString('base64')}`);
  });

  test('the config loader\'s remote_write section (empty username and password_file): no basic auth', async () => {
    const rx = new StrictReceiver();
    const url = await rx.start();
    const p = pusher({ config: { ...DEFAULT_CONFIG.event_config.sinks.remote_write, enabled: true, url }, collect: metrics().collect });
    assert.equal(await p.pushOnce(), true);
    assert.equal(rx.received[0]!.headers.authorization, undefined);
    assert.equal(p.intervalMs, 30_000);
  });

  test('for both naming profiles, the series are those of the Prometheus text of the same collection', async () => {
    const rm = await agentTelemetry('node-a')();
    for (const profile of ['netexporter', 'inspector'] as const) {
      const { series, duplicates } = toTimeSeries(rm, profile);
      assert.equal(duplicates, 0);
      const decoded = series.map((t) => ({ labels: Object.fromEntries(t.labels.map((l) => [l.name, l.value])), value: t.samples[0]!.value }));
      const expected = textSeries(toPrometheusText(rm, profile));
      assert.ok(expected.length >= 10, `${expected.length} series`);
      assert.deepEqual(canonical(decoded), expected);
    }
  });

  test('two data points with one label set: the first is sent, the other counted as duplicate_series', async () => {
    const rx = new StrictReceiver();
    const url = await rx.start();
    const m = metrics();
    m.opens.add(5, { netns: 'ns4026532281', 'k8s.namespace.name': 'default', 'k8s.pod.name': 'web-0' }); // no k8s.pod.ip: same labels
    const p = pusher({ config: { url }, collect: m.collect });
    assert.equal(await p.pushOnce(), true);
    const opens = rx.received[0]!.series.filter((s) => s.labels.__name__ === 'netexporter_tcp_activeopens');
    assert.deepEqual(opens.map((s) => s.value), [42]);
    assert.deepEqual(p.stats().samplesDropped, { duplicate_series: 1 });
    assert.equal(p.stats().samplesSent, 2);
  });

  test('500 then 429 (Retry-After) are retried until accepted; 400 is dropped and counted without a retry', async () => {
    const rx = new StrictReceiver();
    const url = await rx.start();
    rx.script.push({ status: 500 }, { status: 429, headers: { 'retry-after': '1' } });
    const m = metrics();
    const errors: string[] = [];
    const p = pusher({ config: { url, interval_seconds: 10 }, collect: m.collect, onError: (e) => errors.push(e) });
    assert.equal(await p.pushOnce(), true);
    assert.equal(rx.received.length, 3);
    assert.deepEqual(rx.received.map((r) => r.series.length), [2, 2, 2]);
    assert.deepEqual(p.stats().samplesDropped, {});
    assert.equal(p.stats().retries, 2);
    assert.equal(p.stats().samplesSent, 2);

    rx.script.push({ status: 400 }, { status: 404 });
    assert.equal(await p.pushOnce(), false);
    assert.equal(rx.received.length, 4);
    assert.equal(await p.pushOnce(), false);
    assert.equal(rx.received.length, 5);
    const st = p.stats();
    assert.deepEqual(st.samplesDropped, { http_400: 2, http_404: 2 });
    assert.equal(st.samplesSent, 2);
    assert.equal(st.failedPushes, 2);
    assert.match(st.lastError!, /HTTP 404/);
    assert.deepEqual(errors.map((e) => e.replace(/: HTTP.*/, '')), ['remote write: 2 dropped (http_400)', 'remote write: 2 dropped (http_404)']);
  });

  test('a collection that fails is a failed push, counted and told, and sends nothing; the next one goes out', async () => {
    const rx = new StrictReceiver();
    const url = await rx.start();
    const m = metrics();
    let fail = true;
    const errors: string[] = [];
    const p = pusher({ config: { url }, collect: async () => { if (fail) throw new Error('reader gone'); return m.collect(); }, onError: (e) => errors.push(e) });
    assert.equal(await p.pushOnce(), false);
    assert.equal(rx.received.length, 0);
    assert.deepEqual([p.stats().pushes, p.stats().failedPushes, p.stats().lastError], [1, 1, 'reader gone']);
    assert.deepEqual(errors, ['remote write: 0 dropped (collect_error): reader gone']);
    fail = false;
    assert.equal(await p.pushOnce(), true);
    assert.equal(rx.received.length, 1);
    assert.deepEqual([p.stats().pushes, p.stats().failedPushes], [2, 1]);
  });

  test('a push that cannot be encoded is a failed push, counted and told, not an exception', async () => {
    const rx = new StrictReceiver();
    const url = await rx.start();
    const errors: string[] = [];
    const p = pusher({ config: { url }, collect: metrics().collect, naming: () => { throw new Error('no naming profile'); }, onError: (e) => errors.push(e) });
    assert.equal(await p.pushOnce(), false);
    assert.equal(rx.received.length, 0);
    assert.deepEqual([p.stats().pushes, p.stats().failedPushes, p.stats().lastError], [1, 1, 'no naming profile']);
    assert.deepEqual(errors, ['remote write: 0 dropped (encode_error): no naming profile']);
  });

  test('5xx beyond the retry budget: dropped as retries_exhausted; requests are split by maxSamplesPerRequest', async () => {
    const rx = new StrictReceiver();
    const url = await rx.start();
    for (let i = 0; i < 50; i++) rx.script.push({ status: 503 });
    const m = metrics();
    // A 3 s budget fits three tries (backoff ~250 + ~500 ms) even with slow round trips on a loaded machine.
    const p = pusher({ config: { url, interval_seconds: 1 }, collect: m.collect, maxSamplesPerRequest: 1, retryBudgetMs: 3000 });
    assert.equal(await p.pushOnce(), false);
    // The first request is retried until its max age; the second, of the same collection, is not tried once the first gave up.
    assert.deepEqual(p.stats().samplesDropped, { retries_exhausted: 2 });
    assert.ok(rx.received.length >= 3, `retried: ${rx.received.length} requests`);
    assert.ok(rx.received.every((r) => r.series.length === 1 && r.series[0]!.labels.__name__ === rx.received[0]!.series[0]!.labels.__name__));
    rx.script.splice(0);
    assert.equal(await p.pushOnce(), true);
    assert.deepEqual(rx.received.slice(-2).map((r) => r.series.length), [1, 1]);
  });

  test('start() pushes every interval_seconds until close()', async () => {
    const rx = new StrictReceiver();
    const url = await rx.start();
    const p = pusher({ config: { url, interval_seconds: 1 }, collect: metrics().collect });
    p.start();
    await waitFor('two pushes', () => rx.received.length >= 2, 5000);
    await p.close();
    const n = rx.received.length;
    assert.ok(n >= 2, `${n} pushes`);
    // Longer than the 1 s interval: a push still scheduled would have come.
    await holdsFor('no push after close()', () => rx.received.length === n, 1300);
  });
});

after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});
