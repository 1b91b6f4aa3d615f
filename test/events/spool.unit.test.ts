// The disk spool under the event pipeline: events kept across a restart of the pipeline (the
// agent's), sent afterwards in order with their exact times; a memory queue too small for the
// outage spills to disk instead of dropping; damaged segments are skipped and counted exactly.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord, EventSink, NetEvent, SendOptions, SendResult } from '../../src/events/model.js';
import { EventPipeline, type SinkOptions } from '../../src/events/pipeline.js';
import { crc32 } from '../../src/events/spool.js';
import { waitFor } from '../helpers/wait.js';

const T0 = 1763880000123456789n;
const POD = { name: 'cart-7d9f', namespace: 'shop', uid: 'u-1', source: 'cri' as const };

function ev(i: number): NetEvent {
  return {
    timeUnixNano: T0 + BigInt(i) * 1_000_003n, type: 'TCP_RCV_RST_ESTAB', probe: 'tcpreset', severity: 'WARN',
    msg: `reset received ${i}`, pod: POD, attrs: { saddr: '10.244.1.7', sport: 40000, seq: i },
  };
}

/**
 * A backend that is down or up. Down, a send waits as the push transport does while retrying,
 * until the backend comes up or the sink is closed (then `shutdown`, as the transport says).
 */
class Backend implements EventSink {
  readonly name = 'loki';
  received: EventRecord[] = [];
  private waiters: (() => void)[] = [];
  private closed = false;
  constructor(public up: boolean) {}
  setUp(): void {
    this.up = true;
    for (const w of this.waiters.splice(0)) w();
  }
  async send(batch: readonly EventRecord[], _o?: SendOptions): Promise<SendResult> {
    while (!this.up && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
    if (!this.up) return { delivered: 0, dropped: { shutdown: batch.length } };
    this.received.push(...batch);
    return { delivered: batch.length };
  }
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
  }
}

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kubesonar-spool-'));
  dirs.push(d);
  return d;
}

function run(dir: string, backend: Backend, over: Partial<SinkOptions> = {}): EventPipeline {
  const p = new EventPipeline({ nodeName: 'node-1', resolve: () => undefined });
  p.setSink(backend, { batchMaxEvents: 20, batchMaxWaitMs: 5, maxQueueEvents: 50, spool: { dir, maxBytes: 64 << 20 }, ...over });
  return p;
}

const times = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ev(from + i).timeUnixNano);

describe('disk spool', () => {
  test('a restart during an outage: every event is sent afterwards, in order, exact ns, nothing dropped', async () => {
    const dir = await tempDir();
    const down = new Backend(false);
    const first = run(dir, down);
    for (let i = 0; i < 300; i++) first.publish(ev(i)); // far more than the memory queue's 50
    const s = first.stats().loki!;
    assert.equal(s.queued + s.inFlight, 50, 'memory holds its bound; the rest is on disk only');
    await first.close(200);
    assert.deepEqual(first.stats().loki!.dropped, {}, 'kept on disk, not dropped');

    const up = new Backend(true);
    const second = run(dir, up);
    for (let i = 300; i < 310; i++) second.publish(ev(i)); // new events wait for the old ones
    await waitFor('everything delivered', () => up.received.length === 310, 10_000, () => `${up.received.length} received`);
    assert.deepEqual(up.received.map((r) => r.timeUnixNano), times(310));
    assert.deepEqual(up.received[0]!.attributes, { ...second.toRecord(ev(0)).attributes }, 'records come back whole');
    assert.deepEqual(second.stats().loki!.dropped, {});
    await waitFor('acknowledged', () => second.stats().loki!.spool!.pending === 0, 5000);
    await second.close(200);

    // A third start finds nothing left to send.
    const again = new Backend(true);
    const third = run(dir, again);
    await third.close(200);
    assert.equal(again.received.length, 0);
  });

  test('an outage longer than the memory queue: events wait on disk and go out in order, nothing dropped', async () => {
    const dir = await tempDir();
    const backend = new Backend(false);
    const p = run(dir, backend, { maxQueueEvents: 30 });
    for (let i = 0; i < 1000; i++) p.publish(ev(i));
    assert.deepEqual(p.stats().loki!.dropped, {});
    backend.setUp();
    await waitFor('everything delivered', () => backend.received.length === 1000, 10_000);
    assert.deepEqual(backend.received.map((r) => r.timeUnixNano), times(1000));
    assert.deepEqual(p.stats().loki!.dropped, {});
    await p.close(200);
  });

  test('a corrupted segment is skipped from the damage on, counted exactly; a torn tail is cut off; the rest is sent', async () => {
    const dir = await tempDir();
    const down = new Backend(false);
    // 64 KiB segments: about 100 events each.
    const spool = { dir, maxBytes: 64 << 20, segmentBytes: 64 << 10 };
    const first = run(dir, down, { spool });
    const n = 1000;
    for (let i = 0; i < n; i++) first.publish(ev(i));
    await first.close(200);
    assert.deepEqual(first.stats().loki!.dropped, {});
    const segs = (await readdir(dir)).filter((f) => f.endsWith('.seg')).sort();
    assert.ok(segs.length >= 4, `${segs.length} segments`);
    const firstSeq = (name: string) => Number(name.slice(0, 16));

    // Flip one payload byte of the 10th frame of the second segment: its CRC no longer matches.
    const second = join(dir, segs[1]!);
    const buf = await readFile(second);
    let off = 0;
    for (let k = 0; k < 10; k++) off += 8 + buf.readUInt32LE(off);
    const len = buf.readUInt32LE(off);
    assert.equal(buf.readUInt32LE(off + 4), crc32(buf.subarray(off + 8, off + 8 + len)));
    buf[off + 8 + 5] ^= 0xff;
    await writeFile(second, buf);
    const corrupted = firstSeq(segs[2]!) - (firstSeq(segs[1]!) + 10);
    // Tear the last frame of the last segment, as a crash mid-write does.
    const last = join(dir, segs.at(-1)!);
    const lastSize = (await readFile(last)).length;
    await truncate(last, lastSize - 3);

    const up = new Backend(true);
    const p = run(dir, up, { spool });
    const expected = times(n - 1).filter((_, i) => i < firstSeq(segs[1]!) + 10 || i >= firstSeq(segs[2]!));
    await waitFor('the readable events delivered', () => up.received.length === expected.length, 10_000, () => `${up.received.length} of ${expected.length}, last ${(up.received.at(-1)!.timeUnixNano - T0) / 1_000_003n}, ${JSON.stringify(p.stats().loki)} ${segs.map(firstSeq)}`);
    assert.deepEqual(up.received.map((r) => r.timeUnixNano), expected);
    await waitFor('the damage counted', () => p.stats().loki!.dropped.spool_corrupt === corrupted, 5000);
    assert.deepEqual(p.stats().loki!.dropped, { spool_corrupt: corrupted });
    assert.equal(p.stats().loki!.spool!.damagedSegments, 2, 'the torn tail and the corrupted segment');
    await p.close(200);
  });
});
