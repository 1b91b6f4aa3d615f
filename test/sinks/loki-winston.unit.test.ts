// Evidence for the winston-loki verdict in src/sinks/loki/README.md: winston-loki 6.1.7
// pushed into the same strict receiver as LokiSink. Each test pins one requirement it fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import winston from 'winston';
import LokiTransport from 'winston-loki';
import { LokiReceiver } from '../helpers/loki-receiver.js';
import { waitFor } from '../helpers/wait.js';

type Batcher = { batch: { streams: Array<{ entries: unknown[] }> }; interval: number };
const batcher = (t: LokiTransport) => (t as unknown as { batcher: Batcher }).batcher;

function transport(url: string, opts: Partial<ConstructorParameters<typeof LokiTransport>[0]> = {}): { t: LokiTransport; log: winston.Logger } {
  const t = new LokiTransport({ host: url, interval: 0.05, labels: { k8s_node: 'node-1' }, gracefulShutdown: false, format: winston.format.json(), ...opts });
  return { t, log: winston.createLogger({ transports: [t] }) };
}

describe('winston-loki 6.1.7 against the requirements', () => {
  let rx: LokiReceiver;
  before(async () => {
    rx = await new LokiReceiver().start();
  });
  after(() => rx.stop());

  test('timestamps: replaced by the send time by default, truncated to ms otherwise', async () => {
    const { t, log } = transport(rx.url);
    const before = BigInt(Date.now()) * 1_000_000n;
    const n0 = rx.entries().length;
    log.info({ message: 'reset', timestamp: '2025-11-23T06:40:00.123456789Z' });
    await waitFor('the first push', () => rx.entries().length > n0, 5000);
    const replaced = rx.entries().at(-1)!.ns;
    assert.ok(replaced >= before, 'default replaceTimestamp: the entry carries the log time, not the event time');
    await t.close();

    const { t: t2, log: log2 } = transport(rx.url, { replaceTimestamp: false });
    const n1 = rx.entries().length;
    log2.info({ message: 'reset', timestamp: '2025-11-23T06:40:00.123456789Z' });
    await waitFor('the second push', () => rx.entries().length > n1, 5000);
    assert.equal(rx.entries().at(-1)!.ns, 1763880000123000000n, 'ms precision: the 456789 ns are lost');
    await t2.close();
  });

  test('structured metadata: none in protobuf (meta is folded into the line)', async () => {
    const { t, log } = transport(rx.url);
    const n0 = rx.entries().length;
    log.info({ message: 'reset', k8s_pod: 'cart-7d9f', netns: 4026532801 });
    await waitFor('the push', () => rx.entries().length > n0, 5000);
    const e = rx.entries().at(-1)!;
    assert.deepEqual(e.metadata, {});
    assert.match(e.line, /"k8s_pod":"cart-7d9f"/);
    await t.close();
  });

  test('status codes: a 400 is kept and retried (every 60 s, forever), not dropped; no Retry-After', async () => {
    const n0 = rx.requests.length;
    rx.script.push({ status: 400, body: 'entry too far behind' });
    const { t, log } = transport(rx.url);
    log.info({ message: 'rejected' });
    await waitFor('the push and its re-queue', () => rx.requests.length > n0 && batcher(t).batch.streams[0]?.entries.length === 1, 5000);
    assert.deepEqual(rx.requests.slice(n0).map((r) => r.status), [400]);
    const b = batcher(t);
    assert.equal(b.batch.streams[0].entries.length, 1, 'the rejected entry was re-queued');
    assert.equal(b.interval, 60_000, 'after any failure the loop waits a fixed 60 s and tries again');
    await t.close(); // its final flush now succeeds: the entry Loki refused is sent again
  });

  test('memory: nothing bounds the batch while Loki is down', async () => {
    const down = await new LokiReceiver().start();
    await down.stop();
    const { t, log } = transport(down.url);
    for (let i = 0; i < 20_000; i++) log.info({ message: `event ${i}` });
    // Winston hands lines over asynchronously and a failed send swaps the batch out for a
    // moment: poll (bounded) until all 20 000 sit in the batch.
    const count = () => batcher(t).batch.streams[0]?.entries.length ?? 0;
    await waitFor('all 20 000 in the batch', () => count() >= 20_000, 10_000);
    assert.equal(count(), 20_000);
    (t as unknown as { batcher: { runLoop: boolean; clearBatch(): void } }).batcher.clearBatch();
    await t.close();
  });

  test('labels are not escaped: a quote in a label value makes every push of the stream a 400', async () => {
    const n0 = rx.requests.length;
    const { t, log } = transport(rx.url, { labels: { k8s_node: 'node-1', note: 'say "hi"' }, clearOnError: true });
    log.info({ message: 'x' });
    await waitFor('the push', () => rx.requests.length > n0, 5000);
    assert.deepEqual(rx.requests.slice(n0).map((r) => r.status), [400]);
    await t.close();
  });
});
