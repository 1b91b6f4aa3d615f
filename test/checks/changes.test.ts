// Configuration findings within seconds of the change: the scheduler as the agent runs it
// (real clock, the default 60 s interval, kernel notifications on) over a throwaway "node"
// namespace and a "pod" namespace with a veth pair of its own (no link to the node's, so
// nothing has given it an id in the node's namespace: the scheduler must). rp_filter is set to 1 in the pod
// after the first run, and the finding must come within 10 s, measured.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { CheckScheduler, checkOptions } from '../../src/checks/index.js';
import { changesOf, probesFollowing } from '../../src/checks/changes.js';
import { severityOf } from '../../src/catalogue/index.js';
import type { NetEvent } from '../../src/events/model.js';
import type { Entity } from '../../src/model.js';
import { kernelParamChecks } from '../../src/probes/kernelparam.js';
import { mtuChecks } from '../../src/probes/mtu.js';
import { routeChecks } from '../../src/probes/route.js';
import { cleanup, createNetns, run, uniqueName } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

after(cleanup);

test('notification types map to the probes whose checks read them', () => {
  const msg = (type: number) => ({ type, flags: 0, seq: 0, payload: Buffer.alloc(0) });
  const checks = [...kernelParamChecks(), ...routeChecks(), ...mtuChecks()];
  const probes = (type: number) => probesFollowing(checks, changesOf([msg(type), msg(type)])).sort();
  assert.deepEqual(probes(80), ['kernelparam']); // RTM_NEWNETCONF
  assert.deepEqual(probes(24), ['route']); // RTM_NEWROUTE
  assert.deepEqual(probes(16), ['kernelparam', 'mtu', 'route']); // RTM_NEWLINK
  assert.deepEqual(changesOf([msg(3)]), []); // NLMSG_DONE
});

test('rp_filter=1 set in a pod namespace after the start: RPFilterKernelParam within 10 s, the interval being 60 s', async (t) => {
  const node = await createNetns();
  const pod = await createNetns();
  const dev = uniqueName('dm');
  pod.exec('ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`);
  pod.exec('sysctl', '-qw', `net.ipv4.conf.${dev}.rp_filter=0`);
  const entities: Entity[] = [
    { netns: node.inode, isHost: true, pids: [node.pid] },
    { netns: pod.inode, isHost: false, pids: [pod.pid], pod: { name: 'web-1', namespace: 'default', uid: 'u-1', ip: '', source: 'cri' } },
  ];
  const events: NetEvent[] = [];
  let runs = 0;
  const scheduler = new CheckScheduler({
    // The interface check, and the route checks that the pod's missing routes keep busy: only
    // the first may run again on an rp_filter change.
    checks: [...kernelParamChecks().filter((c) => c.name === 'interface_sysctls'), ...routeChecks()],
    entities: () => (runs++, entities),
    hostNetns: node.path,
    options: checkOptions({ nodeName: 'test-node', intervalSeconds: 60 }),
    publisher: { publish: (e) => events.push(e) },
    severity: severityOf,
    watchChanges: true,
  });
  scheduler.start();
  try {
    await waitFor('the first run', () => scheduler.status().every((s) => s.state !== 'pending'), 10_000);
    assert.equal(scheduler.changes()?.state, 'listening', scheduler.changes()?.detail);
    assert.deepEqual(events.filter((e) => e.type === 'RPFilterKernelParam'), []);
    const runsBefore = runs;

    pod.exec('sysctl', '-qw', `net.ipv4.conf.${dev}.rp_filter=1`);
    const changed = Date.now();
    const found = await waitFor('RPFilterKernelParam in the pod', () => events.find((e) => e.type === 'RPFilterKernelParam'), 10_000,
      () => JSON.stringify({ events, changes: scheduler.changes(), status: scheduler.status() }));
    const elapsed = Date.now() - changed;
    t.diagnostic(`finding ${elapsed} ms after the change`);
    assert.ok(elapsed <= 10_000, `${elapsed} ms`);
    assert.equal(found.netns, pod.inode);
    assert.equal(found.attrs.subject, `default/web-1:net.ipv4.conf.${dev}.rp_filter`);
    assert.equal(found.attrs.finding, 'new');
    // One triggered run (a burst coalesces), not the interval's.
    assert.equal(runs - runsBefore, 1);
    assert.ok(scheduler.changes()!.notifications >= 1);
    // The route checks were not asked to run again: only kernelparam's inputs changed.
    assert.ok(events.every((e) => e.probe !== 'route' || Number(e.timeUnixNano / 1_000_000n) < changed));

    // Nothing holds the pod's namespace open: once its process and name are gone, the kernel
    // destroys it, which removes the id it had in the node's namespace.
    const ids = () => node.json<{ nsid: number }[]>('ip', '-j', 'netns', 'list-id').length;
    assert.equal(ids(), 1, 'the scheduler gave the pod namespace an id');
    process.kill(pod.pid, 'SIGKILL');
    run('ip', 'netns', 'del', pod.name);
    await waitFor('the pod namespace destroyed (its id gone)', () => ids() === 0, 10_000);
  } finally {
    await scheduler.stop();
  }
});
