// OTLP/HTTP sinks against a strict receiver that decodes the real wire formats: every field of
// the log records (the event's exact ns timestamp), the resource, metrics as cumulative
// monotonic sums, gzip, headers, OTEL_EXPORTER_OTLP_* variables, and the retry rules.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { DEFAULT_CONFIG } from '../../src/config/defaults.js';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import type { EventRecord } from '../../src/events/model.js';
import type { Entity } from '../../src/model.js';
import type { Collector, Snapshot } from '../../src/pipeline/collector.js';
import { createTelemetry, PullMetricReader } from '../../src/exporters/telemetry.js';
import { OtlpLogSink, OtlpMetricsPusher, resolveOtlp } from '../../src/sinks/otlp/index.js';
import { decodeOtlp, kv, LogsResponse, otlpRoot, OtlpReceiver } from '../helpers/otlp-receiver.js';
import { freePort } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

async function receiver(): Promise<OtlpReceiver> {
  const r = new OtlpReceiver();
  await r.start();
  cleanups.push(() => r.close());
  return r;
}

function logSink(opts: ConstructorParameters<typeof OtlpLogSink>[0]): OtlpLogSink {
  const s = new OtlpLogSink({ env: {}, ...opts });
  cleanups.push(() => s.close());
  return s;
}

// Nanosecond digits a millisecond or float conversion would lose.
const T1 = 1763880000123456789n;
const T2 = 1763880001987654321n;

function record(time: bigint, severity: 'INFO' | 'WARN' | 'ERROR', type: string, attrs: Record<string, string | number>): EventRecord {
  const severityNumber = { INFO: 9, WARN: 13, ERROR: 17 }[severity];
  return {
    event: { timeUnixNano: time, type: type as never, probe: 'tcpreset', severity, msg: `${type} seen`, attrs: {} },
    timeUnixNano: time, severityNumber, severityText: severity, body: `${type} seen`,
    attributes: { 'event.type': type, 'event.probe': 'tcpreset', 'k8s.node.name': 'node-a', ...attrs },
  };
}

const BATCH = [
  record(T1, 'WARN', 'TCP_RCV_RST_ESTAB', { 'k8s.namespace.name': 'default', 'k8s.pod.name': 'web-0', netns: 'ns4026532281', saddr: '10.0.0.7', sport: 443, daddr: '10.0.0.9', dport: 51234, latency_ms: 12.5 }),
  record(T2, 'ERROR', 'PACKETLOSS', { netns: 'ns4026531840', reason: 'NETFILTER_DROP', stack: 'nf_hook_slow\nip_rcv' }),
];

function assertLogs(message: any, sentAfter: number): void {
  assert.equal(message.resourceLogs.length, 1);
  const rl = message.resourceLogs[0];
  assert.deepEqual(kv(rl.resource.attributes), { 'service.name': { stringValue: 'kubesonar-agent' }, 'k8s.node.name': { stringValue: 'node-a' } });
  assert.equal(rl.scopeLogs.length, 1);
  assert.deepEqual(rl.scopeLogs[0].scope, { name: 'kubesonar', version: '0.1.0' });
  const [a, b] = rl.scopeLogs[0].logRecords;
  assert.equal(rl.scopeLogs[0].logRecords.length, 2);
  assert.equal(a.timeUnixNano, '1763880000123456789');
  assert.equal(b.timeUnixNano, '1763880001987654321');
  for (const r of [a, b]) {
    // Observed = when the sink sent it, never the event time.
    assert.ok(BigInt(r.observedTimeUnixNano) >= BigInt(sentAfter) * 1_000_000n, 'observedTimeUnixNano is the send time');
    assert.equal(r.traceId, undefined);
    assert.equal(r.flags, undefined);
  }
  assert.equal(a.severityNumber, 13);
  assert.equal(a.severityText, 'WARN');
  assert.deepEqual(a.body, { stringValue: 'TCP_RCV_RST_ESTAB seen' });
  assert.deepEqual(kv(a.attributes), {
    'event.type': { stringValue: 'TCP_RCV_RST_ESTAB' }, 'event.probe': { stringValue: 'tcpreset' },
    'k8s.node.name': { stringValue: 'node-a' }, 'k8s.namespace.name': { stringValue: 'default' },
    'k8s.pod.name': { stringValue: 'web-0' }, netns: { stringValue: 'ns4026532281' },
    saddr: { stringValue: '10.0.0.7' }, sport: { intValue: '443' }, daddr: { stringValue: '10.0.0.9' },
    dport: { intValue: '51234' }, latency_ms: { doubleValue: 12.5 },
  });
  assert.equal(b.severityNumber, 17);
  assert.equal(b.severityText, 'ERROR');
  assert.deepEqual(b.body, { stringValue: 'PACKETLOSS seen' });
  assert.deepEqual(kv(b.attributes), {
    'event.type': { stringValue: 'PACKETLOSS' }, 'event.probe': { stringValue: 'tcpreset' },
    'k8s.node.name': { stringValue: 'node-a' }, netns: { stringValue: 'ns4026531840' },
    reason: { stringValue: 'NETFILTER_DROP' }, stack: { stringValue: 'nf_hook_slow\nip_rcv' },
  });
}

test('the test receiver is strict about OTLP/JSON', () => {
  const T = otlpRoot.lookupType('otlp.ExportLogsServiceRequest');
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const rec = (r: object) => ({ resourceLogs: [{ scopeLogs: [{ logRecords: [r] }] }] });
  assert.deepEqual(decodeOtlp(T, json(rec({ timeUnixNano: '1763880000123456789', severityNumber: 9, attributes: [{ key: 'a', value: { intValue: '1' } }] })), 'application/json'),
    rec({ timeUnixNano: '1763880000123456789', severityNumber: 9, attributes: [{ key: 'a', value: { intValue: '1' } }] }));
  assert.throws(() => decodeOtlp(T, json(rec({ timeUnixNano: 1763880000 })), 'application/json'), /timeUnixNano.*decimal string/);
  assert.throws(() => decodeOtlp(T, json(rec({ attributes: [{ key: 'a', value: { intValue: 1 } }] })), 'application/json'), /intValue.*decimal string/);
  assert.throws(() => decodeOtlp(T, json(rec({ severityNumber: 'SEVERITY_NUMBER_INFO' })), 'application/json'), /enum must be an integer/);
  assert.throws(() => decodeOtlp(T, json(rec({ time_unix_nano: '1' })), 'application/json'), /unknown field/);
  assert.throws(() => decodeOtlp(T, json(rec({ traceId: 'AAAA' })), 'application/json'), /traceId/);
  assert.throws(() => decodeOtlp(T, json(rec({ body: { stringValue: 'x', intValue: '1' } })), 'application/json'), /oneof value/);
});

describe('OtlpLogSink', () => {
  for (const [protocol, compression] of [['http/protobuf', 'none'], ['http/json', 'none'], ['http/protobuf', 'gzip'], ['http/json', 'gzip']] as const) {
    test(`${protocol}, compression ${compression}: every field arrives, the ns timestamp exactly`, async () => {
      const rx = await receiver();
      const sink = logSink({
        config: { endpoint: `http://127.0.0.1:${rx.port}`, protocol, compression, headers: { authorization: 'Bearer t0k' } },
        nodeName: 'node-a',
      });
      const sentAfter = Date.now();
      assert.deepEqual(await sink.send(BATCH), { delivered: 2 });
      assert.equal(rx.requests.length, 1);
      const req = rx.requests[0]!;
      assert.equal(req.error, undefined);
      assert.equal(req.path, '/v1/logs');
      assert.equal(req.contentType, protocol === 'http/json' ? 'application/json' : 'application/x-protobuf');
      assert.equal(req.headers['content-encoding'], compression === 'gzip' ? 'gzip' : undefined);
      assert.equal(req.headers.authorization, 'Bearer t0k');
      assert.equal(req.headers['user-agent'], 'kubesonar/0.1.0');
      assertLogs(req.message, sentAfter);
    });
  }

  test('Loki 3.x: endpoint .../otlp gives /otlp/v1/logs', async () => {
    const rx = await receiver();
    const sink = logSink({ config: { endpoint: `http://127.0.0.1:${rx.port}/otlp/` }, nodeName: 'node-a' });
    assert.deepEqual(await sink.send(BATCH), { delivered: 2 });
    assert.equal(rx.requests[0]!.path, '/otlp/v1/logs');
    assertLogs(rx.requests[0]!.message, 0);
  });

  test('OTEL_EXPORTER_OTLP_* variables configure what the config file leaves unset', async () => {
    const rx = await receiver();
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${rx.port}/base`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-scope-orgid=tenant%201, authorization=Basic%20dTpw',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    };
    const sink = logSink({ config: {}, nodeName: 'node-a', env });
    assert.deepEqual(await sink.send(BATCH), { delivered: 2 });
    const req = rx.requests[0]!;
    assert.equal(req.path, '/base/v1/logs');
    assert.equal(req.contentType, 'application/json');
    assert.equal(req.headers['content-encoding'], 'gzip');
    assert.equal(req.headers['x-scope-orgid'], 'tenant 1');
    assert.equal(req.headers.authorization, 'Basic dTpw');
    assertLogs(req.message, 0);

    // The signal-specific endpoint is used as is and beats the generic one; the config file beats both.
    const perSignal = resolveOtlp({}, 'logs', { ...env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://collector:4318/custom', OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/protobuf' });
    assert.equal(perSignal.url, 'http://collector:4318/custom');
    assert.equal(perSignal.protocol, 'http/protobuf');
    const fromFile = resolveOtlp({ endpoint: 'http://loki:3100/otlp', protocol: 'http/protobuf', compression: 'none', headers: { Authorization: 'x' } }, 'logs', env);
    assert.deepEqual(fromFile, { url: 'http://loki:3100/otlp/v1/logs', protocol: 'http/protobuf', compression: 'none', headers: { 'x-scope-orgid': 'tenant 1', authorization: 'x' }, timeoutMs: 10_000 });
    assert.equal(resolveOtlp({ endpoint: 'http://a:1', metrics_endpoint: 'http://m:9/x' }, 'metrics', {}).url, 'http://m:9/x');
    assert.equal(resolveOtlp({ endpoint: 'http://a:1', logs_endpoint: '' }, 'logs', {}).url, 'http://a:1/v1/logs');
    assert.deepEqual(resolveOtlp({}, 'metrics', {}), { url: 'http://localhost:4318/v1/metrics', protocol: 'http/protobuf', compression: 'none', headers: {}, timeoutMs: 10_000 });
    assert.throws(() => resolveOtlp({}, 'logs', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /OTEL_EXPORTER_OTLP_PROTOCOL: must be one of http\/protobuf, http\/json, got "grpc"/);
  });

  test('the config loader\'s event_config.sinks.otlp is accepted as is (logs_endpoint wins)', async () => {
    const rx = await receiver();
    const cfg = { ...DEFAULT_CONFIG.event_config.sinks.otlp, enabled: true, endpoint: 'http://127.0.0.1:1', logs_endpoint: `http://127.0.0.1:${rx.port}/otlp/v1/logs`, protocol: 'http/json' as const };
    const sink = logSink({ config: cfg, nodeName: 'node-a' });
    assert.deepEqual(await sink.send(BATCH), { delivered: 2 });
    assert.equal(rx.requests[0]!.path, '/otlp/v1/logs');
    assert.equal(rx.requests[0]!.contentType, 'application/json');
  });

  test('the config loader\'s section re-resolved per signal: signal variables beat generic ones, file keys beat both', () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_HEADERS: 'X-Scope-OrgID=generic,x-a=1',
      OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'x-scope-orgid=logs',
      OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '500',
      OTEL_METRIC_EXPORT_INTERVAL: '15000',
    };
    const section = parseConfig('event_config: {sinks: {otlp: {enabled: true}}}', 'test', env).event_config.sinks.otlp;
    assert.equal(section.protocol, 'http/json', 'the section holds what every signal starts from');
    const logs = resolveOtlp(section, 'logs', env);
    assert.deepEqual(logs, { url: 'http://collector:4318/v1/logs', protocol: 'http/protobuf', compression: 'none', headers: { 'x-scope-orgid': 'logs', 'x-a': '1' }, timeoutMs: 10_000 });
    const metrics = resolveOtlp(section, 'metrics', env);
    assert.deepEqual(metrics, { url: 'http://collector:4318/v1/metrics', protocol: 'http/json', compression: 'none', headers: { 'x-scope-orgid': 'generic', 'x-a': '1' }, timeoutMs: 500, intervalMs: 15_000 });
    // A key the file sets wins over the signal's variable.
    const file = parseConfig('event_config: {sinks: {otlp: {enabled: true, protocol: http/json, headers: {X-Scope-OrgID: file}}}}', 'test', env).event_config.sinks.otlp;
    assert.equal(resolveOtlp(file, 'logs', env).protocol, 'http/json');
    assert.equal(resolveOtlp(file, 'logs', env).headers['x-scope-orgid'], 'file');
    // The signal variables are checked by the loader too.
    assert.throws(() => parseConfig('event_config: {sinks: {otlp: {enabled: true}}}', 'test', { OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: 'zstd' }),
      (err: unknown) => err instanceof ConfigError && err.problems.join() === 'OTEL_EXPORTER_OTLP_LOGS_COMPRESSION (environment): must be "gzip" or "none", got "zstd"');
  });

  test('503 is retried until it succeeds; 429 waits Retry-After', async () => {
    const rx = await receiver();
    rx.script.push({ status: 503 }, { status: 429, headers: { 'retry-after': '1' } });
    const sink = logSink({ config: { endpoint: `http://127.0.0.1:${rx.port}` }, nodeName: 'node-a' });
    assert.deepEqual(await sink.send(BATCH), { delivered: 2 });
    assert.equal(rx.requests.length, 3);
    for (const r of rx.requests) assertLogs(r.message, 0);
    assert.ok(rx.requests[2]!.at - rx.requests[1]!.at >= 950, 'Retry-After: 1 honoured');
  });

  test('400 and 500 are not retried: the batch is dropped and counted by status', async () => {
    const rx = await receiver();
    rx.script.push({ status: 400, body: 'bad' }, { status: 500 });
    const errors: string[] = [];
    const sink = logSink({ config: { endpoint: `http://127.0.0.1:${rx.port}` }, nodeName: 'node-a', onError: (m) => errors.push(m) });
    assert.deepEqual(await sink.send(BATCH), { delivered: 0, dropped: { http_400: 2 } });
    assert.equal(rx.requests.length, 1);
    assert.deepEqual(errors, [`otlp logs: 2 records dropped (http_400) after 1 attempts to http://127.0.0.1:${rx.port}/v1/logs: HTTP 400: bad`]);
    // OTLP/HTTP retries 429/502/503/504 only.
    assert.deepEqual(await sink.send(BATCH), { delivered: 0, dropped: { http_500: 2 } });
    assert.equal(rx.requests.length, 2);
  });

  test('a partial success counts the rejected records as dropped', async () => {
    const rx = await receiver();
    rx.okBody = () => Buffer.from(LogsResponse.encode(LogsResponse.fromObject({ partialSuccess: { rejectedLogRecords: 1, errorMessage: 'too old' } })).finish());
    const sink = logSink({ config: { endpoint: `http://127.0.0.1:${rx.port}` }, nodeName: 'node-a' });
    assert.deepEqual(await sink.send(BATCH), { delivered: 1, dropped: { rejected: 1 } });
    rx.okBody = () => JSON.stringify({ partialSuccess: { rejectedLogRecords: '2' } });
    const json = logSink({ config: { endpoint: `http://127.0.0.1:${rx.port}`, protocol: 'http/json' }, nodeName: 'node-a' });
    assert.deepEqual(await json.send(BATCH), { delivered: 0, dropped: { rejected: 2 } });
  });

  test('a receiver that is down, then up: the batch is held and delivered', async () => {
    const port = await freePort();
    let down = false;
    const sink = logSink({ config: { endpoint: `http://127.0.0.1:${port}` }, nodeName: 'node-a', retryBudgetMs: 20_000, onReachability: (c) => { down ||= !c.reachable; } });
    const sending = sink.send(BATCH);
    await waitFor('a failed attempt', () => down, 5000);
    const rx = new OtlpReceiver();
    await rx.start(port);
    cleanups.push(() => rx.close());
    assert.deepEqual(await sending, { delivered: 2 });
    assertLogs(rx.requests.at(-1)!.message, 0);
  });

  test('a receiver that does not answer: the attempt times out (OTEL_EXPORTER_OTLP_TIMEOUT) and is retried', async () => {
    const rx = await receiver();
    rx.script.push({ status: 0 }); // hangs the first request
    const sink = logSink({ config: { endpoint: `http://127.0.0.1:${rx.port}` }, nodeName: 'node-a', env: { OTEL_EXPORTER_OTLP_TIMEOUT: '300' } });
    assert.equal(sink.settings.timeoutMs, 300);
    const t0 = Date.now();
    assert.deepEqual(await sink.send(BATCH), { delivered: 2 });
    assert.equal(rx.requests.length, 2);
    assert.ok(Date.now() - t0 >= 300, 'waited for the timeout');
    assertLogs(rx.requests[1]!.message, 0);
  });

  test('HTTPS with OTEL_EXPORTER_OTLP_CERTIFICATE: trusted CA delivers, an unknown one does not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubesonar-otlp-tls-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore', timeout: 10_000 });
    const rx = new OtlpReceiver();
    await rx.start(0, { key: readFileSync(key), cert: readFileSync(cert) });
    cleanups.push(() => rx.close());
    const endpoint = `https://127.0.0.1:${rx.port}`;
    const trusted = logSink({ config: { endpoint }, nodeName: 'node-a', env: { OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: cert } });
    assert.deepEqual(await trusted.send(BATCH), { delivered: 2 });
    assertLogs(rx.requests[0]!.message, 0);
    const errors: string[] = [];
    const untrusted = logSink({ config: { endpoint }, nodeName: 'node-a', retryBudgetMs: 300, onError: (e) => errors.push(e) });
    assert.deepEqual(await untrusted.send(BATCH), { delivered: 0, dropped: { retries_exhausted: 2 } });
    assert.match(errors[0]!, /certificate/i);
    assert.equal(rx.requests.length, 1);
    assert.throws(() => new OtlpLogSink({ config: {}, nodeName: 'n', env: { OTEL_EXPORTER_OTLP_CERTIFICATE: join(dir, 'missing.pem') } }), /CA certificate .*missing\.pem/);
  });

  test('retries stop at the budget, and close() ends a send in progress at once', async () => {
    const port = await freePort();
    const short = logSink({ config: { endpoint: `http://127.0.0.1:${port}` }, nodeName: 'node-a', retryBudgetMs: 500 });
    assert.deepEqual(await short.send(BATCH), { delivered: 0, dropped: { retries_exhausted: 2 } });
    let down = false;
    const sink = new OtlpLogSink({ config: { endpoint: `http://127.0.0.1:${port}` }, nodeName: 'node-a', env: {}, onReachability: (c) => { down ||= !c.reachable; } });
    const sending = sink.send(BATCH);
    await waitFor('a failed attempt', () => down, 5000);
    const t0 = Date.now();
    await sink.close();
    assert.deepEqual(await sending, { delivered: 0, dropped: { shutdown: 2 } });
    assert.ok(Date.now() - t0 < 5000, 'close() did not wait for the retry budget');
  });
});

describe('OtlpMetricsPusher', () => {
  function meter() {
    const reader = new PullMetricReader();
    const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'kubesonar-agent', 'k8s.node.name': 'node-a' }), readers: [reader] });
    cleanups.push(() => provider.shutdown());
    const m = provider.getMeter('kubesonar', '0.1.0');
    const resets = m.createCounter('netexporter_tcp_outrsts', { description: 'resets sent', unit: '1' });
    const estab = m.createGauge('netexporter_tcp_currestab', { description: 'established' });
    resets.add(5, { netns: 'ns1', 'k8s.pod.name': 'web-0' });
    resets.add(2, { netns: 'ns1', 'k8s.pod.name': 'web-0' });
    estab.record(3, { netns: 'ns1' });
    return { reader, resets };
  }

  test('a receiver down for several intervals: the pushes of the outage are kept and sent in order afterwards', async () => {
    const port = await freePort();
    const { reader, resets } = meter();
    const pusher = new OtlpMetricsPusher({
      config: { endpoint: `http://127.0.0.1:${port}`, min_backoff_ms: 10, max_backoff_ms: 100, max_age_ms: 60_000 },
      collect: async () => { resets.add(1, { netns: 'ns1', 'k8s.pod.name': 'web-0' }); return (await reader.collect()).resourceMetrics; }, env: {},
    });
    cleanups.push(() => pusher.close());
    // Four collections while nothing listens: queued, not dropped; collecting never waits.
    const settled = [];
    for (let i = 0; i < 4; i++) {
      settled.push(pusher.pushOnce());
      await waitFor(`push ${i + 1} queued`, () => pusher.stats().queue!.requests === i + 1, 5000);
    }
    assert.deepEqual(pusher.stats().pointsDropped, {});
    const rx = new OtlpReceiver();
    await rx.start(port);
    cleanups.push(() => rx.close());
    assert.deepEqual(await Promise.all(settled), [true, true, true, true]);
    // In collection order: the counter's cumulative value goes 8, 9, 10, 11.
    const values = rx.requests.map((r) => r.message.resourceMetrics[0].scopeMetrics[0].metrics.find((m: any) => m.name === 'netexporter_tcp_outrsts').sum.dataPoints[0].asDouble);
    assert.deepEqual(values, [8, 9, 10, 11]);
    const st = pusher.stats();
    assert.deepEqual([st.pointsSent, st.pointsDropped, st.queue], [8, {}, { requests: 0, samples: 0, bytes: 0 }]);
  });

  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    test(`${protocol}: counters as cumulative monotonic sums, gauges as gauges, with the resource`, async () => {
      const rx = await receiver();
      const { reader, resets } = meter();
      const pusher = new OtlpMetricsPusher({
        config: { endpoint: `http://127.0.0.1:${rx.port}`, protocol, compression: 'gzip', headers: { 'x-tenant': 'a' } },
        collect: async () => (await reader.collect()).resourceMetrics, env: {},
      });
      cleanups.push(() => pusher.close());
      assert.equal(await pusher.pushOnce(), true);
      resets.add(1, { netns: 'ns1', 'k8s.pod.name': 'web-0' });
      assert.equal(await pusher.pushOnce(), true);
      assert.deepEqual(pusher.stats(), { pushes: 2, failedPushes: 0, pointsSent: 4, pointsDropped: {}, lastSuccessUnixMs: pusher.stats().lastSuccessUnixMs, queue: { requests: 0, samples: 0, bytes: 0 } });
      const [first, second] = rx.requests;
      for (const r of [first!, second!]) {
        assert.equal(r.error, undefined);
        assert.equal(r.path, '/v1/metrics');
        assert.equal(r.headers['x-tenant'], 'a');
        assert.equal(r.headers['content-encoding'], 'gzip');
      }
      const rm = first!.message.resourceMetrics[0];
      assert.deepEqual(kv(rm.resource.attributes), { 'service.name': { stringValue: 'kubesonar-agent' }, 'k8s.node.name': { stringValue: 'node-a' } });
      const metrics = new Map<string, any>(rm.scopeMetrics[0].metrics.map((m: any) => [m.name, m]));
      const sum = metrics.get('netexporter_tcp_outrsts');
      assert.equal(sum.description, 'resets sent');
      assert.equal(sum.sum.isMonotonic, true);
      assert.equal(sum.sum.aggregationTemporality, 2); // CUMULATIVE
      assert.equal(sum.sum.dataPoints.length, 1);
      const dp = sum.sum.dataPoints[0];
      assert.deepEqual(kv(dp.attributes), { netns: { stringValue: 'ns1' }, 'k8s.pod.name': { stringValue: 'web-0' } });
      assert.equal(dp.asDouble, 7);
      assert.match(dp.startTimeUnixNano, /^\d{19}$/);
      assert.ok(BigInt(dp.timeUnixNano) >= BigInt(dp.startTimeUnixNano));
      const gauge = metrics.get('netexporter_tcp_currestab');
      assert.equal(gauge.gauge.dataPoints[0].asDouble, 3);
      // Cumulative: the second push carries the running total and the same start time.
      const dp2 = second!.message.resourceMetrics[0].scopeMetrics[0].metrics.find((m: any) => m.name === 'netexporter_tcp_outrsts').sum.dataPoints[0];
      assert.equal(dp2.asDouble, 8);
      assert.equal(dp2.startTimeUnixNano, dp.startTimeUnixNano);
    });
  }

  test('the agent\'s telemetry: catalogue counters as cumulative monotonic sums from the namespace\'s first sight, gauges as gauges', async () => {
    const rx = await receiver();
    const firstSeen = Date.now() - 60_000;
    const host: Entity = { netns: 4026531840, isHost: true, pids: [1] };
    const pod: Entity = { netns: 4026532999, isHost: false, pids: [4242], pod: { name: 'web-1', namespace: 'shop', uid: 'u1', source: 'cri' } };
    const snapshot: Snapshot = {
      time: Date.now(), entities: [host, pod], firstSeen: new Map([[pod.netns, firstSeen]]), durationMs: 12, cpuMs: 9,
      samples: [
        { probe: 'tcp', metric: 'activeopens', value: 7, entity: pod },
        { probe: 'tcp', metric: 'currestab', value: 3, entity: pod },
      ],
    };
    const collector = { snapshot, status: () => ({ tcp: { state: 'ok', notes: [], errors: 0, lastDurationMs: 1 } }) } as unknown as Collector;
    const telemetry = createTelemetry('node-a', collector, () => false);
    cleanups.push(() => telemetry.shutdown());
    const pusher = new OtlpMetricsPusher({ config: { endpoint: `http://127.0.0.1:${rx.port}` }, collect: async () => (await telemetry.pull.collect()).resourceMetrics, env: {} });
    cleanups.push(() => pusher.close());
    assert.equal(await pusher.pushOnce(), true);
    const rm = rx.requests[0]!.message.resourceMetrics;
    assert.equal(rm.length, 1);
    assert.deepEqual(kv(rm[0].resource.attributes), { 'service.name': { stringValue: 'kubesonar-agent' }, 'k8s.node.name': { stringValue: 'node-a' } });
    const metrics = new Map<string, any>(rm[0].scopeMetrics.flatMap((s: any) => s.metrics).map((m: any) => [m.name, m]));
    const opens = metrics.get('netexporter_tcp_activeopens');
    assert.equal(opens.sum.isMonotonic, true);
    assert.equal(opens.sum.aggregationTemporality, 2);
    const dp = opens.sum.dataPoints[0];
    assert.equal(dp.asDouble, 7);
    assert.deepEqual(kv(dp.attributes), { netns: { stringValue: 'ns4026532999' }, 'k8s.namespace.name': { stringValue: 'shop' }, 'k8s.pod.name': { stringValue: 'web-1' } });
    assert.equal(BigInt(dp.startTimeUnixNano) / 1_000_000n, BigInt(firstSeen));
    assert.equal(BigInt(dp.timeUnixNano) / 1_000_000n, BigInt(snapshot.time));
    assert.ok(metrics.get('netexporter_tcp_currestab').gauge, 'a gauge stays a gauge');
    assert.equal(metrics.get('netexporter_agent_probe_errors_total').sum.isMonotonic, true);
  });

  test('a partial success counts the rejected data points', async () => {
    const rx = await receiver();
    const MetricsResponse = otlpRoot.lookupType('otlp.ExportMetricsServiceResponse');
    rx.okBody = () => Buffer.from(MetricsResponse.encode(MetricsResponse.fromObject({ partialSuccess: { rejectedDataPoints: 1, errorMessage: 'out of order' } })).finish());
    const { reader } = meter();
    const errors: string[] = [];
    const pusher = new OtlpMetricsPusher({ config: { endpoint: `http://127.0.0.1:${rx.port}` }, collect: async () => (await reader.collect()).resourceMetrics, env: {}, onError: (e) => errors.push(e) });
    cleanups.push(() => pusher.close());
    assert.equal(await pusher.pushOnce(), true);
    const s = pusher.stats();
    assert.equal(s.pointsSent, 1);
    assert.deepEqual(s.pointsDropped, { rejected: 1 });
    assert.deepEqual(errors, ['otlp metrics: 1 dropped (rejected): out of order']);
  });

  test('start(): pushes every interval; 400 drops and counts the points, 503 is retried', async () => {
    const rx = await receiver();
    rx.script.push({ status: 400 }, { status: 503 });
    const { reader } = meter();
    const pusher = new OtlpMetricsPusher({
      config: { endpoint: `http://127.0.0.1:${rx.port}`, interval_seconds: 1 },
      collect: async () => (await reader.collect()).resourceMetrics, env: {},
    });
    cleanups.push(() => pusher.close());
    pusher.start();
    await waitFor('4 requests: 400, then 503 and its retry, then the next push', () => rx.requests.length >= 4, 10_000);
    await pusher.close();
    const s = pusher.stats();
    // A push cut short by close() may add `shutdown`; nothing else is dropped.
    assert.equal(s.pointsDropped.http_400, 2);
    assert.deepEqual(Object.keys(s.pointsDropped).filter((k) => k !== 'http_400' && k !== 'shutdown'), []);
    assert.deepEqual(rx.requests.slice(0, 3).map((r) => r.message.resourceMetrics.length), [1, 1, 1]);
    assert.ok(rx.requests[2]!.at - rx.requests[1]!.at < 900, 'the 503 was retried before the next interval');
    assert.ok(s.pointsSent >= 2, `sent ${s.pointsSent}`); // the retried push; the 4th may be cut by close()
    assert.equal(rx.requests.filter((r) => r.error).length, 0);
  });
});

after(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });
