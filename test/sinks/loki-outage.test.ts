// Loki outages through the real event pipeline, Loki sink and push transport, against the strict
// Loki test receiver playing 2.7.7: a 10-minute outage in compressed time (every duration of
// the retry path divided by 60: the outage 10 s, max_age 15 s, backoff 4..170 ms; the retry
// path itself is run, attempt after attempt against a closed port) loses nothing; past the
// bounds, what is lost is counted exactly, by reason.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetEvent } from '../../src/events/model.js';
import { EventPipeline, recordBytes, type SinkOptions } from '../../src/events/pipeline.js';
import { createLogger } from '../../src/log.js';
import { LokiSink, type LokiSinkConfig } from '../../src/sinks/loki/index.js';
import { LokiReceiver } from '../helpers/loki-receiver.js';
import { waitFor } from '../helpers/wait.js';

const T0 = 1763880000123456789n; // exact ns, beyond 2^53
const POD = { name: 'cart-7d9f', namespace: 'shop', uid: 'u-1', source: 'cri' as const };
/** Compressed time: 10 minutes of outage become 10 s. */
const COMPRESSION = 60;

/** Event i: its own ns time (spaced by a prime, so no rounding can go unnoticed), one stream. */
function ev(i: number): NetEvent {
  return {
    timeUnixNano: T0 + BigInt(i) * 1_000_003n, type: 'TCP_RCV_RST_ESTAB', probe: 'tcpreset', severity: 'WARN',
    msg: `reset received ${String(i).padStart(6, '0')}`, pod: POD, attrs: { saddr: '10.244.1.7', sport: 40000, seq: i },
  };
}

interface Rig {
  rx: LokiReceiver;
  pipeline: EventPipeline;
  logs: Array<Record<string, unknown>>;
  /** Event times published so far, in order. */
  emitted: bigint[];
  publish(n: number): void;
  /** Entry times the receiver holds, in arrival order. */
  received(): bigint[];
  dropped(): Record<string, number>;
}

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function rig(sink: LokiSinkConfig, options: Partial<SinkOptions>): Promise<Rig> {
  const rx = await new LokiReceiver({ version: '2.7.7' }).start();
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger((l) => logs.push(JSON.parse(l) as Record<string, unknown>));
  logger.debugEnabled = true;
  const pipeline = new EventPipeline({ nodeName: 'node-1', resolve: () => undefined });
  pipeline.setSink(new LokiSink({ url: rx.url, ...sink }, { node: 'node-1', logger, requestTimeoutMs: 2000 }), options);
  cleanups.push(() => pipeline.close(100), () => rx.stop());
  const emitted: bigint[] = [];
  return {
    rx, pipeline, logs, emitted,
    publish(n) {
      for (let k = 0; k < n; k++) {
        const e = ev(emitted.length);
        emitted.push(e.timeUnixNano);
        pipeline.publish(e);
      }
    },
    received: () => rx.entries().map((e) => e.ns),
    dropped: () => pipeline.stats().loki?.dropped ?? {},
  };
}

/** Publishes `perTick` events every 10 ms until stopped: a steady stream. */
function steady(r: Rig, perTick: number): { stop(): void } {
  const timer = setInterval(() => r.publish(perTick), 10);
  return { stop: () => clearInterval(timer) };
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

/** Whether `sub` is `all` with some elements left out, order kept. */
function isSubsequence(sub: bigint[], all: bigint[]): boolean {
  let j = 0;
  for (const x of sub) {
    while (j < all.length && all[j] !== x) j++;
    if (j === all.length) return false;
    j++;
  }
  return true;
}

describe('Loki down during a steady event stream', () => {
  test('10 minutes down (compressed 60 times): every event arrives, in order, exact ns, nothing dropped', async (t) => {
    const r = await rig(
      { batch_max_events: 1000, min_backoff_ms: Math.round(250 / COMPRESSION), max_backoff_ms: Math.round(10_000 / COMPRESSION) },
      { batchMaxEvents: 1000, batchMaxWaitMs: 1000 / COMPRESSION * 10, maxAgeMs: 15 * 60_000 / COMPRESSION, maxQueueEvents: 100_000 },
    );
    const stream = steady(r, 2); // 200 events/s
    await waitFor('events flowing into Loki', () => r.received().length >= 200, 10_000);
    await r.rx.stop();
    const downAt = Date.now();
    const before = r.received().length;
    await waitFor('10 compressed minutes of outage', () => Date.now() - downAt >= 10 * 60_000 / COMPRESSION, 20_000);
    const retries = r.logs.filter((l) => l.msg === 'loki: push failed, retrying').length;
    const queued = r.pipeline.stats().loki!;
    await r.rx.start();
    await waitFor('events flowing again', () => r.received().length > before + (queued.queued + queued.inFlight), 20_000);
    stream.stop();
    await waitFor('the queue drained', () => r.received().length === r.emitted.length, 20_000,
      () => `received ${r.received().length} of ${r.emitted.length}, stats ${JSON.stringify(r.pipeline.stats().loki)}`);
    assert.deepEqual(r.received(), r.emitted, 'every event, in order, with its exact time');
    assert.deepEqual(r.dropped(), {});
    assert.ok(queued.queued + queued.inFlight >= 1500, `the outage's events were queued (${queued.queued + queued.inFlight})`);
    // The retry path ran all along: attempt after attempt on the closed port, waits from the backoff.
    assert.ok(retries >= 50, `${retries} retries during the outage`);
    assert.ok(r.logs.some((l) => l.msg === 'loki: backend unreachable, retrying'));
    assert.ok(r.logs.some((l) => l.msg === 'loki: backend reachable again'));
    t.diagnostic(`${r.emitted.length} events, ${queued.queued + queued.inFlight} queued at the end of the outage, ${retries} retries, 0 dropped`);
  });

  test('down longer than max_age: every event is received or counted, reasons retries_exhausted or max_age', async () => {
    const maxAgeMs = 1500;
    const r = await rig({ min_backoff_ms: 5, max_backoff_ms: 100 }, { batchMaxEvents: 100, batchMaxWaitMs: 20, maxAgeMs });
    const stream = steady(r, 1); // 100 events/s
    await waitFor('events flowing into Loki', () => r.received().length >= 50, 10_000);
    await r.rx.stop();
    const downAt = Date.now();
    await waitFor('events dropped for their age', () => sum(r.dropped()) > 0, 10_000);
    await waitFor('twice the max age down', () => Date.now() - downAt >= 2 * maxAgeMs, 10_000);
    await r.rx.start();
    await waitFor('events flowing again', () => r.received().length > 0 && r.received().at(-1)! >= r.emitted.at(-1)!, 10_000);
    stream.stop();
    await waitFor('everything received or counted', () => {
      const s = r.pipeline.stats().loki!;
      return s.queued + s.inFlight === 0 && r.received().length + sum(r.dropped()) === r.emitted.length;
    }, 10_000, () => `received ${r.received().length} + dropped ${JSON.stringify(r.dropped())} of ${r.emitted.length}`);
    const received = r.received();
    assert.ok(isSubsequence(received, r.emitted), 'what arrived is in order, exact ns, no duplicates');
    assert.equal(new Set(received).size, received.length);
    const reasons = Object.keys(r.dropped());
    assert.ok(reasons.length > 0 && reasons.every((k) => k === 'retries_exhausted' || k === 'max_age'), reasons.join());
    // What is missing is exactly what is counted.
    const lost = new Set(r.emitted.filter((t) => !received.includes(t)));
    assert.ok(lost.size === sum(r.dropped()));
  });

  test('past max_age with nothing else queued: the batch in flight is counted as retries_exhausted, exactly', async () => {
    const r = await rig({ min_backoff_ms: 5, max_backoff_ms: 50 }, { batchMaxEvents: 20, batchMaxWaitMs: 1, maxAgeMs: 800 });
    await r.rx.stop();
    r.publish(20); // one full batch, at once
    await waitFor('the batch given up', () => sum(r.dropped()) === 20, 10_000);
    assert.deepEqual(r.dropped(), { retries_exhausted: 20 });
    await r.rx.start();
    r.publish(5);
    await waitFor('the later events', () => r.received().length === 5, 10_000);
    assert.deepEqual(r.received(), r.emitted.slice(20));
    assert.deepEqual(r.dropped(), { retries_exhausted: 20 });
  });

  test('past max_queue_bytes: the oldest queued events make room, counted exactly as queue_full; the batch in flight is kept', async () => {
    const size = recordBytes(new EventPipeline({ nodeName: 'node-1', resolve: () => undefined }).toRecord(ev(0)));
    const fit = 50;
    const r = await rig({ min_backoff_ms: 5, max_backoff_ms: 50 }, { batchMaxEvents: 10, batchMaxWaitMs: 1, maxAgeMs: 60_000, maxQueueBytes: fit * size });
    await r.rx.stop();
    r.publish(10); // the batch in flight
    await waitFor('the first batch in flight', () => r.pipeline.stats().loki!.inFlight === 10, 5000);
    r.publish(190);
    assert.deepEqual(r.dropped(), { queue_full: 150 });
    await r.rx.start();
    await waitFor('the kept events', () => r.received().length === fit, 10_000);
    assert.deepEqual(r.received(), [...r.emitted.slice(0, 10), ...r.emitted.slice(160)], 'the batch in flight, then the newest 40');
    assert.deepEqual(r.dropped(), { queue_full: 150 });
  });
});
