// The collection loop's scheduling and reconfiguration, with a fake entity source.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import type { Entity, MetricProbe } from '../../src/model.js';
import { Collector } from '../../src/pipeline/collector.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const host: Entity = { netns: statSync('/proc/self/ns/net').ino, isHost: true, pids: [process.pid] };
const options = { qdisc_devices: [], qdisc_per_interface: false, pod_cidrs: [], cni_conf_dir: '', cni_data_dir: '' };
/** An entity source whose first discovery the test holds open: that cycle is in flight until release(). */
function heldSource() {
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  const source = { cycles: 0, release: () => release(), discover: async () => { source.cycles++; await held; return [host]; } };
  return source;
}

test('restarting with a new interval while a cycle runs leaves exactly one loop', async () => {
  const source = heldSource();
  const c = new Collector(source, options);
  c.start(0.01);
  await waitFor('a cycle in flight', () => source.cycles === 1, 2000);
  c.start(10); // joins the cycle in flight; the next one is 10 s away
  source.release();
  // 40 periods of the old 10 ms loop: it would have started more cycles.
  await holdsFor('one cycle: the old 10 ms loop stopped', () => source.cycles === 1, 400);
  c.stop();
  assert.equal(source.cycles, 1, 'the old 10 ms loop kept running');
});

test('a probe removed during a cycle does not lose the cycle', async () => {
  const source = heldSource();
  const probe = (name: string): MetricProbe => ({ name, scope: 'netns', metrics: [], collect: async () => [{ metric: 'currestab', value: 1 }] });
  const c = new Collector(source, options);
  await c.configure([probe('tcp'), probe('udp')], options);
  const cycle = c.collect();
  await waitFor('the cycle in flight', () => source.cycles === 1, 2000);
  await c.configure([probe('udp')], options);
  source.release();
  const snap = await cycle;
  assert.equal(snap.samples.length, 2, 'the cycle ran the probe set it started with');
  assert.deepEqual(Object.keys(c.status()), ['udp']);
});

test('a failing probe is an error with its reason and a count that survives reconfiguration', async () => {
  const failing: MetricProbe = { name: 'tcp', scope: 'netns', metrics: [], collect: async () => { throw new Error('boom'); } };
  const c = new Collector({ discover: async () => [host] }, options);
  await c.configure([failing], options);
  await c.collect();
  await c.collect();
  assert.deepEqual({ ...c.status().tcp, lastDurationMs: 0 }, { state: 'error', reason: 'host: boom', notes: [], errors: 2, lastDurationMs: 0 });
  await c.configure([], options);
  await c.configure([failing], options);
  assert.equal(c.status().tcp!.errors, 2);
});
