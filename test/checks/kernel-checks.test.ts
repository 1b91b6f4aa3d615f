// Configuration checks against the real kernel: every condition is created for real (sysctls
// and routes in throwaway namespaces standing in for the node and a pod, FORWARD policy DROP
// on the host, a process named irqbalance, a line written to /dev/kmsg), and the events are
// asserted exactly: one when it appears, none within the reminder interval, a reminder after
// it, a cleared event when it is fixed, and the configcheck gauge meanwhile. Host settings
// that a test changes are restored in `finally` and again at exit. The scheduler and the
// parsers without the kernel: scheduler-and-parsers.unit.test.ts.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import type { Entity } from '../../src/model.js';
import { readSysctls } from '../../src/checks/sysctl.js';
import { ipvsCheck } from '../../src/probes/ipvs.js';
import { kernelParamChecks } from '../../src/probes/kernelparam.js';
import { mtuChecks } from '../../src/probes/mtu.js';
import { kernelLogCheck, nodeConfigChecks, parseIptablesSave } from '../../src/probes/nodeconfig.js';
import { routeChecks } from '../../src/probes/route.js';
import { brief, gauge, gaugeSeries, harness, ofType } from '../helpers/checks.js';
import { cleanup, createNetns, run, veth } from '../helpers/netns.js';
import { stopProcess } from '../helpers/wait.js';

after(cleanup);

const HOUR = 3600_000;

/** A node and a pod, each a throwaway namespace, joined by a veth: node side 10.200.<n>.1, pod side .2. */
async function cluster(subnet: number) {
  const node = await createNetns();
  const pod = await createNetns();
  const link = veth(node, pod, subnet);
  const entities: Entity[] = [
    { netns: node.inode, isHost: true, pids: [node.pid] },
    { netns: pod.inode, isHost: false, pids: [pod.pid], pod: { name: 'web-1', namespace: 'default', uid: 'u-1', ip: link.bAddr!, source: 'cri' } },
  ];
  return { node, pod, link, entities, podNetns: pod.inode };
}

test('RPFilterKernelParam: rp_filter=1 on the pod side of a veth, once, a reminder after the interval, changed, cleared; the gauge follows', async () => {
  const { pod, link, entities, podNetns } = await cluster(62);
  const h = harness(kernelParamChecks().slice(0, 1), entities, entities[0]!.pids.length ? `/proc/${entities[0]!.pids[0]}/ns/net` : null, { reminderIntervalSeconds: 3600 });
  h.scheduler.start();
  try {
    assert.deepEqual(ofType(await h.step(), 'RPFilterKernelParam'), []);
    pod.exec('sysctl', '-q', '-w', `net.ipv4.conf.${link.bDev}.rp_filter=1`);
    const sysctl = `net.ipv4.conf.${link.bDev}.rp_filter`;
    const first = await h.step();
    assert.deepEqual(brief(first), [{ type: 'RPFilterKernelParam', msg: `${sysctl}:current_value=1,expect_value=0`, finding: 'new', severity: 'WARN' }]);
    assert.equal(first[0]!.netns, podNetns);
    assert.equal(first[0]!.probe, 'kernelparam');
    assert.equal(first[0]!.attrs.subject, `default/web-1:${sysctl}`);
    assert.equal(first[0]!.attrs.interface, link.bDev);
    assert.deepEqual(await gauge(entities), [`RPFilterKernelParam default/web-1:${sysctl}`]);
    // A pod's finding joins the pod's other series: its namespace, name and netns.
    assert.deepEqual((await gaugeSeries(entities))[0]!.labels, {
      type: 'RPFilterKernelParam', subject: `default/web-1:${sysctl}`, netns: `ns${podNetns}`, 'k8s.namespace.name': 'default', 'k8s.pod.name': 'web-1',
    });

    // Still there: nothing within the reminder interval, however often the checks run.
    for (let i = 0; i < 3; i++) assert.deepEqual(await h.step(10 * 60_000), []);
    assert.deepEqual(brief(await h.step(HOUR)), [{ type: 'RPFilterKernelParam', msg: `${sysctl}:current_value=1,expect_value=0`, finding: 'reminder', severity: 'WARN' }]);
    assert.deepEqual(await h.step(), []);

    pod.exec('sysctl', '-q', '-w', `${sysctl}=2`);
    assert.deepEqual(brief(await h.step()), [{ type: 'RPFilterKernelParam', msg: `${sysctl}:current_value=2,expect_value=0`, finding: 'changed', severity: 'WARN' }]);

    pod.exec('sysctl', '-q', '-w', `${sysctl}=0`);
    assert.deepEqual(brief(await h.step()), [{ type: 'RPFilterKernelParam', msg: `cleared: ${sysctl}:current_value=2,expect_value=0`, finding: 'cleared', severity: 'INFO' }]);
    assert.deepEqual(await gauge(), []);
    assert.deepEqual(await h.step(HOUR * 2), []);
  } finally {
    await h.scheduler.stop();
  }
});

test('ProxyARPKernelParam on the node side, with the interfaces option limiting what is checked', async () => {
  const { node, link, entities } = await cluster(63);
  node.exec('sysctl', '-q', '-w', `net.ipv4.conf.${link.aDev}.proxy_arp=1`);
  const h = harness(kernelParamChecks().slice(0, 1), entities, node.path, { kernelParams: { interfaces: [link.aDev] } });
  assert.deepEqual(brief(await h.step()), [{ type: 'ProxyARPKernelParam', msg: `net.ipv4.conf.${link.aDev}.proxy_arp:current_value=1,expect_value=0`, finding: 'new', severity: 'WARN' }]);
  const off = harness(kernelParamChecks().slice(0, 1), entities, node.path, { kernelParams: { interfaces: ['nomatch*'] } });
  assert.deepEqual(await off.step(), []);
});

test('node sysctls: tcp_sack and tcp_syncookies against the expected values, read from the node', async () => {
  const sack = Number(readFileSync('/proc/sys/net/ipv4/tcp_sack', 'utf8'));
  const cookies = Number(readFileSync('/proc/sys/net/ipv4/tcp_syncookies', 'utf8'));
  // The node's values are not changed; the expectation is set against them instead.
  const nodeOnly = () => kernelParamChecks().filter((c) => c.name === 'node_sysctls');
  const h = harness(nodeOnly(), [], null, {
    kernelParams: { tcpSack: sack ? 0 : 1, tcpSyncookies: cookies, conntrackTcpBeLiberal: undefined } as never,
  });
  assert.deepEqual(brief(await h.step()), [
    { type: 'TCPSackKernelParam', msg: `net.ipv4.tcp_sack:current_value=${sack},expect_value=${sack ? 0 : 1}`, finding: 'new', severity: 'WARN' },
  ]);
  const ok = harness(nodeOnly(), [], null, { kernelParams: { tcpSack: sack, tcpSyncookies: cookies, conntrackTcpBeLiberal: undefined } as never });
  assert.deepEqual(await ok.step(), []);
});

test('pod sysctls: tcp_sack=0 inside a pod namespace, read through the native netns reader', async () => {
  const { pod, entities, podNetns } = await cluster(68);
  assert.deepEqual(await readSysctls(pod.path, ['net.ipv4.tcp_sack', 'net.ipv4.no_such_sysctl']), [1, undefined]);
  const h = harness(kernelParamChecks().filter((c) => c.name === 'pod_sysctls'), entities, null, { kernelParams: { tcpSack: 1, tcpSyncookies: 1 } });
  assert.deepEqual(await h.step(), []);
  pod.exec('sysctl', '-q', '-w', 'net.ipv4.tcp_sack=0');
  const [e, ...rest] = await h.step();
  assert.deepEqual(rest, []);
  assert.deepEqual(brief([e!]), [{ type: 'TCPSackKernelParam', msg: 'net.ipv4.tcp_sack:current_value=0,expect_value=1', finding: 'new', severity: 'WARN' }]);
  assert.equal(e!.netns, podNetns);
  assert.equal(e!.attrs.subject, 'default/web-1:net.ipv4.tcp_sack');
  assert.equal(readFileSync('/proc/sys/net/ipv4/tcp_sack', 'utf8').trim(), '1', 'the node keeps its own value');
  pod.exec('sysctl', '-q', '-w', 'net.ipv4.tcp_sack=1');
  assert.deepEqual(brief(await h.step()).map((x) => x.finding), ['cleared']);
});

test('MTUAbnormal: MTU 900 on a pod interface, above the primary, cleared when fixed', async () => {
  const { node, pod, link, entities, podNetns } = await cluster(64);
  const h = harness(mtuChecks(), entities, node.path);
  assert.deepEqual(await h.step(), []);
  pod.exec('ip', 'link', 'set', link.bDev, 'mtu', '900');
  const [e, ...rest] = await h.step();
  assert.deepEqual(rest, []);
  assert.deepEqual(brief([e!]), [{ type: 'MTUAbnormal', msg: `${link.bDev} mtu is 900 which is abnormal, please check.`, finding: 'new', severity: 'WARN' }]);
  assert.equal(e!.netns, podNetns);
  assert.equal(e!.attrs.reason, 'outside 1280..9216');
  assert.deepEqual(await h.step(60_000), []);

  // The node's primary interface is the one of its default route: a pod above it is abnormal.
  node.exec('ip', 'route', 'add', 'default', 'via', '10.200.64.2');
  node.exec('ip', 'link', 'set', link.aDev, 'mtu', '1400');
  pod.exec('ip', 'link', 'set', link.bDev, 'mtu', '1450');
  assert.deepEqual(brief(await h.step()), [{ type: 'MTUAbnormal', msg: `${link.bDev} mtu is 1450 which is abnormal, please check.`, finding: 'changed', severity: 'WARN' }]);
  pod.exec('ip', 'link', 'set', link.bDev, 'mtu', '1400');
  assert.deepEqual(brief(await h.step()), [{ type: 'MTUAbnormal', msg: `cleared: ${link.bDev} mtu is 1450 which is abnormal, please check.`, finding: 'cleared', severity: 'INFO' }]);
});

test('DefaultRoute: node and pod namespaces without a default route; cleared when added', async () => {
  const { node, pod, entities, podNetns } = await cluster(65);
  const h = harness(routeChecks().slice(0, 1), entities, node.path);
  const found = await h.step();
  assert.deepEqual(brief(found), [
    { type: 'DefaultRoute', msg: "default route of node don't exist(test-node).", finding: 'new', severity: 'ERROR' },
    { type: 'DefaultRoute', msg: "default route of pod don't exist(web-1/default).", finding: 'new', severity: 'ERROR' },
  ]);
  assert.equal(found[0]!.netns, undefined);
  assert.equal(found[1]!.netns, podNetns);
  assert.deepEqual(await h.step(), []);
  pod.exec('ip', 'route', 'add', 'default', 'via', '10.200.65.1');
  assert.deepEqual(brief(await h.step()), [{ type: 'DefaultRoute', msg: "cleared: default route of pod don't exist(web-1/default).", finding: 'cleared', severity: 'INFO' }]);
  node.exec('ip', 'route', 'add', 'default', 'dev', 'lo');
  assert.deepEqual(brief(await h.step()), [{ type: 'DefaultRoute', msg: "cleared: default route of node don't exist(test-node).", finding: 'cleared', severity: 'INFO' }]);
});

test('PodRoute: a pod IP the node has no route to; cleared by a host route', async () => {
  const { node, link, entities, podNetns } = await cluster(66);
  const h = harness(routeChecks().slice(1, 2), entities, node.path);
  assert.deepEqual(await h.step(), []); // the connected 10.200.66.0/24 reaches the pod
  node.exec('ip', 'addr', 'flush', 'dev', link.aDev);
  const [e, ...rest] = await h.step();
  assert.deepEqual(rest, []);
  assert.deepEqual(brief([e!]), [{ type: 'PodRoute', msg: 'lack routes of pods(web-1/default).', finding: 'new', severity: 'ERROR' }]);
  assert.equal(e!.netns, podNetns);
  assert.equal(e!.attrs.pod_ip, '10.200.66.2');
  // A blackhole for the pod's block (Calico's IPAM aggregate) is no route to the pod; a default route neither.
  node.exec('ip', 'route', 'add', 'blackhole', '10.200.66.0/26');
  node.exec('ip', 'route', 'add', 'default', 'dev', link.aDev);
  assert.deepEqual(await h.step(), []);
  node.exec('ip', 'route', 'add', '10.200.66.2/32', 'dev', link.aDev);
  assert.deepEqual(brief(await h.step()), [{ type: 'PodRoute', msg: 'cleared: lack routes of pods(web-1/default).', finding: 'cleared', severity: 'INFO' }]);
});

test('VpcRoute and PolicyRoute: expected routes and rules from the options', async () => {
  const { node, link, entities } = await cluster(67);
  const h = harness(routeChecks().slice(2), entities, node.path, {
    vpcRoutes: [{ dst: '10.50.0.0/16', gateway: '10.200.67.2' }, { dst: '10.60.0.0/16', dev: link.aDev }],
    policyRules: [{ from: '10.200.67.0/24', table: 100 }],
  });
  node.exec('ip', 'route', 'add', '10.60.0.0/16', 'via', '10.200.67.2', 'dev', link.aDev);
  assert.deepEqual(brief(await h.step()).sort((a, b) => a.msg.localeCompare(b.msg)), [
    { type: 'PolicyRoute', msg: 'rule "from 10.200.67.0/24 lookup 100" is not created.', finding: 'new', severity: 'WARN' },
    { type: 'VpcRoute', msg: 'vpc route does not exist for this node.', finding: 'new', severity: 'WARN' },
  ]);
  node.exec('ip', 'route', 'add', '10.50.0.0/16', 'via', '10.200.67.3', 'dev', link.aDev);
  assert.deepEqual(brief(await h.step()), [{ type: 'VpcRoute', msg: 'vpc route creates failed because of conflict.', finding: 'changed', severity: 'WARN' }]);
  node.exec('ip', 'route', 'replace', '10.50.0.0/16', 'via', '10.200.67.2');
  node.exec('ip', 'rule', 'add', 'from', '10.200.67.0/24', 'lookup', '100');
  assert.deepEqual(brief(await h.step()).map((e) => e.finding), ['cleared', 'cleared']);
});

// ---- host: iptables, irqbalance, kernel log ----

function forwardPolicy(): string {
  return /^-P FORWARD (\S+)/m.exec(run('iptables', '-S', 'FORWARD'))![1]!;
}

test('IPtablesAbnormal: FORWARD policy DROP and a rule count over the threshold (host, restored)', async (t) => {
  const original = forwardPolicy();
  const chain = `NOBSV${process.pid}`;
  const restore = () => {
    const quiet = { stdio: 'ignore' } as const;
    try { execFileSync('iptables', ['-P', 'FORWARD', original], quiet); } catch { /* best effort at exit */ }
    try { execFileSync('iptables', ['-F', chain], quiet); execFileSync('iptables', ['-X', chain], quiet); } catch { /* not created */ }
  };
  // The runner stops a file with a signal on timeout, and 'exit' does not run then: restore on
  // the signal too (the netns helper re-raises it once its own cleanup is done).
  const signals = ['exit', 'SIGINT', 'SIGTERM'] as const;
  for (const sig of signals) process.once(sig, restore);
  try {
    if (original === 'DROP') execFileSync('iptables', ['-P', 'FORWARD', 'ACCEPT']);
    const base = parseIptablesSave(run('iptables-save')).rules;
    const h = harness(nodeConfigChecks().slice(1, 2), [], null, { iptables: { maxRules: base + 25, forwardDrop: true } });
    assert.deepEqual(await h.step(), []);

    execFileSync('iptables', ['-P', 'FORWARD', 'DROP']);
    assert.deepEqual(brief(await h.step()), [{ type: 'IPtablesAbnormal', msg: 'FORWARD drop default.', finding: 'new', severity: 'WARN' }]);
    execFileSync('iptables', ['-P', 'FORWARD', 'ACCEPT']);
    assert.deepEqual(brief(await h.step()), [{ type: 'IPtablesAbnormal', msg: 'cleared: FORWARD drop default.', finding: 'cleared', severity: 'INFO' }]);

    // 50 rules in a chain of our own, in one transaction.
    const lines = ['*filter', `:${chain} - [0:0]`, ...Array.from({ length: 50 }, (_, i) => `-A ${chain} -s 198.51.100.${i + 1}/32 -j RETURN`), 'COMMIT', ''];
    execFileSync('iptables-restore', ['--noflush'], { input: lines.join('\n') });
    const [e] = await h.step();
    assert.equal(e?.type, 'IPtablesAbnormal');
    assert.match(e!.msg, new RegExp(`^iptables has \\d+ rules, more than ${base + 25}\\.$`));
    assert.equal(e!.attrs.subject, 'rule_count');
    execFileSync('iptables', ['-F', chain]);
    execFileSync('iptables', ['-X', chain]);
    assert.deepEqual(brief(await h.step()).map((x) => x.finding), ['cleared']);
  } finally {
    restore();
    for (const sig of signals) process.off(sig, restore);
    t.diagnostic(`FORWARD policy restored to ${forwardPolicy()}`);
  }
  assert.equal(forwardPolicy(), original);
});

test('IRQBalance: a process named irqbalance', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'irqb-'));
  const bin = path.join(dir, 'irqbalance');
  copyFileSync('/bin/sleep', bin);
  const h = harness(nodeConfigChecks().slice(2), [], null);
  if ((await h.step()).length) return t.skip('a real irqbalance runs on this host');
  const child = spawn(bin, ['60'], { stdio: 'ignore' });
  try {
    const [e, ...rest] = await h.step();
    assert.deepEqual(rest, []);
    assert.equal(e?.type, 'IRQBalance');
    assert.equal(e!.attrs.pid, child.pid);
  } finally {
    await stopProcess(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(brief(await h.step()).map((x) => x.finding), ['cleared']);
});

test('KernelLog: a line written to /dev/kmsg after the reader opened; one event per burst, cleared after the hold time', async () => {
  // The pattern carries this process's pid: a real overflow logged by another test meanwhile
  // (the kernel log is the host's) must not join the message asserted here.
  const pattern = `nobsv-${process.pid} neighbor table overflow`;
  const h = harness([kernelLogCheck()], [], null, { kernelLog: { patterns: [pattern.toUpperCase()], holdSeconds: 600 } });
  const line = (n: number) => `neighbour: arp_cache: ${pattern}! (${n})`;
  writeFileSync('/dev/kmsg', `<4>${line(0)}\n`); // before the reader opened: the backlog is not reported
  assert.deepEqual(await h.step(), []);
  writeFileSync('/dev/kmsg', `<4>${line(1)}\n`);
  assert.deepEqual(brief(await h.step()), [{ type: 'KernelLog', msg: `['${line(1)}']`, finding: 'new', severity: 'WARN' }]);
  writeFileSync('/dev/kmsg', `<4>${line(2)}\n`);
  assert.deepEqual(await h.step(), [], 'a second matching line within the hold time is no new event');
  assert.deepEqual(await gauge(), []); // not started: the gauge shows running schedulers only
  const [e, ...rest] = await h.step(601_000);
  assert.deepEqual(rest, []);
  assert.deepEqual([e!.attrs.finding, e!.msg], ['cleared', `cleared: ['${line(1)}', '${line(2)}']`]);
  assert.equal(e!.attrs.count, 2);
  await h.scheduler.stop();
});

// ---- IPVS ----

test('IPVSRulesAbnormal: a virtual server without real servers (ipvsadm, in a namespace), or unsupported without IPVS', async (t) => {
  const ns = await createNetns();
  const h = harness([ipvsCheck()], [], ns.path);
  try {
    ns.exec('ipvsadm', '-A', '-t', '10.96.0.10:80', '-s', 'rr');
  } catch (err) {
    // This kernel has no ip_vs: the check must say so rather than fail or report nothing silently.
    assert.deepEqual(await h.step(), []);
    const [status] = h.scheduler.status();
    assert.equal(status!.state, 'unsupported');
    assert.match(status!.detail!, /IPVS is not in this kernel/);
    return t.skip(`IPVS unavailable here: ${(err as Error).message.split('\n')[0]}`);
  }
  assert.deepEqual(brief(await h.step()), [{
    type: 'IPVSRulesAbnormal', msg: 'virtual server(TCP 10.96.0.10:80) has no real server, ipvs rules are abnormal, please check it.', finding: 'new', severity: 'ERROR',
  }]);
  assert.deepEqual(await h.step(), []);
  ns.exec('ipvsadm', '-a', '-t', '10.96.0.10:80', '-r', '10.200.1.2:8080', '-m');
  assert.deepEqual(brief(await h.step()).map((x) => x.finding), ['cleared']);
});

