// The eBPF probes against the real kernel: every program is loaded and attached, then
// triggered by real traffic between two throwaway namespaces joined by a veth pair, and the
// per-netns kernel counters and ring buffer events are checked against what the traffic must
// have caused. Traffic stays inside the namespaces this file creates.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { loadBpfAddon, nativeBpf } from '../../src/bpf/addon.js';
import { BpfProbe } from '../../src/bpf/probe.js';
import { OwnSockets } from '../../src/bpf/self.js';
import { EBPF_PROBES } from '../../src/runtime/ebpf.js';
import type { EventPublisher, NetEvent } from '../../src/events/model.js';
import type { Entity, MetricProbe, ProbeContext, Sample } from '../../src/model.js';
import { ebpf } from '../helpers/ebpf.js';
import { cleanup, createNetns, entityOf, veth, type Netns } from '../helpers/netns.js';
import { waitFor, waitForLine } from '../helpers/wait.js';

const [packetloss, tcpreset, tcpretrans, tcptwrcv] = ['packetloss', 'tcpreset', 'tcpretrans', 'tcptwrcv'].map(ebpf);

const PROBES = [
  { name: 'packetloss', bpf: packetloss!.kernel, probe: packetloss!.metric, programs: ['kfree_skb'] },
  { name: 'tcpreset', bpf: tcpreset!.kernel, probe: tcpreset!.metric, programs: ['tcp_send_reset', 'tcp_receive_reset'] },
  { name: 'tcpretrans', bpf: tcpretrans!.kernel, probe: tcpretrans!.metric, programs: ['tcp_retransmit_skb', 'tcp_retransmit_synack'] },
  { name: 'tcptwrcv', bpf: tcptwrcv!.kernel, probe: tcptwrcv!.metric, programs: ['kfree_skb'] },
];

let a: Netns; // the "server" side: 10.200.<n>.1
let b: Netns; // the "client" side: 10.200.<n>.2
let aAddr: string;
let bAddr: string;
const events: NetEvent[] = [];
const publisher: EventPublisher = { publish: (e) => void events.push(e) };

/** Runs a metric probe's collect() on one namespace as the collector would. */
async function collect(probe: MetricProbe, ns: Netns | Entity): Promise<{ samples: Sample[]; notes: string[] }> {
  const notes: string[] = [];
  const target = 'pid' in ns ? entityOf(ns) : ns;
  const ctx: ProbeContext = {
    options: { qdisc_devices: [], qdisc_per_interface: false, pod_cidrs: [], cni_conf_dir: '', cni_data_dir: '' },
    entities: [entityOf(a), entityOf(b), target],
    note: (m) => void notes.push(m),
    shared: (_key, read) => read(),
  };
  return { samples: await probe.collect(target, ctx), notes };
}

function value(samples: Sample[], metric: string, labels?: Record<string, string>): number | undefined {
  return samples.find((s) => s.metric === metric && (!labels || JSON.stringify(s.labels) === JSON.stringify(labels)))?.value as number | undefined;
}

/** Runs a short node script inside `ns` (bounded by a timeout) and returns its stdout. */
function node(ns: Netns, script: string): string {
  return ns.exec('timeout', '10', process.execPath, '-e', script);
}

/** A TCP connect from `ns`; prints the error code or "connected". */
function connect(ns: Netns, host: string, port: number): string {
  return node(ns, `const s = require('net').connect(${port}, '${host}');
    s.on('connect', () => { console.log('connected'); s.destroy(); });
    s.on('error', (e) => console.log(e.code));
    s.setTimeout(3000, () => { console.log('timeout'); s.destroy(); });`).trim();
}

/** `count` UDP datagrams from `ns` to host:port, sent back to back. */
function sendUdp(ns: Netns, host: string, port: number, count: number): void {
  node(ns, `const s = require('dgram').createSocket('udp4'); let n = 0;
    const next = () => n++ < ${count} ? s.send('x', ${port}, '${host}', next) : s.close(); next();`);
}

async function eventsFor(what: string, match: (e: NetEvent) => boolean, count = 1): Promise<NetEvent[]> {
  return waitFor(what, () => {
    for (const p of PROBES) p.bpf.drain();
    const found = events.filter(match);
    return found.length >= count ? found : undefined;
  }, 5000);
}

before(async () => {
  a = await createNetns();
  b = await createNetns();
  const v = veth(a, b, 90 + (process.pid % 100));
  aAddr = v.aAddr;
  bAddr = v.bAddr!;
  // Static neighbours, so no packet of a test waits in (or is dropped from) an ARP queue.
  const mac = (ns: Netns, dev: string) => ns.json<{ address: string }[]>('ip', '-j', 'link', 'show', 'dev', dev)[0]!.address;
  a.exec('ip', 'neigh', 'replace', bAddr, 'lladdr', mac(b, v.bDev), 'dev', v.aDev, 'nud', 'permanent');
  b.exec('ip', 'neigh', 'replace', aAddr, 'lladdr', mac(a, v.aDev), 'dev', v.bDev, 'nud', 'permanent');
});

after(() => {
  for (const p of PROBES) p.bpf.close();
  cleanup();
});

test('the addon loads, and every program of every probe loads and attaches', () => {
  const bpf = nativeBpf();
  assert.equal(bpf.error, undefined);
  assert.match(bpf.addon!.libbpfVersion, /^\d+\.\d+$/);
  for (const { name, bpf: probe, programs } of PROBES) {
    assert.equal(probe.unsupported(), undefined, name);
    assert.deepEqual(probe.programs().map((p) => [p.name, p.loaded, p.attached, p.error]), programs.map((p) => [p, true, true, undefined]), name);
  }
});

test('a program that cannot load or attach is reported and skipped, the others run', () => {
  const selftest = new BpfProbe('selftest', 'stats', path.join(nativeBpf().objectDir!, 'selftest.bpf.o'));
  try {
    assert.equal(selftest.unsupported(), undefined);
    const status = Object.fromEntries(selftest.programs().map((p) => [p.name, p]));
    assert.equal(status.good?.attached, true);
    // tp_btf resolves its tracepoint at load time, raw_tp at attach time.
    assert.equal(status.bogus_btf?.loaded, false);
    assert.match(status.bogus_btf?.error ?? '', /kubesonar_no_such_tracepoint/);
    assert.equal(status.bogus_raw?.loaded, true);
    assert.equal(status.bogus_raw?.attached, false);
    assert.match(status.bogus_raw?.error ?? '', /attach.*kubesonar_no_such_tracepoint/);
    assert.equal(selftest.failures().length, 2);
  } finally {
    selftest.close();
  }

  // A missing object or addon is a reason, never an exception.
  const missing = new BpfProbe('nonexistent', 'drops');
  assert.equal(missing.status().state, 'off'); // nothing is loaded just to report status
  assert.match(missing.unsupported() ?? '', /nonexistent\.bpf\.o/);
  assert.deepEqual(missing.status(), { state: 'unsupported', reason: missing.unsupported(), programs: [] });
  assert.deepEqual(missing.counters(), new Map());
  assert.match(loadBpfAddon('/nonexistent/kubesonar_bpf.node', '/nonexistent').error ?? '', /not built/);
});

test('drops are counted per namespace and reason with events off (iptables DROP → NETFILTER_DROP)', async () => {
  a.exec('iptables', '-A', 'INPUT', '-p', 'udp', '--dport', '5555:5556', '-j', 'DROP');
  const before = (await collect(packetloss!.metric, a)).samples;
  sendUdp(b, aAddr, 5555, 3);
  const { samples, notes } = await collect(packetloss!.metric, a);
  assert.deepEqual(notes, []);
  assert.equal(value(samples, 'netfilter')! - (value(before, 'netfilter') ?? 0), 3);
  assert.equal(value(samples, 'byreason', { reason: 'NETFILTER_DROP' })! - (value(before, 'byreason', { reason: 'NETFILTER_DROP' }) ?? 0), 3);
  assert.ok(value(samples, 'total')! >= value(samples, 'netfilter')!);
  // The sender's namespace dropped nothing for netfilter; the host entity gets eventslost.
  assert.equal(value((await collect(packetloss!.metric, b)).samples, 'netfilter'), 0);
  assert.equal(value(samples, 'eventslost'), undefined);
  // Events were off: nothing reached the ring buffer.
  packetloss!.kernel.drain();
  assert.equal(packetloss!.eventStats().delivered, 0);
});

test('events on: an iptables DROP gives a PACKETLOSS event with tuple, reason, stack and kernel time', async () => {
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  const t0 = BigInt(Date.now()) * 1_000_000n;
  sendUdp(b, aAddr, 5555, 1);
  const [e] = await eventsFor('PACKETLOSS NETFILTER_DROP', (e) => e.type === 'PACKETLOSS' && e.netns === a.inode && e.attrs.reason === 'NETFILTER_DROP');
  const t1 = BigInt(Date.now()) * 1_000_000n;
  assert.ok(e!.timeUnixNano >= t0 - 5_000_000n && e!.timeUnixNano <= t1, `kernel time ${e!.timeUnixNano} not within [${t0}, ${t1}]`);
  assert.equal(e!.probe, 'packetloss');
  assert.equal(e!.severity, 'WARN');
  assert.deepEqual({ ...e!.attrs, stack: undefined }, {
    reason: 'NETFILTER_DROP', family: 'ipv4', protocol: 'UDP', saddr: bAddr, sport: e!.attrs.sport, daddr: aAddr, dport: 5555, stack: undefined,
  });
  assert.match(String(e!.attrs.stack), /nf_hook_slow\+0x[0-9a-f]+/);
  assert.doesNotMatch(String(e!.attrs.stack), /bpf_trace_run|bpf_prog_/);
  assert.match(e!.msg, new RegExp(`NETFILTER_DROP UDP ${bAddr}:\\d+ -> ${aAddr}:5555`));
});

test('events without stacks when asked (stacks: false)', async () => {
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000, stacks: false }), undefined);
  sendUdp(b, aAddr, 5556, 1);
  const [e] = await eventsFor('PACKETLOSS without stack', (e) => e.type === 'PACKETLOSS' && e.netns === a.inode && e.attrs.dport === 5556);
  assert.equal(e!.attrs.stack, '');
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
});

test('a connect to a closed port: TCP_SEND_RST_NOSock and NO_SOCKET in the server namespace, TCP_RCV_RST_SYN at the client', async () => {
  assert.equal(tcpreset!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  const [plA, rsA, rsB] = await Promise.all([collect(packetloss!.metric, a), collect(tcpreset!.metric, a), collect(tcpreset!.metric, b)]);
  assert.equal(connect(b, aAddr, 7), 'ECONNREFUSED');

  const nosock = await eventsFor('TCP_SEND_RST_NOSock', (e) => e.type === 'TCP_SEND_RST_NOSock' && e.netns === a.inode);
  assert.equal(nosock.length, 1);
  assert.deepEqual(nosock[0]!.attrs, {
    family: 'ipv4', protocol: 'TCP', saddr: aAddr, sport: 7, daddr: bAddr, dport: nosock[0]!.attrs.dport, reason: 'NO_SOCKET',
  });
  const drop = await eventsFor('PACKETLOSS NO_SOCKET', (e) => e.type === 'PACKETLOSS' && e.netns === a.inode && e.attrs.reason === 'NO_SOCKET');
  assert.equal(drop[0]!.attrs.dport, 7);
  assert.match(String(drop[0]!.attrs.stack), /tcp_v4_rcv/);
  const synRst = await eventsFor('TCP_RCV_RST_SYN', (e) => e.type === 'TCP_RCV_RST_SYN' && e.netns === b.inode);
  assert.equal(synRst[0]!.attrs.state, 'SYN_SENT');
  assert.equal(synRst[0]!.attrs.dport, 7);

  // Exact: one SYN dropped, one reset sent in a; one reset received in b; nothing else.
  const delta = async (probe: MetricProbe, ns: Netns, was: { samples: Sample[] }, metric: string, labels?: Record<string, string>) =>
    value((await collect(probe, ns)).samples, metric, labels)! - (value(was.samples, metric, labels) ?? 0);
  assert.equal(await delta(packetloss!.metric, a, plA, 'nosocket'), 1);
  assert.equal(await delta(packetloss!.metric, a, plA, 'byreason', { reason: 'NO_SOCKET' }), 1);
  assert.equal(await delta(tcpreset!.metric, a, rsA, 'resets', { type: 'TCP_SEND_RST_NOSock' }), 1);
  assert.equal(await delta(tcpreset!.metric, b, rsB, 'resets', { type: 'TCP_RCV_RST_SYN' }), 1);
  for (const type of tcpreset!.eventTypes.filter((t) => t !== 'TCP_SEND_RST_NOSock')) {
    assert.equal(await delta(tcpreset!.metric, a, rsA, 'resets', { type }), 0, type);
  }
});

test('a bare ACK to a listening socket: TCP_SEND_RST from the listener, with its state', async () => {
  assert.equal(tcpreset!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  const server = a.spawn(process.execPath, ['-e', `require('net').createServer(() => {}).listen(8084, '${aAddr}', () => console.log('ready'));`]);
  await waitForLine(server, /ready/, 10_000);
  const was = value((await collect(tcpreset!.metric, a)).samples, 'resets', { type: 'TCP_SEND_RST' })!;
  // An ACK that matches no handshake, from a raw socket: the listener answers with a reset.
  b.exec('python3', '-c', `
import socket, struct
src, dst, sport, dport = '${bAddr}', '${aAddr}', 40001, 8084
def csum(b):
    b += b'\\0' * (len(b) % 2)
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
tcp = struct.pack('!HHIIBBHHH', sport, dport, 1000, 2000, 5 << 4, 0x10, 65535, 0, 0)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).sendto(tcp, (dst, 0))
`);
  const [rst] = await eventsFor('TCP_SEND_RST', (e) => e.type === 'TCP_SEND_RST' && e.netns === a.inode);
  assert.deepEqual([rst!.attrs.state, rst!.attrs.saddr, rst!.attrs.sport], ['LISTEN', aAddr, 8084]);
  assert.equal(value((await collect(tcpreset!.metric, a)).samples, 'resets', { type: 'TCP_SEND_RST' })! - was, 1);
  server.kill();
});

test('a reset on an established connection (SO_LINGER 0 close): TCP_SEND_RST_ACTIVE at the closer, TCP_RCV_RST_ESTAB at the peer', async () => {
  assert.equal(tcpreset!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  // resetAndDestroy() closes with SO_LINGER {on, 0}: the kernel aborts with a RST.
  const server = a.spawn(process.execPath, ['-e', `require('net').createServer((s) => s.once('data', () => s.resetAndDestroy()))
    .listen(8080, '${aAddr}', () => console.log('ready'));`]);
  await waitForLine(server, /ready/, 10_000);
  const [rsA, rsB] = await Promise.all([collect(tcpreset!.metric, a), collect(tcpreset!.metric, b)]);
  const out = node(b, `const s = require('net').connect(8080, '${aAddr}', () => s.write('go'));
    s.on('error', (e) => { console.log(e.code); process.exit(0); }); s.on('close', () => console.log('closed'));`);
  assert.match(out, /ECONNRESET/);

  const [estab] = await eventsFor('TCP_RCV_RST_ESTAB', (e) => e.type === 'TCP_RCV_RST_ESTAB' && e.netns === b.inode);
  assert.equal(estab!.attrs.state, 'ESTABLISHED');
  assert.deepEqual([estab!.attrs.saddr, estab!.attrs.daddr, estab!.attrs.dport], [bAddr, aAddr, 8080]);
  const [active] = await eventsFor('TCP_SEND_RST_ACTIVE', (e) => e.type === 'TCP_SEND_RST_ACTIVE' && e.netns === a.inode);
  assert.deepEqual([active!.attrs.saddr, active!.attrs.sport, active!.attrs.daddr], [aAddr, 8080, bAddr]);

  const after = async (ns: Netns, type: string) => value((await collect(tcpreset!.metric, ns)).samples, 'resets', { type })!;
  assert.equal(await after(b, 'TCP_RCV_RST_ESTAB') - value(rsB.samples, 'resets', { type: 'TCP_RCV_RST_ESTAB' })!, 1);
  assert.equal(await after(a, 'TCP_SEND_RST_ACTIVE') - value(rsA.samples, 'resets', { type: 'TCP_SEND_RST_ACTIVE' })!, 1);
  server.kill();
});

test('a reset received while closing (FIN_WAIT after a half-close): TCP_RCV_RST_TW', async () => {
  assert.equal(tcpreset!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  // The server half-closes (FIN, socket kept open); the client answers the FIN with an abort.
  const server = a.spawn(process.execPath, ['-e', `require('net').createServer((s) => { s.on('error', () => {}); s.end(); })
    .listen(8082, '${aAddr}', () => console.log('ready'));`]);
  await waitForLine(server, /ready/, 10_000);
  const was = value((await collect(tcpreset!.metric, a)).samples, 'resets', { type: 'TCP_RCV_RST_TW' })!;
  node(b, `const s = require('net').connect({ port: 8082, host: '${aAddr}', allowHalfOpen: true });
    s.on('end', () => { s.resetAndDestroy(); setTimeout(() => process.exit(0), 50); });`);
  const [tw] = await eventsFor('TCP_RCV_RST_TW', (e) => e.type === 'TCP_RCV_RST_TW' && e.netns === a.inode && e.attrs.sport === 8082);
  // FIN_WAIT1 when the abort overtakes the client's ACK of the FIN, FIN_WAIT2 otherwise.
  assert.match(String(tw!.attrs.state), /^FIN_WAIT[12]$/);
  assert.equal(value((await collect(tcpreset!.metric, a)).samples, 'resets', { type: 'TCP_RCV_RST_TW' })! - was, 1);
  server.kill();
});

test('IPv6: a connect to a closed port on ::1 gives IPv6 tuples in both probes', async () => {
  assert.equal(tcpreset!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  const c = await createNetns({ ipv6: true });
  const was = value((await collect(packetloss!.metric, entityOf(c))).samples, 'nosocket')!;
  assert.equal(connect(c, '::1', 9), 'ECONNREFUSED');
  const [rst] = await eventsFor('IPv6 TCP_SEND_RST_NOSock', (e) => e.type === 'TCP_SEND_RST_NOSock' && e.netns === c.inode);
  assert.deepEqual([rst!.attrs.family, rst!.attrs.saddr, rst!.attrs.sport, rst!.attrs.daddr], ['ipv6', '::1', 9, '::1']);
  const [drop] = await eventsFor('IPv6 NO_SOCKET', (e) => e.type === 'PACKETLOSS' && e.netns === c.inode && e.attrs.reason === 'NO_SOCKET');
  assert.deepEqual([drop!.attrs.family, drop!.attrs.protocol, drop!.attrs.daddr, drop!.attrs.dport], ['ipv6', 'TCP', '::1', 9]);
  assert.match(drop!.msg, /TCP \[::1\]:\d+ -> \[::1\]:9/);
  assert.match(String(drop!.attrs.stack), /tcp_v6_rcv/);
  assert.equal(value((await collect(packetloss!.metric, entityOf(c))).samples, 'nosocket')! - was, 1);
});

test('loss on the veth → retransmissions counted in the sender namespace, with events', async () => {
  assert.equal(tcpretrans!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  const server = a.spawn(process.execPath, ['-e', `require('net').createServer((s) => s.on('data', () => {}))
    .listen(8081, '${aAddr}', () => console.log('ready'));`]);
  await waitForLine(server, /ready/, 10_000);
  const before = await collect(tcpretrans!.metric, b);
  // The client connects, then a drops everything for port 8081: b's data is retransmitted.
  const client = b.spawn(process.execPath, ['-e', `const s = require('net').connect(8081, '${aAddr}', () => console.log('ready'));
    process.stdin.on('data', () => s.write('x'.repeat(100))); s.on('error', () => {});`]);
  await waitForLine(client, /ready/, 10_000);
  a.exec('iptables', '-I', 'INPUT', '-p', 'tcp', '--dport', '8081', '-j', 'DROP');
  client.stdin!.write('go\n');
  const [e] = await eventsFor('TCP_RETRANS', (e) => e.type === 'TCP_RETRANS' && e.netns === b.inode);
  assert.deepEqual([e!.attrs.saddr, e!.attrs.daddr, e!.attrs.dport, e!.attrs.state], [bAddr, aAddr, 8081, 'ESTABLISHED']);
  const retrans = value((await collect(tcpretrans!.metric, b)).samples, 'retrans')! - value(before.samples, 'retrans')!;
  assert.ok(retrans >= 1, `retransmissions: ${retrans}`);
  assert.equal(value((await collect(tcpretrans!.metric, a)).samples, 'retrans'), 0);
  // Let the retransmissions through again, so they stop being netfilter drops in a.
  a.exec('iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '8081', '-j', 'DROP');
  client.kill();
  server.kill();
});

test('a lost final ACK of the handshake → the SYN-ACK is retransmitted (tcp_retransmit_synack)', async () => {
  assert.equal(tcpretrans!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  const server = a.spawn(process.execPath, ['-e', `require('net').createServer(() => {}).listen(8083, '${aAddr}', () => console.log('ready'));`]);
  await waitForLine(server, /ready/, 10_000);
  const was = value((await collect(tcpretrans!.metric, a)).samples, 'synackretrans')!;
  // b drops its own pure ACKs to the server: a stays in SYN_RECV and retransmits the SYN-ACK after ~1 s.
  const rule = ['OUTPUT', '-p', 'tcp', '--dport', '8083', '--tcp-flags', 'SYN,ACK,FIN,RST', 'ACK', '-j', 'DROP'];
  b.exec('iptables', '-A', ...rule);
  try {
    const client = b.spawn(process.execPath, ['-e', `require('net').connect(8083, '${aAddr}', () => console.log('ready')).on('error', () => {});`]);
    await waitForLine(client, /ready/, 10_000);
    const [e] = await eventsFor('TCP_RETRANS_SYNACK', (e) => e.type === 'TCP_RETRANS_SYNACK' && e.netns === a.inode);
    assert.deepEqual([e!.attrs.saddr, e!.attrs.sport, e!.attrs.daddr, e!.attrs.state], [aAddr, 8083, bAddr, 'NEW_SYN_RECV']);
    assert.ok(value((await collect(tcpretrans!.metric, a)).samples, 'synackretrans')! - was >= 1);
    client.kill();
  } finally {
    b.exec('iptables', '-D', ...rule);
    server.kill();
  }
});

test('segments to a connection in TIME_WAIT: its peer\'s late FIN, a SYN reusing the port and the reset that follows, one each', async () => {
  assert.equal(tcptwrcv!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  const [port, clientPort] = [8085, 41085];
  const flags = async (ns: Netns) => {
    const { samples } = await collect(tcptwrcv!.metric, ns);
    return Object.fromEntries(['SYN', 'RST', 'FIN', 'ACK'].map((flag) => [flag, value(samples, 'segments', { flag })!]));
  };
  const [wasA, wasB] = [await flags(a), await flags(b)];
  // The client closes first: its orphaned socket becomes a timewait socket (substate FIN_WAIT2)
  // and then receives the server's FIN, sent 200 ms later.
  const server = a.spawn('python3', ['-c', `
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('${aAddr}', ${port})); s.listen()
print('listening', flush=True)
c, _ = s.accept()
while c.recv(100): pass
time.sleep(0.2); c.close(); s.close()
print('closed', flush=True)`]);
  await waitForLine(server, /^listening/, 10_000);
  const closed = waitForLine(server, /^closed/, 10_000);
  b.exec('python3', '-c', `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('${bAddr}', ${clientPort}))
s.connect(('${aAddr}', ${port})); s.send(b'x'); s.close()`);
  await closed;
  // The server's late FIN has reached the client's timewait socket before the SYN is sent.
  await eventsFor('the late FIN in TIME_WAIT', (e) => e.type === 'TCP_TW_RCV' && e.netns === b.inode && e.attrs.flag === 'FIN');
  // A new connection from the server's address and port to the client's: its SYN meets the
  // timewait socket, which answers with an ACK; the connecting side resets, which ends TIME_WAIT.
  a.exec('python3', '-c', `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('${aAddr}', ${port})); s.settimeout(0.5)
try: s.connect(('${bAddr}', ${clientPort}))
except OSError: pass`);
  const found = await eventsFor('three TCP_TW_RCV', (e) => e.type === 'TCP_TW_RCV' && e.netns === b.inode, 3);
  assert.deepEqual(found.map((e) => e.attrs.flag), ['FIN', 'SYN', 'RST']);
  for (const e of found) {
    assert.deepEqual([e.attrs.protocol, e.attrs.saddr, e.attrs.sport, e.attrs.daddr, e.attrs.dport], ['TCP', aAddr, port, bAddr, clientPort]);
    assert.equal(e.attrs.state, 'TIME_WAIT');
    assert.equal(e.severity, 'INFO');
    assert.match(e.msg, new RegExp(`^${e.attrs.flag} received in TIME_WAIT TCP ${aAddr}:${port} -> ${bAddr}:${clientPort}$`));
  }
  const [nowA, nowB] = [await flags(a), await flags(b)];
  assert.deepEqual(Object.fromEntries(Object.entries(nowB).map(([f, n]) => [f, n - wasB[f]!])), { SYN: 1, RST: 1, FIN: 1, ACK: 0 });
  assert.deepEqual(nowA, wasA, 'the server side had no timewait socket');
  tcptwrcv!.stopEvents();
});

test('the rate limit holds in the kernel while counters stay exact; nothing is lost at low rate', async () => {
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 2 }), undefined);
  await sleep(1100); // a fresh one-second window of the limiter: a time the test sets, not a wait for something
  packetloss!.kernel.drain();
  const was = value((await collect(packetloss!.metric, a)).samples, 'netfilter')!;
  const statsBefore = packetloss!.eventStats();
  const started = Date.now();
  sendUdp(b, aAddr, 5555, 20);
  assert.equal(value((await collect(packetloss!.metric, a)).samples, 'netfilter')! - was, 20);
  const stats = await waitFor('each of the 20 drops delivered or suppressed', () => {
    packetloss!.kernel.drain();
    const s = packetloss!.eventStats();
    return s.delivered - statsBefore.delivered + s.suppressed - statsBefore.suppressed >= 20 && s;
  }, 5000);
  // The limit is per probe, node-wide (other drops on the host share it): at most two events per
  // one-second window, over every window this section touched (a slow machine may span several).
  const windows = Math.floor((Date.now() - started) / 1000) + 2;
  const delivered = stats.delivered - statsBefore.delivered;
  assert.ok(delivered <= 2 * windows, `${delivered} events delivered in ${windows} windows`);
  assert.ok(stats.suppressed - statsBefore.suppressed >= 20 - delivered, `suppressed ${stats.suppressed - statsBefore.suppressed}`);

  for (const { name, bpf, probe } of PROBES) {
    assert.equal(bpf.stats().lost, 0, `${name} lost events`);
    assert.equal(bpf.stats().mapFull, 0, `${name} map full`);
    const host = await collect(probe, { netns: 1, isHost: true, pids: [process.pid] });
    assert.equal(value(host.samples, 'eventslost'), 0, name);
  }
  for (const p of EBPF_PROBES) p.kernel!.stopEvents();
});

test('counters of a namespace that is gone are deleted from the kernel map at the second read without it', async () => {
  const c = await createNetns();
  sendUdp(c, '127.0.0.1', 9, 1); // a closed port: one NO_SOCKET drop in c
  const ino = c.inode;
  const bpf = packetloss!.kernel;
  assert.ok(bpf.counters().get(ino)?.size, 'c has counters');
  const live = new Set([a.inode, b.inode]);
  assert.equal(bpf.counters(live).get(ino), undefined); // not reported, kept once
  assert.ok(bpf.counters().get(ino)?.size, 'kept after one read without c');
  bpf.counters(live);
  assert.equal(bpf.counters().get(ino), undefined);
  assert.ok(bpf.counters().get(a.inode)?.size, 'a live namespace keeps its counters');
});

test('drop policy: every drop is counted, bookkeeping drops (IPV6DISABLED) are events only when asked for, faults by default', async () => {
  // c speaks IPv6 to d, whose IPv6 is off: d drops every IPv6 frame as IPV6DISABLED (bookkeeping).
  const c = await createNetns({ ipv6: true });
  const d = await createNetns();
  const v = veth(c, d, 180 + (process.pid % 50));
  const dNs = d.inode;
  c.exec('ip', 'link', 'set', v.aDev, 'up');
  const send6 = (n: number) => node(c, `const s = require('dgram').createSocket('udp6'); let k = 0;
    const next = () => k++ < ${n} ? s.send('x', 9, 'ff02::1%${v.aDev}', next) : s.close(); next();`);
  const drops = async () => value((await collect(packetloss!.metric, entityOf(d))).samples, 'byreason', { reason: 'IPV6DISABLED' }) ?? 0;
  /** Sends until d counted `n` more drops; returns the events about them (the ring buffer drained: none come later). */
  const round = async (n: number) => {
    const from = events.length;
    const was = await drops();
    send6(n);
    await waitFor('IPV6DISABLED drops counted in d', async () => ((await drops()) - was >= n ? true : undefined), 10_000);
    packetloss!.kernel.drain(); // an event is written before its program returns: what is not here now never comes
    return events.slice(from).filter((e) => e.netns === dNs && e.attrs.reason === 'IPV6DISABLED');
  };

  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  assert.deepEqual(await round(3), [], 'counted, but no event by default');
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000, values: { packetloss: { reasons: ['bookkeeping'] } } }), undefined);
  assert.ok((await round(3)).length >= 3, 'events once bookkeeping reasons are asked for');
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000, values: { packetloss: { reasons: ['all'], exclude_reasons: ['ipv6disabled'] } } }), undefined);
  assert.deepEqual(await round(3), [], 'excluded by name');
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000, values: { packetloss: { reasons: ['IPV6DISABLED'] } } }), undefined);
  assert.ok((await round(3)).length >= 3, 'asked for by name');

  // Faults stay events under the default policy: an iptables DROP in d.
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
  d.exec('iptables', '-A', 'INPUT', '-p', 'udp', '--dport', '5557', '-j', 'DROP');
  d.exec('ip', 'addr', 'add', '10.201.1.2/24', 'dev', v.bDev);
  c.exec('ip', 'addr', 'add', '10.201.1.1/24', 'dev', v.aDev);
  sendUdp(c, '10.201.1.2', 5557, 1);
  await eventsFor('PACKETLOSS NETFILTER_DROP in d', (e) => e.netns === dNs && e.attrs.reason === 'NETFILTER_DROP');
});

test('a non-IP frame dropped (UNHANDLED_PROTO) is counted but never an event, even with every reason asked for', async () => {
  const c = await createNetns();
  const d = await createNetns();
  const v = veth(c, d, 230 + (process.pid % 20));
  const dNs = d.inode;
  const mac = d.json<{ address: string }[]>('ip', '-j', 'link', 'show', 'dev', v.bDev)[0]!.address.replace(/:/g, '');
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000, values: { packetloss: { reasons: ['all'] } } }), undefined);
  const unhandled = async () => value((await collect(packetloss!.metric, entityOf(d))).samples, 'byreason', { reason: 'UNHANDLED_PROTO' }) ?? 0;
  const was = await unhandled();
  const from = events.length;
  // Five frames of the local experimental ethertype 0x88b5: no protocol handler takes them.
  c.exec('python3', '-c', `import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('${v.aDev}', 0))
for _ in range(5): s.send(bytes.fromhex('${mac}') + s.getsockname()[4] + b'\\x88\\xb5' + b'x' * 46)`);
  await waitFor('UNHANDLED_PROTO drops counted in d', async () => ((await unhandled()) - was >= 5 ? true : undefined), 10_000);
  packetloss!.kernel.drain();
  assert.deepEqual(events.slice(from).filter((e) => e.netns === dNs && e.attrs.reason === 'UNHANDLED_PROTO'), []);
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
});

test('loopback drops with no device and no socket are attributed to the namespace they happen in: a pod\'s and the host\'s', async () => {
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000, values: { packetloss: { reasons: ['all'] } } }), undefined);
  // A server that closes each connection without reading while its client keeps writing: the
  // late data is dropped on loopback (TCP_ABORT_ON_DATA, then NO_SOCKET after the reset).
  const script = (port: number) => `const net = require('net');
    const srv = net.createServer((s) => s.destroy()).listen(${port}, '127.0.0.1', () => {
      const c = net.connect(${port}, '127.0.0.1', () => { const t = setInterval(() => c.write(Buffer.alloc(1000)), 5); setTimeout(() => { clearInterval(t); c.destroy(); srv.close(); }, 300); });
      c.on('error', () => {});
    });`;
  const hostNs = statSync('/proc/self/ns/net').ino;
  for (const [where, ns, netns, port] of [['pod', a, a.inode, 7501], ['host', undefined, hostNs, 7502 + (process.pid % 1000)]] as const) {
    const from = events.length;
    if (ns) node(ns, script(port));
    else execFileSync('timeout', ['10', process.execPath, '-e', script(port)]);
    const mine = await eventsFor(`loopback drops on port ${port} (${where})`, (e) => events.indexOf(e) >= from && e.type === 'PACKETLOSS'
      && (e.attrs.sport === port || e.attrs.dport === port) && e.attrs.saddr === '127.0.0.1');
    assert.deepEqual([...new Set(mine.map((e) => e.netns))], [netns], `${where}: ${mine.map((e) => `${e.attrs.reason} netns ${e.netns}`).join(', ')}`);
  }
  assert.equal(packetloss!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
});

test('the agent\'s own sockets give no events: what its process connects, what is accepted on its listening ports', async () => {
  const own = new OwnSockets(process.pid);
  assert.equal(own.start(), undefined);
  try {
    tcpreset!.kernel.close(); // loaded again below, now with the map of the agent's sockets
    assert.equal(tcpreset!.startEvents(publisher, { ratePerSecond: 1000 }), undefined);
    const hostNs = statSync('/proc/self/ns/net').ino;
    const closed = 7600 + (process.pid % 300);
    const refusedFrom = (e: NetEvent) => e.type === 'TCP_RCV_RST_SYN' && e.netns === hostNs && e.attrs.dport === closed;

    // The agent (this process) connecting to a closed port: the reset its SYN_SENT socket gets is its own.
    const ownBefore = tcpreset!.eventStats().own;
    const from = events.length;
    assert.equal(await new Promise((resolve) => net.connect(closed, '127.0.0.1').on('error', (e: NodeJS.ErrnoException) => resolve(e.code))), 'ECONNREFUSED');
    await waitFor('the own reset counted', () => (tcpreset!.eventStats().own > ownBefore ? true : undefined), 10_000);
    tcpreset!.kernel.drain();
    assert.deepEqual(events.slice(from).filter(refusedFrom), [], 'no event about the agent\'s own connection');
    // Another process doing the same is reported.
    assert.equal(execFileSync('timeout', ['10', process.execPath, '-e', `require('net').connect(${closed}, '127.0.0.1').on('error', (e) => console.log(e.code))`], { encoding: 'utf8' }).trim(), 'ECONNREFUSED');
    await eventsFor('TCP_RCV_RST_SYN of another process', (e) => events.indexOf(e) >= from && refusedFrom(e));

    // A connection accepted on one of the agent's listening ports, reset by its client: the
    // client's reset is reported (its socket is not the agent's), the agent's side is not.
    const srv = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    assert.equal(own.setListening(hostNs, [port]), undefined);
    const from2 = events.length;
    const ownBefore2 = tcpreset!.eventStats().own;
    execFileSync('timeout', ['10', process.execPath, '-e', `const s = require('net').connect(${port}, '127.0.0.1', () => setTimeout(() => s.resetAndDestroy(), 50))`]);
    await eventsFor('the client\'s TCP_SEND_RST_ACTIVE', (e) => events.indexOf(e) >= from2 && e.type === 'TCP_SEND_RST_ACTIVE' && e.attrs.dport === port);
    await waitFor('the agent side\'s reset counted as own', () => (tcpreset!.eventStats().own > ownBefore2 ? true : undefined), 10_000);
    tcpreset!.kernel.drain();
    assert.deepEqual(events.slice(from2).filter((e) => e.type === 'TCP_RCV_RST_ESTAB' && e.attrs.sport === port), [], 'no event about the agent\'s accepted socket');
    srv.close();
  } finally {
    own.stop();
    tcpreset!.kernel.close();
  }
});

test('the registry lists the event probes and their status', () => {
  // The latency probes (net_softirq, socketlatency, netiftxlat, kernellatency) are tested in
  // latency-probes.test.ts, dns in dns.test.ts.
  assert.deepEqual(EBPF_PROBES.filter((p) => p.event?.fromRecord).map((p) => p.name).sort(), [...PROBES.map((p) => p.name), 'net_softirq', 'socketlatency', 'netiftxlat', 'kernellatency', 'dns'].sort());
  for (const p of PROBES) p.bpf.unsupported(); // loaded (the first test did it already)
  const status = Object.fromEntries(EBPF_PROBES.map((p) => [p.name, p.kernel!.status()]));
  for (const { name } of PROBES) {
    const st = status[name as keyof typeof status];
    assert.equal(st.state, 'ok', name);
    assert.ok(st.programs.every((p) => p.attached), name);
    assert.equal(st.events?.lost, 0, name);
  }
});

