// The live event stream server: filters, concurrent clients, per-client bounded buffers with
// counted drops, SSE, and its refusals (bad filter, unknown path, too many clients).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import type { PodRef } from '../../src/model.js';
import type { NetEvent } from '../../src/events/model.js';
import { EventPipeline } from '../../src/events/pipeline.js';
import { parseJsonLine } from '../../src/events/format.js';
import { StreamSink } from '../../src/sinks/stream.js';
import { waitFor } from '../helpers/wait.js';

const TS = 1741163909810866660n;
const PODS: Record<number, PodRef> = {
  1001: { name: 'nginx-7d9c', namespace: 'web', uid: 'u1', source: 'cri' },
  1002: { name: 'redis-0', namespace: 'web', uid: 'u2', source: 'cri' },
  1003: { name: 'coredns-5f', namespace: 'kube-system', uid: 'u3', source: 'cri' },
};

const ev = (i: number, type: NetEvent['type'], netns: number, msg = `event ${i}`): NetEvent => ({
  timeUnixNano: TS + BigInt(i), type, probe: 'tcpreset', severity: 'WARN', msg, netns, attrs: { i },
});

interface Client {
  res: IncomingMessage;
  lines: string[];
  /** Resolves when the response ended (attached at once: a short body can end before the caller runs). */
  ended: Promise<void>;
  close(): void;
}

/** Connects and collects lines; resolves once the response headers arrived (the client is registered). */
function connect(port: number, path: string, headers: Record<string, string> = {}, idleTimeoutMs = 10_000): Promise<Client> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, headers }, (res) => {
      const client: Client = { res, lines: [], ended: new Promise((r) => res.once('end', r)), close: () => req.destroy() };
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        const parts = buf.split('\n');
        buf = parts.pop()!;
        client.lines.push(...parts.filter((l) => l !== ''));
      });
      res.on('error', () => {});
      resolve(client);
    });
    req.on('error', reject);
    if (idleTimeoutMs > 0) req.setTimeout(idleTimeoutMs, () => req.destroy(new Error('test client timeout')));
  });
}

async function fetchText(port: number, path: string): Promise<{ status: number; body: string }> {
  const c = await connect(port, path);
  await c.ended;
  return { status: c.res.statusCode!, body: c.lines.join('\n') };
}

describe('event stream server', () => {
  let sink: StreamSink;
  let pipeline: EventPipeline;
  let port: number;
  const clients: Client[] = [];

  before(async () => {
    sink = new StreamSink({ maxClients: 6, clientBufferEvents: 10 });
    await sink.listen(0, '127.0.0.1');
    port = sink.address!.port;
    pipeline = new EventPipeline({ nodeName: 'node-a', resolve: (n) => PODS[n] });
    pipeline.setSink(sink, { batchMaxWaitMs: 1, batchMaxEvents: 1000, maxQueueEvents: 100_000 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await pipeline.close(1000);
  });

  test('filters by type, namespace and pod; concurrent clients each get their events', async () => {
    const open = async (path: string) => { const c = await connect(port, path); clients.push(c); return c; };
    const all1 = await open('/events');
    const all2 = await open('/events');
    const byType = await open('/events?type=TCP_RETRANS,TCP_RCV_RST_ESTAB');
    const byPod = await open('/events?namespace=web&pod=redis-0');
    const byNs = await open('/events?namespace=kube-system');
    const none = await open('/events?type=PACKETLOSS&namespace=web');
    for (const c of [all1, all2, byType, byPod, byNs, none]) assert.equal(c.res.statusCode, 200);
    assert.equal(all1.res.headers['content-type'], 'application/x-ndjson');

    const events = [
      ev(0, 'TCP_RETRANS', 1001), ev(1, 'TCP_RCV_RST_ESTAB', 1002), ev(2, 'PACKETLOSS', 1003),
      ev(3, 'TCP_SEND_RST', 1002), ev(4, 'TCP_RETRANS', 1003),
    ];
    for (const e of events) pipeline.publish(e);
    await waitFor('unfiltered clients', () => all1.lines.length === 5 && all2.lines.length === 5, 5000);
    // Every line the server wrote has arrived, so a wrongly routed one would be here too.
    await waitFor('all 5 events handed to the stream', () => pipeline.stats().stream.sent >= 5, 5000);
    const all = [all1, all2, byType, byPod, byNs, none];
    await waitFor('each client to have what the server sent it', () => sink.clientInfo().every((c, i) => all[i]!.lines.length === c.sent), 5000);
    const ids = (c: Client) => c.lines.map((l) => parseJsonLine(l)!.attrs.i);
    assert.deepEqual(ids(all1), [0, 1, 2, 3, 4]);
    assert.deepEqual(all2.lines, all1.lines);
    assert.deepEqual(ids(byType), [0, 1, 4]);
    assert.deepEqual(ids(byPod), [1, 3]);
    assert.deepEqual(ids(byNs), [2, 4]);
    assert.deepEqual(none.lines, []);
    // The line is the stdout sink's JSON, exact timestamp included.
    assert.ok(all1.lines[0].startsWith('{"timestamp":1741163909810866660,"type":"TCP_RETRANS","msg":"event 0"'), all1.lines[0]);
    assert.deepEqual(sink.clientInfo().map((c) => c.sent), [5, 5, 3, 2, 2, 0]);
    for (const c of clients.splice(0)) c.close();
    await waitFor('clients gone', () => sink.clientInfo().length === 0, 5000);
  });

  test('refusals: unknown type or parameter (400), unknown path (404), too many clients (503)', async () => {
    const bad = await fetchText(port, '/events?type=TCP_RESET');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /^unknown event type "TCP_RESET" \(valid: LISTEN_OVERFLOW, PACKETLOSS, /);
    assert.equal((await fetchText(port, '/events?podname=x')).status, 400);
    assert.equal((await fetchText(port, '/metrics')).status, 404);
    const usage = await fetchText(port, '/');
    assert.match(usage.body, /GET \/events/);
    for (let i = 0; i < 6; i++) clients.push(await connect(port, '/events'));
    const refused = await fetchText(port, '/events');
    assert.equal(refused.status, 503);
    assert.equal(refused.body, 'too many stream clients (max_clients 6)');
    for (const c of clients.splice(0)) c.close();
    await waitFor('clients gone', () => sink.clientInfo().length === 0, 5000);
  });

  test('idle connections get a heartbeat (a blank line; an SSE comment)', async () => {
    const hb = new StreamSink({ heartbeatMs: 20 });
    await hb.listen(0, '127.0.0.1');
    const raw = (headers: Record<string, string>) => new Promise<string>((resolve, reject) => {
      const req = get({ host: '127.0.0.1', port: hb.address!.port, path: '/events', headers }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { data += d; if (data.length >= 4) { req.destroy(); resolve(data); } });
      });
      req.on('error', reject);
      req.setTimeout(5000, () => req.destroy(new Error('no heartbeat')));
    });
    try {
      assert.match(await raw({}), /^\n\n/);
      assert.match(await raw({ accept: 'text/event-stream' }), /^:\n\n/);
    } finally {
      await hb.close();
    }
  });

  test('server-sent events', async () => {
    const c = await connect(port, '/events?type=KernelLog', { accept: 'text/event-stream' });
    clients.push(c);
    assert.equal(c.res.headers['content-type'], 'text/event-stream');
    pipeline.publish(ev(7, 'KernelLog', 1001, 'neighbor table overflow'));
    await waitFor('one event', () => c.lines.length === 1, 5000);
    assert.match(c.lines[0], /^data: \{"timestamp":1741163909810866667,"type":"KernelLog","msg":"neighbor table overflow",/);
    c.close();
  });

  test('a client that stops reading loses events beyond its buffer, counted; others get everything', async () => {
    // The stalled client's socket is idle for the whole test: no client-side idle timeout.
    const slow = await connect(port, '/events', {}, 0);
    const fast = await connect(port, '/events');
    clients.push(slow, fast);
    sink.configure({ clientBufferEvents: 500 });
    pipeline.setSink(sink, { batchMaxWaitMs: 1, batchMaxEvents: 200, maxQueueEvents: 100_000 });
    slow.res.pause(); // stop reading: the socket backs up and the server must buffer, bounded
    const before = pipeline.stats().stream.dropped.slow_client ?? 0;
    const total = 20_000;
    const step = 200; // one batch: the reading client never has more than this outstanding (< its buffer)
    const msg = 'x'.repeat(1000);
    for (let i = 0; i < total; i += step) {
      for (let j = i; j < i + step; j++) pipeline.publish(ev(j, 'TCP_RETRANS', 1001, msg));
      // Paced on the reader, not on the clock, so a loaded machine cannot make it lose events.
      await waitFor(`the fast client to get ${i + step} events`, () => fast.lines.length === i + step, 20_000);
    }
    await waitFor('the pipeline to hand over everything', () => pipeline.stats().stream.sent >= total + 6, 5000);
    const info = sink.clientInfo();
    const slowDropped = info[0].dropped;
    assert.ok(slowDropped > 0, 'the slow client lost events');
    assert.equal(info[1].dropped, 0);
    assert.equal((pipeline.stats().stream.dropped.slow_client ?? 0) - before, slowDropped, 'every loss is counted');

    slow.res.resume();
    // It then gets its buffered events, and a line saying how many it lost.
    // The notice comes first, then up to a buffer's worth of events: wait for the sum, not a while.
    const received = () => slow.lines.filter((l) => l.startsWith('{"timestamp"')).length;
    await waitFor('the slow client to catch up', () => received() + slowDropped === total, 20_000);
    const notices = slow.lines.filter((l) => l.startsWith('{"dropped":'));
    assert.deepEqual(notices.map((l) => JSON.parse(l)), [{ dropped: slowDropped }]);
    for (const c of clients.splice(0)) c.close();
  });
});
