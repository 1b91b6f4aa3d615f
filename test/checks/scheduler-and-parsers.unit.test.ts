// The check scheduler and what the checks parse, without the kernel: findings kept by a failing
// check and dropped by a disabled one, triggers coalescing into one run, the config section
// read into CheckOptions, every family created, kmsg records, the IPVS comparison with the
// services, and checks that say why they are unsupported (no kmsg device, no iptables-save).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createChecks, severityOf } from '../../src/catalogue/index.js';
import { CheckScheduler, checkOptions, checkOptionsFromConfig, DEFAULT_CHECK_OPTIONS } from '../../src/checks/index.js';
import type { ServiceView } from '../../src/checks/kubeview.js';
import { parseKmsg } from '../../src/checks/kmsg.js';
import type { Check } from '../../src/checks/model.js';
import { compareServices } from '../../src/probes/ipvs.js';
import { kernelLogCheck, nodeConfigChecks } from '../../src/probes/nodeconfig.js';
import type { IpvsService } from '../../src/netlink/ipvs.js';
import { gauge, harness } from '../helpers/checks.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

test('scheduler: a failing check keeps its findings; disabled checks drop theirs silently; one gauge series per finding', async () => {
  let mode: 'find' | 'fail' = 'find';
  const check: { -readonly [K in keyof Check]: Check[K] } = {
    name: 'fake', probe: 'mtu',
    run: async () => {
      if (mode === 'fail') throw new Error('read failed');
      return [{ type: 'MTUAbnormal', subject: 'x0', msg: 'x0 mtu is 1 which is abnormal, please check.' }];
    },
  };
  const h = harness([check], [], null);
  h.scheduler.start();
  try {
    assert.deepEqual((await h.step()).map((e) => e.attrs.finding), ['new']);
    assert.deepEqual(await gauge(), ['MTUAbnormal x0']);
    mode = 'fail';
    assert.deepEqual(await h.step(), []);
    assert.deepEqual(h.scheduler.status()[0], { name: 'fake', probe: 'mtu', state: 'error', detail: 'read failed', findings: 1 });
    assert.deepEqual(await gauge(), ['MTUAbnormal x0']);
    mode = 'find';
    check.run = async () => { throw Object.assign(new Error('native addon not built'), { code: 'ENOADDON' }); };
    assert.deepEqual(await h.step(), [], 'no addon: unsupported, findings dropped without cleared events');
    assert.deepEqual(h.scheduler.status()[0], { name: 'fake', probe: 'mtu', state: 'unsupported', detail: 'native addon not built', findings: 0 });
    assert.deepEqual(await gauge(), []);
    h.scheduler.update(checkOptions({ reminderIntervalSeconds: 3600 }), new Set(['route']));
    assert.deepEqual(await h.step(), []);
    assert.deepEqual(await gauge(), []);
    assert.equal(h.scheduler.status()[0]!.state, 'disabled');
  } finally {
    await h.scheduler.stop();
  }
});

test('scheduler: triggers coalesce into one run of the probes asked for; a failing entity discovery is an error on every check', async () => {
  const runs: string[] = [];
  const fake = (probe: 'mtu' | 'route'): Check => ({ name: probe, probe, run: async () => (runs.push(probe), []) });
  let failDiscovery = false;
  let discoveries = 0;
  const kmsgLike: Check = { name: 'fast', probe: 'nodeconfig', fast: true, run: async () => (runs.push('fast'), []) };
  const scheduler = new CheckScheduler({
    checks: [fake('mtu'), fake('route'), kmsgLike],
    entities: () => { discoveries++; if (failDiscovery) throw new Error('no /proc'); return []; },
    options: checkOptions({ kernelLog: { pollSeconds: 3600 } }), // no timer tick within the test
    publisher: { publish: () => undefined },
    severity: severityOf,
  });
  scheduler.start();
  try {
    await waitFor('the first run of every check', () => runs.length === 3, 3000);
    assert.deepEqual(runs.sort(), ['fast', 'mtu', 'route']);
    runs.length = 0;
    const before = discoveries;
    await scheduler.runOnce('fast');
    assert.deepEqual([runs.splice(0), discoveries - before], [['fast'], 0], 'the fast cadence runs the kernel log only, without discovery');
    for (let i = 0; i < 5; i++) scheduler.trigger(['route']);
    await waitFor('the triggered run', () => runs.length > 0, 5000);
    await holdsFor('no second run for the five triggers', () => runs.length === 1, 300);
    assert.deepEqual(runs, ['route'], 'five triggers, one run, of the route checks only');

    failDiscovery = true;
    await scheduler.runOnce();
    assert.deepEqual(scheduler.status().map((st) => [st.state, st.detail]), [['error', 'entities: no /proc'], ['error', 'entities: no /proc'], ['error', 'entities: no /proc']]);
  } finally {
    await scheduler.stop();
  }
});

test('config section: snake_case keys over the defaults, null turns a sysctl check off', () => {
  const o = checkOptionsFromConfig({
    interval: 30, reminder_interval: 600, emit_cleared: false,
    kernel_params: { rp_filter: 2, nf_conntrack_tcp_be_liberal: null, interfaces: ['eth*', 'cali*'] },
    mtu: { min: 1400 }, kernel_log: { patterns: ['x'], hold: 60 }, iptables: { max_rules: 0 },
    vpc_routes: [{ dst: '10.0.0.0/8', gateway: '192.0.2.1' }], cidrs: { vpc: ['172.31.0.0/16'] },
    kube_proxy: { healthz_url: '' },
  }, 'node-1');
  assert.deepEqual([o.intervalSeconds, o.reminderIntervalSeconds, o.emitCleared, o.nodeName], [30, 600, false, 'node-1']);
  assert.deepEqual(o.kernelParams, { rpFilter: 2, proxyArp: 0, tcpSyncookies: 1, tcpSack: 1, conntrackTcpBeLiberal: undefined, interfaces: ['eth*', 'cali*'] });
  assert.deepEqual(o.probeOptions, { mtu: { min: 1400 } }); // a probe's own section, as written
  assert.deepEqual(o.kernelLog, { patterns: ['x'], holdSeconds: 60, pollSeconds: 2 });
  assert.deepEqual(o.iptables, { maxRules: 0, forwardDrop: true });
  assert.deepEqual(o.cidrs, { vpc: ['172.31.0.0/16'], service: [], pod: [], docker: [] });
  assert.equal(o.kubeProxy.healthzUrl, '');
  assert.equal(o.kubeProxy.namespace, 'kube-system');
  assert.deepEqual(checkOptionsFromConfig(), { ...DEFAULT_CHECK_OPTIONS });
});

test('createChecks: every family, no duplicate names', () => {
  const checks = createChecks();
  assert.deepEqual([...new Set(checks.map((c) => c.probe))].sort(), ['ipvs', 'k8sconfig', 'kernelparam', 'kubeproxy', 'mtu', 'nodeconfig', 'route']);
  assert.equal(new Set(checks.map((c) => c.name)).size, checks.length);
  for (const c of checks) c.close?.();
});
test('kmsg records parse (priority, facility, continuation lines)', () => {
  assert.deepEqual(parseKmsg('4,1234,5678,-;hello world\n SUBSYSTEM=net\n'), { level: 4, facility: 0, seq: 1234, usec: 5678, text: 'hello world' });
  assert.equal(parseKmsg('14,1,2,-,caller=T1;user line\n')!.facility, 1);
  assert.equal(parseKmsg('garbage'), undefined);
});

test('KernelLog without a readable device, iptables without iptables-save: unsupported with the reason', async () => {
  const h = harness([kernelLogCheck('/nonexistent/kmsg')], [], null);
  assert.deepEqual(await h.step(), []);
  assert.deepEqual(h.scheduler.status().map((st) => [st.state, st.detail]), [['unsupported', 'cannot read /nonexistent/kmsg: ENOENT']]);
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const ipt = harness(nodeConfigChecks().filter((c) => c.name === 'iptables'), [], null);
    assert.deepEqual(await ipt.step(), []);
    assert.deepEqual(ipt.scheduler.status().map((st) => [st.state, st.detail]), [['unsupported', 'iptables-save is not installed']]);
  } finally {
    process.env.PATH = path;
  }
});

test('IPVS against services: missing virtual server, real servers that differ from the endpoints', () => {
  const vs = (address: string, port: number, dests: [string, number][]): IpvsService => ({
    family: 4, protocol: 'TCP', address, port, fwmark: 0, scheduler: 'rr', key: [],
    dests: dests.map(([a, p]) => ({ address: a, port: p, weight: 1, activeConns: 0, inactiveConns: 0 })),
  });
  const svc = (name: string, ip: string, eps: string[]): ServiceView => ({
    namespace: 'default', name, clusterIPs: [ip], ports: [{ protocol: 'TCP', port: 80 }], endpoints: new Map([['TCP/80', eps]]),
  });
  const found = compareServices(
    [svc('ok', '10.96.0.1', ['10.1.0.5:8080']), svc('stale', '10.96.0.2', ['10.1.0.6:8080']), svc('missing', '10.96.0.3', ['10.1.0.7:8080'])],
    [vs('10.96.0.1', 80, [['10.1.0.5', 8080]]), vs('10.96.0.2', 80, [['10.1.0.9', 8080]])],
  );
  assert.deepEqual(found.map((f) => [f.msg, f.attrs!.detail]), [
    ['svc(stale/default) ipvs rules are abnormal, please check it.', 'TCP 10.96.0.2:80 real servers 10.1.0.9:8080, endpoints 10.1.0.6:8080'],
    ['svc(missing/default) ipvs rules are abnormal, please check it.', 'no virtual server TCP 10.96.0.3:80'],
  ]);
});
