import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord, NetEvent } from '../../src/events/model.js';
import { createLogger, type Logger } from '../../src/log.js';
import { KubeClient } from '../../src/k8s/index.js';
import { LokiSink, parseRetryAfter, pickLokiService, type LokiSinkConfig, type LokiSinkDeps } from '../../src/sinks/loki/index.js';
import { LokiReceiver, TEST_TLS, parseLabels } from '../helpers/loki-receiver.js';
import { FakeKubeApi, service } from '../helpers/kube-api.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const T0 = 1763880000123456789n; // 2025-11-23T06:40:00.123456789Z: exact ns, beyond 2^53

/** An event record as the pipeline builds it. `i` varies time, port and message. */
function rec(i: number, over: { type?: NetEvent['type']; ns?: bigint; namespace?: string; pod?: string } = {}): EventRecord {
  const type = over.type ?? 'TCP_RCV_RST_ESTAB';
  const ns = over.ns ?? T0 + BigInt(i);
  const event: NetEvent = {
    timeUnixNano: ns, type, probe: 'tcpreset', severity: 'WARN', msg: `reset received ${i}`, netns: 4026532801,
    attrs: { protocol: 'tcp', saddr: '10.244.1.7', sport: 40000 + i, daddr: '10.96.0.10', dport: 53, state: 'ESTABLISHED' },
  };
  const attributes: Record<string, string | number> = { 'event.type': type, 'event.probe': 'tcpreset', 'k8s.node.name': 'node-1' };
  if (over.namespace !== '') {
    attributes['k8s.namespace.name'] = over.namespace ?? 'shop';
    attributes['k8s.pod.name'] = over.pod ?? 'cart-7d9f';
  }
  Object.assign(attributes, { netns: 4026532801 }, event.attrs);
  return { event, timeUnixNano: ns, severityNumber: 13, severityText: 'WARN', body: event.msg, attributes };
}

function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger((l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  logger.debugEnabled = true;
  return { logger, lines };
}

/** Fast timings so fault tests take tenths of a second; tests override what they exercise. */
function sinkFor(url: string, config: LokiSinkConfig = {}, deps: Partial<LokiSinkDeps> = {}): LokiSink {
  return new LokiSink({ url, min_backoff_ms: 20, max_backoff_ms: 100, ...config }, { node: 'node-1', maxRetryTimeMs: 3000, requestTimeoutMs: 1000, logger: capture().logger, ...deps });
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loki-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('wire format', () => {
  let rx: LokiReceiver;
  before(async () => {
    rx = await new LokiReceiver().start();
  });
  after(() => rx.stop());

  test('protobuf + snappy: labels, structured metadata, KCE line, exact ns timestamps, sorted streams, headers', async () => {
    await writeFile(join(dir, 'password'), 's3cr3t\n');
    const sink = sinkFor(rx.url, { tenant: 'team-net', username: 'agent', password_file: join(dir, 'password'), static_labels: { cluster: 'prod-eu' } });
    // Out of order on purpose, two types, one host event (no namespace, no pod).
    const batch = [rec(2), rec(0), rec(5, { type: 'TCP_SEND_RST_NOSock' }), rec(1), rec(3, { namespace: '' })];
    const result = await sink.send(batch);
    await sink.close();
    assert.deepEqual(result, { delivered: 5 });
    assert.equal(rx.pushes.length, 1);
    const push = rx.pushes[0];
    assert.equal(push.encoding, 'protobuf');
    assert.equal(push.headers['content-type'], 'application/x-protobuf');
    assert.equal(push.headers['content-encoding'], undefined);
    assert.equal(push.headers['x-scope-orgid'], 'team-net');
    assert.equal(push.headers.authorization, `Basic ${Buffer.from('agent:s3cr3t').toString('base64')}`);
    assert.equal(push.streams.length, 3);
    const [estab, nosock, host] = push.streams;
    assert.deepEqual(estab.labels, { cluster: 'prod-eu', k8s_namespace: 'shop', k8s_node: 'node-1', type: 'TCP_RCV_RST_ESTAB' });
    assert.deepEqual(nosock.labels, { cluster: 'prod-eu', k8s_namespace: 'shop', k8s_node: 'node-1', type: 'TCP_SEND_RST_NOSock' });
    assert.deepEqual(host.labels, { cluster: 'prod-eu', k8s_node: 'node-1', type: 'TCP_RCV_RST_ESTAB' });
    assert.deepEqual(estab.entries.map((e) => e.ns), [T0, T0 + 1n, T0 + 2n], 'sorted by time, original ns');
    assert.deepEqual(estab.entries[0], {
      ns: T0,
      line: `{"timestamp":${T0},"type":"TCP_RCV_RST_ESTAB","msg":"reset received 0"}`,
      metadata: {
        level: 'warn', probe: 'tcpreset', k8s_pod: 'cart-7d9f', netns: '4026532801',
        protocol: 'tcp', saddr: '10.244.1.7', sport: '40000', daddr: '10.96.0.10', dport: '53', state: 'ESTABLISHED',
      },
    });
    assert.equal(nosock.entries[0].ns, T0 + 5n);
    assert.deepEqual(host.entries[0].metadata, { level: 'warn', probe: 'tcpreset', netns: '4026532801', protocol: 'tcp', saddr: '10.244.1.7', sport: '40003', daddr: '10.96.0.10', dport: '53', state: 'ESTABLISHED' });
    // `| json | type="..."` works on the line; the timestamp digits are the exact ns.
    const parsed = JSON.parse(estab.entries[1].line) as Record<string, unknown>;
    assert.equal(parsed.type, 'TCP_RCV_RST_ESTAB');
    assert.equal(parsed.msg, 'reset received 1');
    assert.match(estab.entries[1].line, new RegExp(`^\\{"timestamp":${T0 + 1n},`));
  });

  test('JSON + gzip: attributes in the line, exact ns as a string, bearer token', async () => {
    await writeFile(join(dir, 'token'), 'tok-123\n');
    const n0 = rx.pushes.length;
    const sink = sinkFor(rx.url, { encoding: 'json', bearer_token_file: join(dir, 'token') });
    assert.deepEqual(await sink.send([rec(1), rec(0)]), { delivered: 2 });
    await sink.close();
    const push = rx.pushes[n0];
    assert.equal(push.encoding, 'json');
    assert.equal(push.headers['content-type'], 'application/json');
    assert.equal(push.headers['content-encoding'], 'gzip');
    assert.equal(push.headers.authorization, 'Bearer tok-123');
    assert.equal(push.headers['x-scope-orgid'], undefined);
    assert.equal(push.streams.length, 1);
    assert.deepEqual(push.streams[0].labels, { k8s_namespace: 'shop', k8s_node: 'node-1', type: 'TCP_RCV_RST_ESTAB' });
    assert.deepEqual(push.streams[0].entries, [0, 1].map((i) => ({
      ns: T0 + BigInt(i),
      line: `{"timestamp":${T0 + BigInt(i)},"type":"TCP_RCV_RST_ESTAB","msg":"reset received ${i}","level":"warn","probe":"tcpreset","k8s_pod":"cart-7d9f","netns":4026532801,"protocol":"tcp","saddr":"10.244.1.7","sport":${40000 + i},"daddr":"10.96.0.10","dport":53,"state":"ESTABLISHED"}`,
      metadata: {},
    })));
  });

  test('protobuf lines are the JSON encoding\'s lines: escapes, non-ASCII, lone surrogates, long fields, ns before 1 s', async () => {
    const odd = ['a "quoted" \\path\\ and\nnewline\ttab\u0001', 'ünïcødé ✓ 😀', 'lone \ud800 surrogate', 'x'.repeat(300), '', 'plain'];
    const batch: EventRecord[] = odd.map((msg, i) => {
      const r = rec(i);
      const event = { ...r.event, msg, attrs: { ...r.event.attrs, reason: i === 3 ? 'y'.repeat(200) : `r"${i}"`, score: i + 0.5 } };
      return { ...r, event, body: msg, attributes: { ...r.attributes, reason: event.attrs.reason, score: event.attrs.score } };
    });
    batch.push({ ...rec(9, { ns: 999_999_999n }), body: 'early' });
    const old = await new LokiReceiver({ version: '2.9.5' }).start(); // fields in the line
    try {
      const proto = sinkFor(old.url);
      const json = sinkFor(old.url, { encoding: 'json' });
      assert.deepEqual(await proto.send(batch), { delivered: batch.length });
      assert.deepEqual(await json.send(batch), { delivered: batch.length });
      await proto.close();
      await json.close();
      const [p, j] = old.pushes;
      assert.equal(p.encoding, 'protobuf');
      assert.equal(j.encoding, 'json');
      const lines = (push: typeof p) => push.streams.flatMap((s) => s.entries.map((e) => [e.ns, e.line] as const));
      assert.deepEqual(lines(p), lines(j));
      const parsed = lines(p).map(([, l]) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(parsed.map((x) => x.msg), ['early', ...odd]);
      assert.equal(lines(p)[0][1].slice(0, 24), '{"timestamp":999999999,"');
      assert.equal(parsed[4].reason, 'y'.repeat(200));
      assert.equal(parsed[1].score, 0.5);
    } finally {
      await old.stop();
    }
    // Structured metadata of more than 127 bytes (a two-byte length) reads back whole.
    const n0 = rx.pushes.length;
    const sink = sinkFor(rx.url);
    assert.deepEqual(await sink.send([batch[3]]), { delivered: 1 });
    await sink.close();
    assert.equal(rx.pushes[n0].streams[0].entries[0].metadata.reason, 'y'.repeat(200));
    assert.equal(rx.pushes[n0].streams[0].entries[0].line, `{"timestamp":${T0 + 3n},"type":"TCP_RCV_RST_ESTAB","msg":"${'x'.repeat(300)}"}`);
  });

  test('label values with quotes, backslashes and newlines survive Loki’s label parser', async () => {
    const n0 = rx.pushes.length;
    const odd = 'a "quoted" \\path\\ and\nnewline';
    const sink = sinkFor(rx.url, { static_labels: { env: odd } });
    assert.deepEqual(await sink.send([rec(0)]), { delivered: 1 });
    await sink.close();
    assert.equal(rx.pushes[n0].streams[0].labels.env, odd);
  });

  test('a batch larger than batch_max_events is split into several pushes', async () => {
    const n0 = rx.pushes.length;
    const sink = sinkFor(rx.url, { batch_max_events: 1000 });
    const batch = Array.from({ length: 2500 }, (_, i) => rec(i));
    assert.deepEqual(await sink.send(batch), { delivered: 2500 });
    await sink.close();
    assert.deepEqual(rx.pushes.slice(n0).map((p) => p.streams[0].entries.length), [1000, 1000, 500]);
    assert.deepEqual(rx.pushes.slice(n0).flatMap((p) => p.streams[0].entries.map((e) => e.ns)), batch.map((r) => r.timeUnixNano));
  });

  test('bad static labels are rejected at construction', () => {
    assert.throws(() => sinkFor(rx.url, { static_labels: { 'bad-name': 'x' } }), /"bad-name" is not a valid label name/);
    assert.throws(() => sinkFor(rx.url, { static_labels: { type: 'x' } }), /"type" is set by the agent/);
    assert.throws(() => sinkFor(rx.url, { encoding: 'xml' as 'json' }), /not protobuf or json/);
  });

  test('the receiver is strict: malformed bodies get 400, unknown media types 415', async () => {
    const post = (body: string, type: string, enc?: string) =>
      fetch(`${rx.url}/loki/api/v1/push`, { method: 'POST', body, headers: { 'content-type': type, ...(enc ? { 'content-encoding': enc } : {}) } }).then((r) => r.status);
    assert.equal(await post('\x01\x02\x03', 'application/x-protobuf'), 400); // not snappy
    assert.equal(await post('{"streams":[{"stream":{},"values":[]}]}', 'application/json'), 400); // no labels
    assert.equal(await post('{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}', 'application/json'), 400); // ts not a string
    assert.equal(await post('x', 'text/plain'), 415);
    assert.throws(() => parseLabels('{a="b",a="c"}'), /duplicate/);
    assert.throws(() => parseLabels('{a="b"'), /expected , or }/);
    assert.throws(() => parseLabels('{1a="b"}'), /expected a label name/);
  });
});

describe('delivery faults', () => {
  test('400: dropped, counted as http_400, not retried', async () => {
    const rx = await new LokiReceiver().start();
    try {
      rx.script.push({ status: 400, body: 'entry too far behind' });
      const sink = sinkFor(rx.url);
      assert.deepEqual(await sink.send([rec(0), rec(1)]), { delivered: 0, dropped: { http_400: 2 } });
      await holdsFor('no retry of the 400', () => rx.requests.length === 1, 100);
      assert.deepEqual(rx.requests.map((r) => r.status), [400]);
      assert.deepEqual(await sink.send([rec(2)]), { delivered: 1 }); // the next batch is fine
      await sink.close();
      // Split batch: each push request is counted on its own.
      rx.script.push({ status: 204 }, { status: 413, body: 'too large' });
      const split = sinkFor(rx.url, { batch_max_events: 2 });
      assert.deepEqual(await split.send([rec(3), rec(4), rec(5), rec(6), rec(7)]), { delivered: 3, dropped: { http_413: 2 } });
      await split.close();
      assert.deepEqual(rx.entries().map((e) => e.ns), [T0 + 2n, T0 + 3n, T0 + 4n, T0 + 7n]);
    } finally {
      await rx.stop();
    }
  });

  test('429 with Retry-After is honoured, 5xx retried with backoff; nothing duplicated', async () => {
    const rx = await new LokiReceiver().start();
    try {
      rx.script.push({ status: 429, headers: { 'retry-after': '1' } }, { status: 500 }, { status: 503 });
      const sink = sinkFor(rx.url);
      assert.deepEqual(await sink.send([rec(0)]), { delivered: 1 });
      await sink.close();
      assert.deepEqual(rx.requests.map((r) => r.status), [429, 500, 503, 204]);
      const gap = rx.requests[1].at - rx.requests[0].at;
      assert.ok(gap >= 990, `second attempt ${gap} ms after the 429, Retry-After is 1 s`);
      assert.equal(rx.entries().length, 1);
      assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:58 GMT')), 2000);
    } finally {
      await rx.stop();
    }
  });

  test('a Retry-After beyond the retry budget drops at once (retries_exhausted)', async () => {
    const rx = await new LokiReceiver().start();
    try {
      rx.script.push({ status: 429, headers: { 'retry-after': '30' } });
      const sink = sinkFor(rx.url, {}, { maxRetryTimeMs: 10_000 });
      const t0 = Date.now();
      assert.deepEqual(await sink.send([rec(0)]), { delivered: 0, dropped: { retries_exhausted: 1 } });
      assert.ok(Date.now() - t0 < 5000, 'gave up at once: Retry-After is beyond the budget');
      await sink.close();
    } finally {
      await rx.stop();
    }
  });

  test('receiver down then back within the budget: the batch is delivered once', async () => {
    const rx = await new LokiReceiver().start();
    await rx.stop();
    const { logger, lines } = capture();
    const sink = sinkFor(rx.url, {}, { logger, maxRetryTimeMs: 5000 });
    const batch = Array.from({ length: 50 }, (_, i) => rec(i));
    const sending = sink.send(batch);
    await waitFor('a failed attempt', () => lines.some((l) => l.msg === 'loki: backend unreachable, retrying'), 5000);
    await rx.start(); // same port
    try {
      assert.deepEqual(await sending, { delivered: 50 });
      assert.deepEqual(rx.entries().map((e) => e.ns), batch.map((r) => r.timeUnixNano));
      await sink.close();
    } finally {
      await rx.stop();
    }
  });

  test('one log line when Loki becomes unreachable, one when it is back', async () => {
    const rx = await new LokiReceiver().start();
    const { logger, lines } = capture();
    const sink = sinkFor(rx.url, {}, { logger, maxRetryTimeMs: 300 });
    try {
      assert.deepEqual(await sink.send([rec(0)]), { delivered: 1 });
      await rx.stop();
      assert.deepEqual(await sink.send([rec(1)]), { delivered: 0, dropped: { retries_exhausted: 1 } });
      assert.deepEqual(await sink.send([rec(2)]), { delivered: 0, dropped: { retries_exhausted: 1 } });
      await rx.start();
      assert.deepEqual(await sink.send([rec(3)]), { delivered: 1 });
      assert.deepEqual(await sink.send([rec(4)]), { delivered: 1 });
      const changes = lines.filter((l) => /^loki: backend (unreachable|reachable)/.test(String(l.msg)));
      assert.deepEqual(changes.map((l) => [l.level, l.msg]), [['warn', 'loki: backend unreachable, retrying'], ['info', 'loki: backend reachable again']]);
      assert.equal(changes[0]!.url, `${rx.url}/loki/api/v1/push`);
    } finally {
      await sink.close();
      await rx.stop();
    }
  });

  test('receiver down for longer than the budget: dropped as retries_exhausted, in bounded time', async () => {
    const rx = await new LokiReceiver().start();
    await rx.stop();
    const sink = sinkFor(rx.url, {}, { maxRetryTimeMs: 500 });
    const t0 = Date.now();
    assert.deepEqual(await sink.send([rec(0), rec(1), rec(2)]), { delivered: 0, dropped: { retries_exhausted: 3 } });
    const took = Date.now() - t0;
    assert.ok(took >= 300 && took < 3000, `gave up after ${took} ms`);
    await sink.close();
  });

  test('slow response: the attempt times out and the retry delivers', async () => {
    const rx = await new LokiReceiver().start();
    try {
      rx.script.push({ status: 204, delayMs: 3000 });
      const sink = sinkFor(rx.url, {}, { requestTimeoutMs: 250 });
      const t0 = Date.now();
      assert.deepEqual(await sink.send([rec(0)]), { delivered: 1 });
      assert.ok(Date.now() - t0 < 2500, 'did not wait for the slow answer');
      await waitFor('the slow handler to notice the client left', () => rx.requests[0]?.status === -1, 5000);
      assert.deepEqual(rx.requests.map((r) => r.status), [-1, 204]);
      assert.equal(rx.pushes.length, 1);
      await sink.close();
    } finally {
      await rx.stop();
    }
  });

  test('close() during retries returns promptly and reports the batch as shutdown', async () => {
    const rx = await new LokiReceiver().start();
    await rx.stop();
    const { logger, lines } = capture();
    const sink = sinkFor(rx.url, { min_backoff_ms: 200 }, { logger, maxRetryTimeMs: 30_000 });
    const sending = sink.send([rec(0)]);
    await waitFor('a failed attempt', () => lines.some((l) => l.msg === 'loki: backend unreachable, retrying'), 5000);
    const t0 = Date.now();
    await sink.close();
    assert.deepEqual(await sending, { delivered: 0, dropped: { shutdown: 1 } });
    assert.ok(Date.now() - t0 < 5000, 'did not wait for the 30 s budget');
  });
});

describe('DNS', () => {
  test('a DNS change of the Loki name moves traffic to the new address (keep-alive or not)', async () => {
    const a = await new LokiReceiver({ host: '127.0.0.1' }).start();
    const b = await new LokiReceiver({ host: '127.0.0.2', port: a.boundPort }).start();
    try {
      let answer = '127.0.0.1';
      const asked: string[] = [];
      const { logger, lines } = capture();
      const sink = sinkFor(`http://loki.logging.svc:${a.boundPort}`, {}, {
        logger, dnsRefreshMs: 0,
        lookup: async (host) => {
          asked.push(host);
          return { address: answer, family: 4 };
        },
      });
      assert.deepEqual(await sink.send([rec(0)]), { delivered: 1 });
      assert.deepEqual(await sink.send([rec(1)]), { delivered: 1 }); // same keep-alive connection
      answer = '127.0.0.2';
      assert.deepEqual(await sink.send([rec(2)]), { delivered: 1 });
      await sink.close();
      assert.deepEqual(a.entries().map((e) => e.ns), [T0, T0 + 1n]);
      assert.deepEqual(b.entries().map((e) => e.ns), [T0 + 2n]);
      assert.ok(asked.length >= 3 && asked.every((h) => h === 'loki.logging.svc'));
      assert.equal(a.pushes[0].headers.host, `loki.logging.svc:${a.boundPort}`);
      const moves = lines.filter((l) => l.msg === 'loki: pushing to').map((l) => l.address);
      assert.deepEqual(moves, ['127.0.0.1', '127.0.0.2']);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test('after a connection error the name is resolved again at once (no long DNS cache)', async () => {
    const a = await new LokiReceiver({ host: '127.0.0.1' }).start();
    const b = await new LokiReceiver({ host: '127.0.0.2', port: a.boundPort }).start();
    try {
      let answer = '127.0.0.1';
      const sink = sinkFor(`http://loki.test:${a.boundPort}`, {}, { dnsRefreshMs: 3_600_000, lookup: async () => ({ address: answer, family: 4 }) });
      assert.deepEqual(await sink.send([rec(0)]), { delivered: 1 });
      await a.stop(); // the old Loki pod goes away, its name now points elsewhere
      answer = '127.0.0.2';
      assert.deepEqual(await sink.send([rec(1)]), { delivered: 1 });
      assert.deepEqual(b.entries().map((e) => e.ns), [T0 + 1n]);
      await sink.close();
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('TLS', () => {
  test('https with a CA file; rejected without it; insecure_skip_verify accepts', async () => {
    const cert = join(dir, 'ca.pem');
    await writeFile(cert, TEST_TLS.cert);
    const rx = await new LokiReceiver({ tls: TEST_TLS }).start();
    try {
      const url = `https://loki.test:${rx.boundPort}`;
      const lookup = async () => ({ address: '127.0.0.1', family: 4 as const });
      const good = sinkFor(url, { ca_file: cert }, { lookup });
      assert.deepEqual(await good.send([rec(0)]), { delivered: 1 });
      await good.close();
      const untrusted = sinkFor(url, {}, { lookup, maxRetryTimeMs: 300 });
      assert.deepEqual(await untrusted.send([rec(1)]), { delivered: 0, dropped: { retries_exhausted: 1 } });
      await untrusted.close();
      const insecure = sinkFor(url, { insecure_skip_verify: true }, { lookup });
      assert.deepEqual(await insecure.send([rec(2)]), { delivered: 1 });
      await insecure.close();
      assert.deepEqual(rx.entries().map((e) => e.ns), [T0, T0 + 2n]);
    } finally {
      await rx.stop();
    }
  });
});

describe('auto-discovery', () => {
  test('choosing the Service and port', () => {
    const svc = (ns: string, ports: Array<{ name?: string; port: number }>, clusterIP = '10.96.3.3') => ({ ...service(ns, 'grafana-loki', { clusterIP, ports }), kind: 'Service' });
    assert.equal(pickLokiService([]), 'no such Service');
    assert.deepEqual(pickLokiService([svc('logging', [{ name: 'grpc', port: 9095 }, { name: 'x', port: 3100 }])]), { url: 'http://10.96.3.3:3100', namespace: 'logging', name: 'grafana-loki', port: 3100 });
    assert.equal((pickLokiService([svc('logging', [{ name: 'http-metrics', port: 8080 }])]) as { port: number }).port, 8080);
    assert.equal((pickLokiService([svc('logging', [{ name: 'http', port: 80 }])]) as { port: number }).port, 80);
    assert.match(pickLokiService([svc('logging', [{ name: 'grpc', port: 9095 }])]) as string, /logging\/grafana-loki has neither port 3100 nor a port named http or http-metrics/);
    assert.equal((pickLokiService([svc('logging', [{ port: 3100 }], 'None')]) as { url: string }).url, 'http://grafana-loki.logging.svc:3100');
    assert.equal((pickLokiService([svc('logging', [{ port: 3100 }], 'fd00::10')]) as { url: string }).url, 'http://[fd00::10]:3100');
    // The configured namespace wins; otherwise the first namespace by name.
    const two = [svc('zeta', [{ port: 3100 }], '10.0.0.2'), svc('alpha', [{ port: 3100 }], '10.0.0.1')];
    assert.equal((pickLokiService(two, 'zeta') as { namespace: string }).namespace, 'zeta');
    assert.equal((pickLokiService(two, 'other') as { namespace: string }).namespace, 'alpha');
  });

  test('Service appears later, changes port, is deleted, reappears elsewhere', async () => {
    const api = await new FakeKubeApi().start();
    const rx1 = await new LokiReceiver().start();
    const rx2 = await new LokiReceiver().start();
    const kube = new KubeClient({ server: api.url, token: api.token, timeoutMs: 1000 });
    const { logger, lines } = capture();
    const sink = new LokiSink({ discovery_namespace: 'monitoring', min_backoff_ms: 20, max_backoff_ms: 100 }, { node: 'node-1', kube, logger, maxRetryTimeMs: 3000 });
    try {
      api.apply('v1/services', service('monitoring', 'other-loki', { clusterIP: '127.0.0.1', ports: [{ name: 'http', port: rx2.boundPort }] }));
      const sending = sink.send([rec(0)]);
      // Discovery has listed the Services: other-loki is not the name it looks for.
      await waitFor('discovery to find no Loki Service', () => lines.some((l) => l.msg === 'loki: no address; events wait in the bounded queue'), 2000);
      assert.equal(sink.url, undefined);
      api.apply('v1/services', service('logging', 'grafana-loki', { clusterIP: '127.0.0.1', ports: [{ name: 'grpc', port: 9095 }, { name: 'http', port: rx1.boundPort }] }));
      assert.deepEqual(await sending, { delivered: 1 });
      assert.equal(sink.url, `http://127.0.0.1:${rx1.boundPort}/loki/api/v1/push`);
      assert.equal(rx1.entries().length, 1);
      // The configured namespace is preferred as soon as it has one.
      api.apply('v1/services', service('monitoring', 'grafana-loki', { clusterIP: '127.0.0.1', ports: [{ name: 'http-metrics', port: rx2.boundPort }] }));
      await waitFor('monitoring preferred', () => sink.url?.includes(`:${rx2.boundPort}/`) ?? false, 2000);
      assert.deepEqual(await sink.send([rec(1)]), { delivered: 1 });
      assert.deepEqual(rx2.entries().map((e) => e.ns), [T0 + 1n]);
      // Port change of the Service in use.
      api.apply('v1/services', service('monitoring', 'grafana-loki', { clusterIP: '127.0.0.1', ports: [{ name: 'http', port: rx1.boundPort }] }));
      await waitFor('port change', () => sink.url?.includes(`:${rx1.boundPort}/`) ?? false, 2000);
      assert.deepEqual(await sink.send([rec(2)]), { delivered: 1 });
      assert.deepEqual(rx1.entries().map((e) => e.ns), [T0, T0 + 2n]);
      // Deleted everywhere: nothing to push to; within the budget the batch waits, after it, it is dropped.
      api.delete('v1/services', 'monitoring', 'grafana-loki');
      api.delete('v1/services', 'logging', 'grafana-loki');
      await waitFor('deleted', () => sink.url === undefined, 2000);
      let settled = false;
      const waiting = sink.send([rec(3)]).finally(() => { settled = true; });
      await holdsFor('the batch waits for an address', () => !settled, 300);
      api.apply('v1/services', service('tools', 'grafana-loki', { clusterIP: '127.0.0.1', ports: [{ name: 'grpc', port: 9095 }, { name: 'http', port: rx2.boundPort }] }));
      assert.deepEqual(await waiting, { delivered: 1 });
      assert.deepEqual(rx2.entries().map((e) => e.ns), [T0 + 1n, T0 + 3n]);
      const used = lines.filter((l) => l.msg === 'loki: pushing to discovered Service').map((l) => l.service);
      assert.deepEqual(used.slice(0, 2), ['logging/grafana-loki', 'monitoring/grafana-loki']);
      assert.ok(lines.some((l) => l.msg === 'loki: no address; events wait in the bounded queue'));
      // Gone for longer than the budget: dropped as no_address.
      api.delete('v1/services', 'tools', 'grafana-loki');
      await waitFor('deleted again', () => sink.url === undefined, 2000);
      const short = new LokiSink({}, { node: 'node-1', kube, maxRetryTimeMs: 300 });
      assert.deepEqual(await short.send([rec(4)]), { delivered: 0, dropped: { no_address: 1 } });
      await short.close();
    } finally {
      await sink.close();
      await kube.close();
      await rx1.stop();
      await rx2.stop();
      await api.stop();
    }
  });

  test('no url and not in a cluster: the error is logged once, batches are dropped as no_address', async () => {
    const { logger, lines } = capture();
    const sink = new LokiSink({}, { node: 'node-1', logger, maxRetryTimeMs: 200, kube: () => KubeClient.inCluster({ env: {} }) });
    assert.deepEqual(await sink.send([rec(0)]), { delivered: 0, dropped: { no_address: 1 } });
    await sink.close();
    const err = lines.filter((l) => l.level === 'error');
    assert.equal(err.length, 1);
    assert.equal(err[0].msg, 'loki discovery: no Kubernetes API client; set event_config.sinks.loki.url');
    assert.match(String(err[0].error), /not in a Kubernetes pod/);
  });

  test('Kubernetes API unreachable at start, available later: retried with backoff, the batch delivered', async () => {
    const api = await new FakeKubeApi().start();
    await api.stop(); // keeps its port
    const rx = await new LokiReceiver().start();
    const kube = new KubeClient({ server: api.url, token: api.token, timeoutMs: 500 });
    const { logger, lines } = capture();
    const sink = new LokiSink({}, { node: 'node-1', kube, logger, discoveryMinBackoffMs: 50, discoveryMaxBackoffMs: 200, maxRetryTimeMs: 5000 });
    try {
      const sending = sink.send([rec(0), rec(1)]);
      await waitFor('retries', () => lines.filter((l) => l.msg === 'loki discovery: Kubernetes API call failed, retrying').length >= 2, 3000);
      const warn = lines.find((l) => l.msg === 'loki discovery: Kubernetes API call failed, retrying')!;
      assert.match(String(warn.error), /Kubernetes API http:\/\/127\.0\.0\.1:\d+ unreachable: GET \/api\/v1\/services: ECONNREFUSED/);
      api.apply('v1/services', service('logging', 'grafana-loki', { clusterIP: '127.0.0.1', ports: [{ name: 'http', port: rx.boundPort }] }));
      await api.start();
      assert.deepEqual(await sending, { delivered: 2 });
      assert.deepEqual(rx.entries().map((e) => e.ns), [T0, T0 + 1n]);
      const info = lines.find((l) => l.msg === 'loki: pushing to discovered Service')!;
      assert.equal(info.url, `http://127.0.0.1:${rx.boundPort}`);
      const q = api.requests.find((r) => r.path === '/api/v1/services')!.query;
      assert.equal(q.fieldSelector, 'metadata.name=grafana-loki');
    } finally {
      await sink.close();
      await kube.close();
      await rx.stop();
      await api.stop();
    }
  });
});
