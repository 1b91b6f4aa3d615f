// Processes and namespaces that go while a collection reads them, for real: the tcp probe
// reads /proc/<pid>/net/snmp of a throwaway namespace whose process the test kills between
// discovery and the read. A process that exits while another keeps the namespace: the read is
// made again through the other one, no error. The namespace itself gone: the cycle completes,
// the namespace is left out of the snapshot, no probe error, one notice.

import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { after, test } from 'node:test';

import { probe } from '../../src/catalogue/index.js';
import type { Entity, MetricProbe } from '../../src/model.js';
import { Collector } from '../../src/pipeline/collector.js';
import { cleanup, createNetns, run } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

after(cleanup);

const host: Entity = { netns: statSync('/proc/self/ns/net').ino, isHost: true, pids: [process.pid] };
const options = { qdisc_devices: [], qdisc_per_interface: false, pod_cidrs: [], cni_conf_dir: '', cni_data_dir: '' };
const tcp = probe('tcp')!.metric!;

/** The tcp probe, holding its read of `netns` until the gate opens. */
function gated(netns: number) {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let waiting = false;
  const wrapped: MetricProbe = {
    ...tcp,
    collect: async (e, ctx) => {
      if (e.netns === netns) {
        waiting = true;
        await gate;
      }
      return tcp.collect(e, ctx);
    },
  };
  return { probe: wrapped, open: () => open(), waiting: () => waiting };
}

async function kill(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  await waitFor(`process ${pid} gone`, () => !existsSync(`/proc/${pid}`), 5000);
}

test('the process read through exits mid-cycle while another keeps the namespace: read again through that one, no error', async () => {
  const ns = await createNetns();
  const survivor = ns.spawn('sleep', ['1000'], { stdio: 'ignore' });
  await waitFor('the second process in the namespace', () => statSync(`/proc/${survivor.pid}/ns/net`).ino === ns.inode, 5000);
  // The one a read goes through first is the one that will exit.
  const pod: Entity = { netns: ns.inode, isHost: false, pids: [ns.pid, survivor.pid!] };
  const g = gated(ns.inode);
  const errors: string[] = [];
  const c = new Collector({ discover: async () => [host, pod] }, options, (p, _e, err) => errors.push(`${p}: ${err.message}`));
  await c.configure([g.probe], options);
  const cycle = c.collect();
  await waitFor('the read of the namespace waiting', g.waiting, 5000);
  await kill(ns.pid);
  g.open();
  const snap = await cycle;

  assert.deepEqual(errors, []);
  assert.equal(c.status().tcp!.state, 'ok');
  assert.equal(c.status().tcp!.errors, 0);
  assert.equal(c.churn.pidRetriesTotal, 1);
  assert.equal(c.churn.vanishedLastCycle, 0);
  assert.ok(snap.samples.some((s) => s.entity === pod && s.metric === tcp.metrics[0]!.name), 'the namespace still has its samples');
  assert.ok(snap.entities.includes(pod));
});

test('a namespace deleted mid-cycle: the cycle completes, the namespace leaves the snapshot, no probe error, one notice', async () => {
  const ns = await createNetns();
  const pod: Entity = { netns: ns.inode, isHost: false, pids: [ns.pid] };
  const g = gated(ns.inode);
  const errors: string[] = [];
  const noticed: Entity[] = [];
  const c = new Collector({ discover: async () => [host, pod] }, options, (p, _e, err) => errors.push(`${p}: ${err.message}`));
  c.onVanished = (e) => noticed.push(e);
  await c.configure([g.probe], options);
  const cycle = c.collect();
  await waitFor('the read of the namespace waiting', g.waiting, 5000);
  await kill(ns.pid);
  run('ip', 'netns', 'del', ns.name);
  g.open();
  const snap = await cycle;

  assert.deepEqual(errors, []);
  assert.equal(c.status().tcp!.state, 'ok');
  assert.equal(c.status().tcp!.errors, 0);
  assert.deepEqual(noticed, [pod]);
  assert.deepEqual(c.churn, { vanishedLastCycle: 1, vanishedTotal: 1, pidRetriesTotal: 0 });
  assert.deepEqual(snap.entities, [host]);
  assert.ok(snap.samples.length > 0 && snap.samples.every((s) => s.entity === host), 'the host keeps its samples, the namespace has none');

});
