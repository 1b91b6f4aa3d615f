// The agent restarted in the middle of a Loki outage, with the disk spool on: the real CLI as a
// child process, real eBPF reset events (connections to a closed port, made by this test), the
// strict Loki test receiver playing 2.7.7. Every event the agents printed on stdout (their
// stdout sink sees the same events as the Loki sink) reaches Loki exactly once, with its exact
// ns time, in the order the agents published them: the first agent's queue survives on disk
// and the second agent sends it before its own events. Needs root (eBPF).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LokiReceiver } from '../helpers/loki-receiver.js';
import { freePort } from '../helpers/net.js';
import { CLI } from '../helpers/paths.js';
import { giveUp, stopProcess, waitFor } from '../helpers/wait.js';

const cleanups: (() => Promise<unknown> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

interface Run {
  child: ChildProcess;
  /** ns times of the events printed on stdout, in order. */
  events: bigint[];
  stderr: string[];
}

/** Fails the wait at once when the agent has exited. */
function alive(run: Run): void {
  if (run.child.exitCode !== null) giveUp(`the agent exited (${run.child.exitCode}): ${run.stderr.slice(-3).join(' | ')}`);
}

function startAgent(config: string): Run {
  const child = spawn(process.execPath, [CLI, 'run', '--config', config, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { child, events: [], stderr: [] };
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop()!;
    // The timestamp is the exact integer; read it from the text, not through a double.
    for (const l of lines) {
      const m = /^\{"timestamp":(\d+),/.exec(l);
      if (m) run.events.push(BigInt(m[1]!));
    }
  });
  child.stderr!.on('data', (d: Buffer) => run.stderr.push(...d.toString().split('\n').filter(Boolean)));
  cleanups.push(() => stopProcess(child, 'SIGKILL'));
  return run;
}

test('agent restarted during a Loki outage with the spool on: every event reaches Loki once, in order, exact ns', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubesonar-outages-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const rx = await new LokiReceiver({ version: '2.7.7' }).start();
  cleanups.push(() => rx.stop());
  const config = join(dir, 'config.yaml');
  await writeFile(config, `
metric_config:
  interval: 60
event_config:
  port: ${await freePort()}
  probes: [tcpreset]
  events_per_second: 1000
  sinks:
    stdout: {enabled: true, format: json}
    loki:
      enabled: true
      url: ${rx.url}
      batch_max_events: 50
      batch_max_wait_ms: 100
      max_queue_events: 100
      min_backoff_ms: 10
      max_backoff_ms: 200
      max_age_ms: 600000
      spool_dir: ${join(dir, 'spool')}
`);
  // A steady stream of resets: connections to a port nothing listens on (the kernel answers RST).
  const resets = setInterval(() => connect(9, '127.0.0.1').on('error', () => {}), 20);
  cleanups.push(() => clearInterval(resets));

  const first = startAgent(config);
  await waitFor('events in Loki', () => (alive(first), rx.entries().length >= 20), 60_000, () => first.stderr.slice(-5).join('\n'));
  await rx.stop(); // Loki down
  const inLoki = rx.entries().length;
  await waitFor('the first agent to queue events during the outage', () => (alive(first), first.events.length >= inLoki + 150), 30_000);
  assert.equal(await stopProcess(first.child, 'SIGTERM', 15_000), 0);
  const firstCount = first.events.length;
  assert.ok(first.stderr.some((l) => l.includes('loki: backend unreachable, retrying')));

  const second = startAgent(config);
  await waitFor('the second agent to queue events, Loki still down', () => (alive(second), second.events.length >= 100), 60_000, () => second.stderr.slice(-5).join('\n'));
  await rx.start(); // Loki back
  clearInterval(resets);
  const expected = () => [...first.events, ...second.events];
  // Other processes on the node may still cause resets: wait for a moment when Loki has all.
  await waitFor('Loki to hold every event the agents printed', () => rx.entries().length === expected().length && rx.entries().length > 0, 60_000,
    () => `Loki ${rx.entries().length}, printed ${expected().length}`);
  const printed = expected();
  // Within one push the Loki sink sorts a stream's entries by time; across pushes the order is
  // the agents' order: each push holds exactly the next events printed.
  let at = 0;
  for (const push of rx.pushes) {
    const times = push.streams.flatMap((s) => s.entries.map((e) => e.ns)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const next = printed.slice(at, at + times.length).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.deepEqual(times, next, `push ${rx.pushes.indexOf(push)} holds the next ${times.length} events`);
    at += times.length;
  }
  assert.equal(at, printed.length);
  assert.equal(new Set(printed).size, printed.length, 'no event twice');
  const status = await stopProcess(second.child, 'SIGTERM', 15_000);
  assert.equal(status, 0);
  t.diagnostic(`first agent: ${firstCount} events (${firstCount - inLoki} not in Loki when it stopped, kept in the spool), second: ${second.events.length}; Loki: ${rx.entries().length} in ${rx.pushes.length} pushes`);
});
