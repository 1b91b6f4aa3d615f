// The soak, short: four minutes of pod churn, an event storm, Loki outages and Prometheus
// scraping against the agent as its own process, judged after the first Loki cycle (2 minutes). It passes when
// nothing grew and every event was received or counted as dropped (bench/soak.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/paths.js';
import { stopProcess, waitForExit } from '../helpers/wait.js';

test('a 4-minute soak: RSS, fds and pinned namespaces flat, every event received or counted', { timeout: 12 * 60_000 }, async (t) => {
  const soak = spawn(process.execPath, [join(ROOT, 'dist/bench/soak.js'), '--minutes', '4'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  soak.stdout!.on('data', (c: Buffer) => void (out += c.toString()));
  soak.stderr!.on('data', (c: Buffer) => void (out += c.toString()));
  // Four minutes of load, up to three of draining the queues, and the setup and cleanup of containerd and Prometheus.
  // Stopped with SIGTERM it still removes its pods, containerd and Prometheus.
  const code = await waitForExit(soak, 11 * 60_000).finally(() => stopProcess(soak, 'SIGTERM', 60_000));
  const last = out.trimEnd().split('\n').pop() ?? '';
  t.diagnostic(last);
  assert.equal(code, 0, `the soak failed:\n${out}`);
  const figures = JSON.parse(last) as { ok: boolean; events_per_s: number; loki_uncounted: number; stdout_uncounted: number };
  assert.equal(figures.ok, true);
  assert.ok(figures.events_per_s >= 1000, `${figures.events_per_s} events/s`);
  assert.equal(figures.loki_uncounted, 0);
  assert.equal(figures.stdout_uncounted, 0);
});
