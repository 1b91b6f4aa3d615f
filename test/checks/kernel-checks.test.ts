// Configuration checks against the real kernel: every condition is created for real (sysctls
// and routes in throwaway namespaces standing in for the node and a pod, FORWARD policy DROP
// on the host, a process named irqbalance, a line written to /dev/kmsg), and the events are
// asserted exactly: one when it appears, none within the reminder interval, a reminder after
// it, a cleared event when it is fixed, and the configcheck gauge meanwhile. Host settings
// that a test changes are restored in `finally` and again at exit.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import type { NetEvent } from '../../src/events/model.js';
import type { Entity } from '../../src/model.js';
import { createChecks, severityOf } from '../../src/catalogue/index.js';
import { CheckScheduler, checkOptions, checkOptionsFromConfig, DEFAULT_CHECK_OPTIONS } from '../../src/checks/index.js';
import type { ServiceView } from '../../src/checks/kubeview.js';
import { parseKmsg } from '../../src/checks/kmsg.js';
import type { Check, DeepPartial, CheckOptions } from '../../src/checks/model.js';
import configcheck from '../../src/probes/configcheck.js';
import { compareServices, ipvsCheck } from '../../src/probes/ipvs.js';
import { kernelParamChecks } from '../../src/probes/kernelparam.js';
import { mtuChecks } from '../../src/probes/mtu.js';
import { kernelLogCheck, nodeConfigChecks, parseIptablesSave } from '../../src/probes/nodeconfig.js';
import { routeChecks } from '../../src/probes/route.js';

const configcheckProbe = configcheck.metric!;
import { readSysctls } from '../../src/checks/sysctl.js';
import { DEST, genlFamilyId, IPVS_CMD_ATTR_DEST, IPVS_CMD_ATTR_SERVICE, parseDest, parseService, serviceName, SVC, type IpvsService } from '../../src/netlink/ipvs.js';
import { encodeAttrs, type AttrSpec } from '../../src/netlink/message.js';
import { netconf, routes, rules } from '../../src/netlink/route.js';
import { cleanup, createNetns, run, veth } from '../helpers/netns.js';
import { holdsFor, stopProcess, waitFor } from '../helpers/wait.js';

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

/** A scheduler over `checks` with a fake clock and an event recorder. */
function harness(checks: Check[], entities: Entity[], hostNetns: string | null, options: DeepPartial<CheckOptions> = {}) {
  const events: NetEvent[] = [];
  const clock = { now: 1_700_000_000_000 };
  const scheduler = new CheckScheduler({
    checks,
    entities: () => entities,
    hostNetns,
    options: checkOptions({ nodeName: 'test-node', reminderIntervalSeconds: 3600, ...options }),
    publisher: { publish: (e) => events.push(e) },
    clock: () => clock.now,
    severity: severityOf,
  });
  /** Runs once and returns the events of that run. */
  const step = async (advanceMs = 1000): Promise<NetEvent[]> => {
    clock.now += advanceMs;
    const from = events.length;
    await scheduler.runOnce();
    return events.slice(from);
  };
  return { scheduler, events, clock, step };
}

const brief = (es: NetEvent[]) => es.map((e) => ({ type: e.type, msg: e.msg, finding: e.attrs.finding, severity: e.severity }));
const ofType = (es: NetEvent[], type: string) => es.filter((e) => e.type === type);

async function gauge(): Promise<string[]> {
  const samples = await configcheckProbe.collect({ netns: 0, isHost: true, pids: [process.pid] }, undefined as never);
  return samples.map((s) => `${s.labels!.type} ${s.labels!.subject}`).sort();
}

test('netlink: routes, rules and netconf read what ip shows', async () => {
  const { node, link } = await cluster(61);
  node.exec('ip', 'route', 'add', 'default', 'via', '10.200.61.2', 'metric', '7');
  node.exec('ip', 'rule', 'add', 'from', '10.9.0.0/16', 'lookup', '100', 'priority', '1000');
  node.exec('sysctl', '-q', '-w', `net.ipv4.conf.${link.aDev}.rp_filter=2`, `net.ipv4.conf.${link.aDev}.proxy_arp=1`);
  const rs = await routes(node.path, 4);
  const def = rs.find((r) => r.dstLen === 0 && r.table === 254)!;
  assert.equal(def.gateway, '10.200.61.2');
  assert.equal(def.metric, 7);
  assert.ok(rs.some((r) => r.dst === '10.200.61.0/24' && r.table === 254 && r.prefsrc === '10.200.61.1'));
  const rl = await rules(node.path, 4);
  assert.ok(rl.some((r) => r.priority === 1000 && r.src === '10.9.0.0/16' && r.table === 100));
  assert.ok(rl.some((r) => r.priority === 0 && r.table === 255 && r.src === undefined));
  const idx = Number(node.exec('cat', `/sys/class/net/${link.aDev}/ifindex`).trim());
  const conf = (await netconf(node.path)).find((c) => c.ifindex === idx)!;
  assert.deepEqual([conf.rpFilter, conf.proxyNeigh], [2, 1]);
});

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
    assert.deepEqual(await gauge(), [`RPFilterKernelParam default/web-1:${sysctl}`]);

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

test('kmsg records parse (priority, facility, continuation lines)', () => {
  assert.deepEqual(parseKmsg('4,1234,5678,-;hello world\n SUBSYSTEM=net\n'), { level: 4, facility: 0, seq: 1234, usec: 5678, text: 'hello world' });
  assert.equal(parseKmsg('14,1,2,-,caller=T1;user line\n')!.facility, 1);
  assert.equal(parseKmsg('garbage'), undefined);
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

test('IPVS replies parse (genetlink attributes as the kernel sends them); genetlink family lookup', async () => {
  const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
  const be16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
  const v4 = (ip: string) => Buffer.concat([Buffer.from(ip.split('.').map(Number)), Buffer.alloc(12)]); // union nf_inet_addr
  const genl = (attrs: AttrSpec[]) => Buffer.concat([Buffer.from([1, 1, 0, 0]), encodeAttrs(attrs)]);
  const svc = parseService(genl([{ type: IPVS_CMD_ATTR_SERVICE, value: [
    { type: SVC.AF, value: u16(2) }, { type: SVC.PROTOCOL, value: u16(17) }, { type: SVC.ADDR, value: v4('10.96.0.10') },
    { type: SVC.PORT, value: be16(53) }, { type: SVC.SCHED_NAME, value: Buffer.from('rr\0') },
  ] }]))!;
  assert.deepEqual([svc.family, svc.protocol, svc.address, svc.port, svc.scheduler, serviceName(svc)], [4, 'UDP', '10.96.0.10', 53, 'rr', 'UDP 10.96.0.10:53']);
  assert.deepEqual(svc.key.map((k) => k.type), [SVC.AF, SVC.PROTOCOL, SVC.ADDR, SVC.PORT]);
  const dest = parseDest(genl([{ type: IPVS_CMD_ATTR_DEST, value: [
    { type: DEST.ADDR, value: v4('10.244.1.7') }, { type: DEST.PORT, value: be16(5353) }, { type: DEST.WEIGHT, value: u32(1) },
    { type: DEST.ACTIVE_CONNS, value: u32(3) }, { type: DEST.INACT_CONNS, value: u32(4) },
  ] }]), 4);
  assert.deepEqual(dest, { address: '10.244.1.7', port: 5353, weight: 1, activeConns: 3, inactiveConns: 4 });
  assert.equal(parseService(genl([])), undefined);

  assert.equal(await genlFamilyId(null, 'nlctrl'), 0x10);
  await assert.rejects(genlFamilyId(null, 'no-such-family'), (err: Error & { code?: string }) => err.code === 'ENOENT');
});

// ---- scheduler ----

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
  assert.deepEqual(o.mtu, { ...DEFAULT_CHECK_OPTIONS.mtu, min: 1400 });
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
