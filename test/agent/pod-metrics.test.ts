// Per-pod metrics end to end: real pod sandboxes created through CRI on a private
// containerd, real traffic inside their namespaces, the agent's /metrics read through the
// whole pipeline, and the numbers checked against nstat, ss, tc and conntrack run in the same
// namespace.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { seriesValue, startAgent, type TestAgent } from '../helpers/agent.js';
import { newUid, PrivateContainerd, type RunningPod } from '../helpers/containerd.js';
import { inNetns, nstat, sh, spawnInNetns } from '../helpers/exec.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { holdsFor, stopProcess, waitFor } from '../helpers/wait.js';
import { hostLocalNetworks } from '../../src/probes/podip.js';

let ctrd: PrivateContainerd;
let podA: RunningPod;
let podB: RunningPod;
let agent: TestAgent;
const children: ChildProcess[] = [];

before(async () => {
  ctrd = await PrivateContainerd.start();
  podA = await ctrd.runPodSandbox({ name: 'client-a', namespace: 'shop', uid: newUid(), labels: { app: 'a' } });
  podB = await ctrd.runPodSandbox({ name: 'client-b', namespace: 'shop', uid: newUid(), labels: { app: 'b' } });
  agent = await startAgent({ runtimeSocket: ctrd.socket, cniConfDir: join(ctrd.dir, 'cni') });
  await agent.agent.collector.stop(); // cycles run when the test says so, never halfway through its traffic
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await agent?.stop();
  await ctrd?.stop();
});

/** A fresh collection cycle, then the endpoint's text. */
async function scrape(): Promise<string> {
  await agent.agent.collector.collect();
  return agent.metrics();
}

const of = (pod: RunningPod) => ({ k8s_pod: pod.name, k8s_namespace: pod.namespace });
const value = (text: string, name: string, pod: RunningPod, extra: Record<string, string> = {}) => {
  const v = seriesValue(text, name, { ...of(pod), ...extra });
  assert.notEqual(v, undefined, `${name} of ${pod.name} is not exported`);
  return v!;
};

test('pods are entities with their CRI names and netns', async () => {
  const text = await scrape();
  const netnsA = (await sh('stat', ['-L', '-c', '%i', `/proc/${podA.pid}/ns/net`])).trim();
  assert.equal(seriesValue(text, 'netexporter_tcp_currestab', { ...of(podA), netns: `ns${netnsA}`, k8s_node: 'test-node' }), 0);
  assert.notEqual(seriesValue(text, 'netexporter_netdev_rxbytes', { ...of(podA), if_name: 'eth0' }), undefined);
});

test('connects to a closed port raise attemptfails and outrsts of that pod only, as nstat counts them', async () => {
  const N = 7;
  const before = await scrape();
  await inNetns(podA.pid, 'node', ['-e', `let n=0;for(let i=0;i<${N};i++)require('net').connect(1,'127.0.0.1').on('error',()=>{if(++n===${N})process.exit(0)})`]);
  const after = await scrape();
  assert.equal(value(after, 'netexporter_tcp_attemptfails', podA) - value(before, 'netexporter_tcp_attemptfails', podA), N);
  assert.equal(value(after, 'netexporter_tcp_outrsts', podA) - value(before, 'netexporter_tcp_outrsts', podA), N);
  assert.equal(value(after, 'netexporter_tcp_attemptfails', podB), value(before, 'netexporter_tcp_attemptfails', podB));
  assert.equal(value(after, 'netexporter_tcp_outrsts', podB), value(before, 'netexporter_tcp_outrsts', podB));
  const kernel = await nstat(podA.pid);
  assert.equal(value(after, 'netexporter_tcp_attemptfails', podA), kernel.get('TcpAttemptFails'));
  assert.equal(value(after, 'netexporter_tcp_outrsts', podA), kernel.get('TcpOutRsts'));
  assert.equal(value(after, 'netexporter_tcp_activeopens', podA), kernel.get('TcpActiveOpens'));
});

test('a flooded backlog-1 listener raises listenoverflows and shows in sockbacklog, as nstat and ss see it', async () => {
  const server = await spawnInNetns(podA.pid, 'python3', ['-c',
    "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',8080))\ns.listen(1)\nprint('ready',flush=True)\ntime.sleep(120)"]);
  children.push(server);
  const clients = await spawnInNetns(podA.pid, 'python3', ['-c',
    "import socket,time\ncs=[]\nfor i in range(10):\n  c=socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1',8080)); cs.append(c)\ntime.sleep(1.5)\nprint('ready',flush=True)\ntime.sleep(120)"]);
  children.push(clients);
  const held = await scrape();
  // The accept queue of a backlog-1 listener holds 2 (full means more than the backlog).
  const ssQueue = Number((await inNetns(podA.pid, 'ss', ['-Hltn', 'sport = :8080'])).trim().split(/\s+/)[1]);
  assert.equal(ssQueue, 2);
  assert.equal(value(held, 'netexporter_sockbacklog_recvq', podA), ssQueue);
  assert.equal(value(held, 'netexporter_sockbacklog_fulllisteners', podA), 1);
  assert.equal(value(held, 'netexporter_sockbacklog_recvq', podB), 0);

  await stopProcess(clients, 'SIGKILL');
  await stopProcess(server, 'SIGKILL');
  const before = await nstat(podA.pid);
  const text = await scrape();
  const after = await nstat(podA.pid);
  const overflows = value(text, 'netexporter_tcpext_listenoverflows', podA);
  assert.ok(overflows > 0, 'no listen overflow counted');
  assert.ok(before.get('TcpExtListenOverflows')! <= overflows && overflows <= after.get('TcpExtListenOverflows')!);
  assert.equal(value(text, 'netexporter_tcpext_listenoverflows', podB), 0);
});

test('LISTEN_OVERFLOW: a flooded backlog-1 listener is named by port, its drops as ss -ltnm counts them, one event per cycle', async (t) => {
  const P = 8090;
  const overflowEvents = () => agent.events.map((l) => JSON.parse(l)).filter((e) => e.type === 'LISTEN_OVERFLOW' && e.sport === P);
  /** The listener's sk_drops as ss shows it (`d` in skmem). */
  const ssDrops = async () => Number(/\bd(\d+)\)/.exec(await inNetns(podA.pid, 'ss', ['-Hltnm', `sport = :${P}`]))?.[1] ?? NaN);
  const server = await spawnInNetns(podA.pid, 'python3', ['-c',
    `import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',${P}))\ns.listen(1)\nprint('ready',flush=True)\ntime.sleep(120)`]);
  children.push(server);
  await scrape(); // the listener's first sight: drops from before are not news
  const nstatBefore = await nstat(podA.pid);
  const clients = await spawnInNetns(podA.pid, 'python3', ['-c',
    `import socket,time\ncs=[]\nfor i in range(20):\n  c=socket.socket(); c.setblocking(False); c.connect_ex(('127.0.0.1',${P})); cs.append(c)\nprint('ready',flush=True)\ntime.sleep(120)`]);
  children.push(clients);
  await waitFor('the listener to drop', async () => (await ssDrops()) > 0, 10_000);
  // Killing the clients resets their sockets: no SYN or ACK reaches the listener any more.
  await stopProcess(clients, 'SIGKILL');
  let d = await ssDrops();
  await waitFor('the listener\'s drops to settle', async () => {
    await sleep(300);
    const now = await ssDrops();
    return now === d || ((d = now), false);
  }, 10_000);
  const text = await scrape();
  assert.equal(await ssDrops(), d, 'no drop between the two reads of ss');
  const nstatAfter = await nstat(podA.pid);
  assert.equal(value(text, 'netexporter_sockbacklog_drops', podA, { port: String(P) }), d);
  const listenDrops = nstatAfter.get('TcpExtListenDrops')! - nstatBefore.get('TcpExtListenDrops')!;
  assert.ok(listenDrops > 0 && d >= listenDrops, `sk_drops ${d} < TcpExtListenDrops delta ${listenDrops}`);
  t.diagnostic(`listener drops (ss d) ${d}, TcpExtListenDrops delta ${listenDrops}`);
  assert.equal(seriesValue(text, 'netexporter_sockbacklog_drops', { ...of(podB), port: String(P) }), undefined);

  const events = await waitFor('the LISTEN_OVERFLOW event', () => (overflowEvents().length ? overflowEvents() : undefined), 10_000);
  assert.equal(events.length, 1, 'one event for the cycle');
  assert.equal(events[0].pod, 'client-a');
  assert.equal(events[0].namespace, 'shop');
  assert.equal(events[0].drops, d);
  assert.equal(events[0].backlog, 1);
  // A cycle without new drops says nothing.
  await scrape();
  await holdsFor('no second LISTEN_OVERFLOW event', () => overflowEvents().length === 1, 1000);
  await stopProcess(server, 'SIGKILL');
});

test('established connections and queues agree with ss', async () => {
  const server = await spawnInNetns(podB.pid, 'python3', ['-c',
    "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',8081))\ns.listen(16)\nimport threading\ncs=[socket.create_connection(('127.0.0.1',8081)) for i in range(3)]\nac=[s.accept()[0] for i in range(3)]\ncs[0].send(b'x'*1000)\ntime.sleep(0.2)\nprint('ready',flush=True)\ntime.sleep(120)"]);
  children.push(server);
  const text = await scrape();
  const estab = (await inNetns(podB.pid, 'ss', ['-Htn', 'state', 'established'])).trim().split('\n');
  assert.equal(estab.length, 6);
  assert.equal(value(text, 'netexporter_tcpsummary_tcpestablishedconn', podB), estab.length);
  const rx = estab.reduce((n, l) => n + Number(l.trim().split(/\s+/)[0]), 0);
  assert.equal(rx, 1000);
  assert.equal(value(text, 'netexporter_tcpsummary_tcprxqueue', podB), rx);
  assert.equal(value(text, 'netexporter_tcp_currestab', podB), 6);
  server.kill('SIGKILL');
});

test('a tbf qdisc that overflows raises qdisc drops as tc counts them', async () => {
  const gateway = podA.ip.replace(/\.\d+$/, '.1');
  await inNetns(podA.pid, 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', '1mbit', 'burst', '1600', 'limit', '3000']);
  await inNetns(podA.pid, 'node', ['-e',
    `const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(1200);let n=0;const go=()=>{for(let i=0;i<50;i++)s.send(b,9,'${gateway}');if(++n<10)setImmediate(go);else setTimeout(()=>process.exit(0),100)};go()`]);
  const root = async () => JSON.parse(await inNetns(podA.pid, 'tc', ['-s', '-j', 'qdisc', 'show', 'dev', 'eth0', 'root']))[0];
  // Counters still move while the tbf drains (in softirq, late on a loaded machine): compare once it is empty.
  await waitFor('the tbf to drain', async () => (await root()).qlen === 0, 20_000);
  const text = await scrape();
  const tcStats = await root();
  assert.ok(tcStats.drops > 0, 'tbf dropped nothing');
  assert.equal(value(text, 'netexporter_qdisc_drops', podA), tcStats.drops);
  assert.equal(value(text, 'netexporter_qdisc_packets', podA), tcStats.packets);
  assert.equal(value(text, 'netexporter_qdisc_bytes', podA), tcStats.bytes);
  assert.equal(value(text, 'netexporter_qdisc_overlimits', podA), tcStats.overlimits);
});

test('conntrack statistics agree with conntrack -S and -C in the pod', async () => {
  // Rules that use conntrack make the kernel track this namespace.
  await inNetns(podB.pid, 'iptables', ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
  await inNetns(podB.pid, 'node', ['-e', "const s=require('net').createServer(c=>c.end()).listen(8082,'127.0.0.1',()=>{let n=0;for(let i=0;i<5;i++)require('net').connect(8082,'127.0.0.1').on('close',()=>{if(++n===5)process.exit(0)})})"]);
  // Make the invalid counter move: strict TCP tracking, forget the entries, then talk on an
  // established connection: its segments are now INVALID to conntrack (and dropped by the rule).
  await inNetns(podB.pid, 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_tcp_loose=0']);
  // Then three new connections stay open, tracked, while the agent and conntrack -C look.
  const holder = await spawnInNetns(podB.pid, 'node', ['-e', "const n=require('net');const keep=[];n.createServer(c=>{keep.push(c);c.on('data',()=>{})}).listen(8083,'127.0.0.1',()=>{const c=n.connect(8083,'127.0.0.1',()=>{require('child_process').execFileSync('conntrack',['-F'],{stdio:'ignore'});c.write('x');setTimeout(()=>{for(let i=0;i<3;i++)keep.push(n.connect(8083,'127.0.0.1'));setTimeout(()=>console.log('ready'),300)},500)})});setTimeout(()=>{},60000)"]);
  children.push(holder);
  // The dropped segment keeps being retransmitted, so `invalid` moves: read conntrack -S around the scrape.
  const conntrackS = async () => {
    const sums = new Map<string, number>();
    for (const line of (await inNetns(podB.pid, 'conntrack', ['-S'])).trim().split('\n')) {
      for (const [, k, v] of line.matchAll(/(\w+)=(\d+)/g)) if (k !== 'cpu') sums.set(k!, (sums.get(k!) ?? 0) + Number(v));
    }
    return sums;
  };
  const before = await conntrackS();
  const text = await scrape();
  const after = await conntrackS();
  const count = Number((await inNetns(podB.pid, 'conntrack', ['-C'])).trim());
  assert.ok(count >= 3, `conntrack -C says ${count}`);
  assert.equal(value(text, 'netexporter_conntrack_entries', podB), count);
  assert.ok(before.get('invalid')! > 0, 'no invalid packet counted');
  for (const [metric, field] of [['invalid', 'invalid'], ['drop', 'drop'], ['insertfailed', 'insert_failed'], ['earlydrop', 'early_drop'], ['error', 'error'], ['searchrestart', 'search_restart']]) {
    const v = value(text, `netexporter_conntrack_${metric}`, podB);
    assert.ok(before.get(field!)! <= v && v <= after.get(field!)!, `${metric}: ${before.get(field!)} <= ${v} <= ${after.get(field!)}`);
  }
  holder.kill('SIGKILL');
  // nf_conntrack_max is kernel-wide: exported on the host entity only.
  assert.equal(seriesValue(text, 'netexporter_conntrack_maxentries', of(podB)), undefined);
  assert.equal(seriesValue(text, 'netexporter_conntrack_maxentries', { k8s_node: 'test-node' }), Number((await sh('cat', ['/proc/sys/net/netfilter/nf_conntrack_max'])).trim()));
});

test('podip: allocations, capacity, leaked IPs and IPs outside the pod CIDRs', async () => {
  const [network] = await hostLocalNetworks(join(ctrd.dir, 'cni'), '/var/lib/cni/networks');
  const dataDir = network!.dataDir;
  const allocated = readdirSync(dataDir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  let text = await scrape();
  const node = { k8s_node: 'test-node' };
  assert.equal(seriesValue(text, 'netexporter_podip_entries', node), allocated.length);
  assert.equal(seriesValue(text, 'netexporter_podip_maxentries', node), 253); // a /24 without network, broadcast and gateway
  assert.equal(seriesValue(text, 'netexporter_podip_redisuals', node), 0);
  assert.equal(seriesValue(text, 'netexporter_podip_notinpodcidrs', node), 0);
  // An allocation whose sandbox is gone, as a crashed CNI DEL leaves it.
  const leaked = join(dataDir, ctrd.cni.subnet.replace(/0\/24$/, '250'));
  writeFileSync(leaked, 'deadbeef\neth0');
  try {
    text = await scrape();
    assert.equal(seriesValue(text, 'netexporter_podip_entries', node), allocated.length + 1);
    assert.equal(seriesValue(text, 'netexporter_podip_redisuals', node), 1);
  } finally {
    rmSync(leaked);
  }
  const config = structuredClone((agent.agent as any).config);
  config.metric_config.pod_cidrs = ['192.0.2.0/24'];
  await agent.agent.apply(config);
  await agent.agent.collector.stop();
  text = await scrape();
  assert.equal(seriesValue(text, 'netexporter_podip_notinpodcidrs', node), 2);
});

test('a deleted pod leaves no series behind', async () => {
  await ctrd.stopAndRemove(podB);
  const text = await scrape();
  assert.doesNotMatch(text, /k8s_pod="client-b"/);
  assert.match(text, /k8s_pod="client-a"/);
});

test('events: a reset in a pod reaches stdout and the live stream attributed to the pod, with the kernel timestamp', async () => {
  const stream = agent.agent.events.sinks.stream!;
  const url = `http://127.0.0.1:${stream.address!.port}/events?type=TCP_SEND_RST_NOSock&pod=client-a`;
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  const reader = res.body!.getReader();
  const started = BigInt(Date.now()) * 1_000_000n;
  await inNetns(podA.pid, 'node', ['-e', "require('net').connect(2,'127.0.0.1').on('error',()=>process.exit(0))"]);
  const lines = await waitFor('the event on stdout', () => {
    // Earlier tests reset connections to port 1; this one is the reset sent from port 2.
    const found = agent.events.filter((l) => l.includes('"type":"TCP_SEND_RST_NOSock"') && l.includes('"pod":"client-a"') && JSON.parse(l).sport === 2);
    return found.length ? found : undefined;
  }, 20_000);
  const event = JSON.parse(lines[0]!);
  assert.equal(event.namespace, 'shop');
  assert.equal(event.node, 'test-node');
  assert.equal(event.sport, 2, 'the reset is sent from the closed port');
  const ts = BigInt(/^\{"timestamp":(\d+),/.exec(lines[0]!)![1]!);
  assert.ok(ts >= started && ts <= BigInt(Date.now()) * 1_000_000n, 'kernel time of the event, in epoch ns');
  // The stream filtered by type and pod delivers the same event.
  let text = '';
  const decoder = new TextDecoder();
  void (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
  })().catch(() => undefined); // ends with an AbortError at abort()
  await waitFor('the event on the live stream', () => text.includes('TCP_SEND_RST_NOSock'), 20_000);
  controller.abort();
  assert.match(text, /"pod":"client-a"/);
  // And the sink counters say it was sent.
  const metrics = await agent.metrics();
  assert.ok(seriesValue(metrics, 'netexporter_agent_event_sink_sent_total', { sink: 'stdout' })! >= 1);
});
