// A full disk under the Loki sink's spool: a 192 KiB tmpfs mounted for the test, Loki down, far
// more events than fit. The agent keeps serving (/metrics, /status), /status shows the spool's
// write error, the log says so once, and every event is either delivered or counted by reason
// (spool_write_failed for the ones that were on disk only). When Loki is back and the spool
// empties, writes work again. Needs root (mount).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetEvent } from '../../src/events/model.js';
import { startAgent, seriesValue, type TestAgent } from '../helpers/agent.js';
import { LokiReceiver } from '../helpers/loki-receiver.js';
import { waitFor } from '../helpers/wait.js';

const T0 = 1763880000123456789n;
const POD = { name: 'cart-7d9f', namespace: 'shop', uid: 'u-1', source: 'cri' as const };
const ev = (i: number): NetEvent => ({
  timeUnixNano: T0 + BigInt(i) * 1_000_003n, type: 'TCP_RCV_RST_ESTAB', probe: 'tcpreset', severity: 'WARN',
  msg: `reset received ${i}`, pod: POD, attrs: { saddr: '10.244.1.7', sport: 40000, seq: i },
});

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

test('full disk under the spool: a clear status, one log line, drops counted, the agent keeps serving', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubesonar-outages-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const disk = join(dir, 'disk');
  await mkdir(disk);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192k', 'kubesonar-outages-spool', disk]);
  cleanups.push(() => { execFileSync('umount', [disk]); });
  const rx = await new LokiReceiver({ version: '2.7.7' }).start();
  await rx.stop(); // Loki down from the start
  cleanups.push(() => rx.stop());
  const config = join(dir, 'config.yaml');
  await writeFile(config, `
metric_config: {probes: [tcp]}
event_config:
  probes: []
  sinks:
    stdout: {enabled: false}
    loki:
      enabled: true
      url: ${rx.url}
      batch_max_events: 50
      batch_max_wait_ms: 20
      max_queue_events: 100
      min_backoff_ms: 10
      max_backoff_ms: 100
      max_age_ms: 600000
      spool_dir: ${disk}
      spool_max_bytes: 67108864
`);
  const agent: TestAgent = await startAgent({ configPath: config, port: 0 });
  cleanups.push(() => agent.stop());
  const pipeline = agent.agent.events.pipeline;
  const lokiStatus = async () => (await agent.status()).events.sinks.loki;

  // ~640 bytes per event on disk: 2000 events are about 7 times the disk.
  const n = 2000;
  let published = 0;
  await waitFor('every event published', async () => {
    for (let k = 0; k < 100 && published < n; k++) pipeline.publish(ev(published++));
    return published === n;
  }, 30_000);
  const failing = await waitFor('the spool to report the full disk', async () => {
    const s = await lokiStatus();
    return /ENOSPC/.test(s.spool.state) ? s : undefined;
  }, 10_000);
  assert.ok(failing.spool.writeErrors > 0);
  const logged = agent.logs.filter((l) => l.includes('event spool: writes fail'));
  assert.equal(logged.length, 1, 'one log line for the failure, not one per write');
  assert.match(logged[0]!, /ENOSPC/);
  // Still serving: the metrics endpoint answers, with the drops by reason.
  await waitFor('the drops counted on /metrics', async () => (seriesValue(await agent.metrics(), 'netexporter_agent_event_sink_dropped_total', { sink: 'loki', reason: 'spool_write_failed' }) ?? 0) > 0, 10_000);

  await rx.start(); // Loki back: memory and disk drain
  let lastStatus: unknown;
  const done = await waitFor('every event delivered or counted', async () => {
    const s = await lokiStatus();
    lastStatus = s;
    // The agent's own findings (configuration checks) go through the same pipeline: count them all.
    return s.queued + s.inFlight === 0 && rx.entries().length + sum(s.dropped) === pipeline.published ? s : undefined;
  }, 30_000, () => `received ${rx.entries().length}, ${JSON.stringify(lastStatus)}`);
  assert.deepEqual(Object.keys(done.dropped), ['spool_write_failed'], JSON.stringify(done.dropped));
  const all = Array.from({ length: n }, (_, i) => ev(i).timeUnixNano);
  const ours = new Set(all);
  const got = rx.entries().map((e) => e.ns).filter((t) => ours.has(t));
  let j = 0;
  for (const t of got) {
    while (j < n && all[j] !== t) j++;
    assert.ok(j < n, 'what arrived is in publishing order, each once, exact ns');
    j++;
  }

  // Delivered events are acknowledged and their segments deleted: the disk has room again.
  for (let i = n; i < n + 20; i++) pipeline.publish(ev(i));
  const later = new Set(Array.from({ length: 20 }, (_, i) => ev(n + i).timeUnixNano));
  const arrived = () => rx.entries().filter((e) => later.has(e.ns)).length;
  await waitFor('the new events delivered', () => arrived() === 20, 10_000, () => `${arrived()} of 20: ${JSON.stringify(pipeline.stats().loki)}`);
  await waitFor('writes working again', async () => (await lokiStatus()).spool.state === 'ok', 10_000);
  assert.ok(agent.logs.some((l) => l.includes('event spool: writes work again')));
});
