// Probe logic that the per-pod test does not reach, in throwaway namespaces: qdisc sums over
// several devices with child qdiscs, per-interface mode, counters that stay monotonic as
// parts come and go, and the io/sock/softnet/arp values against the kernel's own files.
// The parsers on captured files: procfs-parsers.unit.test.ts.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { after, test } from 'node:test';
import type { Entity, ProbeContext, ProbeOptions, Sample } from '../../src/model.js';
import arp from '../../src/probes/arp.js';
import io from '../../src/probes/io.js';
import qdisc from '../../src/probes/qdisc.js';
import sock from '../../src/probes/sock.js';
import softnet from '../../src/probes/softnet.js';

const [arpProbe, ioProbe, qdiscProbe, sockProbe, softnetProbe] = [arp, io, qdisc, sock, softnet].map((p) => p.metric!);
import { cleanup, createNetns, entityOf } from '../helpers/netns.js';
import { stopProcess, waitFor, waitForLine } from '../helpers/wait.js';

after(cleanup);

const options: ProbeOptions = { qdisc_devices: ['cali*', 'eth*'], qdisc_per_interface: false, pod_cidrs: [], cni_conf_dir: '/nonexistent', cni_data_dir: '/nonexistent' };

function context(entities: Entity[], opts: Partial<ProbeOptions> = {}): ProbeContext & { notes: string[] } {
  const notes: string[] = [];
  return { options: { ...options, ...opts }, entities, notes, note: (m) => notes.push(m), shared: (_k, read) => read() };
}
const byName = (samples: Sample[]) => new Map(samples.map((s) => [`${s.metric}${s.labels?.if_name ? `/${s.labels.if_name}` : ''}`, s.value as number]));

test('qdisc: roots of matching devices summed, children and other devices ignored, per-interface mode, monotonic on removal', async () => {
  const ns = await createNetns();
  ns.exec('ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
  ns.exec('ip', 'link', 'add', 'dummy0', 'type', 'veth', 'peer', 'name', 'other0'); // no dummy driver on this kernel
  for (const dev of ['eth0', 'eth1', 'dummy0', 'other0']) ns.exec('ip', 'link', 'set', dev, 'up');
  ns.exec('ip', 'addr', 'add', '10.213.0.1/24', 'dev', 'eth0');
  ns.exec('ip', 'addr', 'add', '10.213.1.1/24', 'dev', 'dummy0');
  // A classful root with a child qdisc (this kernel has htb, not prio).
  ns.exec('tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '1');
  ns.exec('tc', 'class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '100mbit');
  ns.exec('tc', 'qdisc', 'add', 'dev', 'eth0', 'parent', '1:1', 'handle', '10:', 'tbf', 'rate', '1mbit', 'burst', '1600', 'limit', '3000');
  ns.exec('tc', 'qdisc', 'add', 'dev', 'eth1', 'root', 'tbf', 'rate', '1mbit', 'burst', '1600', 'limit', '3000');
  ns.exec('tc', 'qdisc', 'add', 'dev', 'dummy0', 'root', 'tbf', 'rate', '1mbit', 'burst', '1600', 'limit', '3000');
  // Traffic out of eth0 (to a neighbour that does not exist: ARP) and dummy0.
  ns.exec('ip', 'neigh', 'add', '10.213.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', 'eth0');
  ns.exec('node', '-e', "const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(1000);let n=0;const go=()=>{for(let i=0;i<40;i++){s.send(b,9,'10.213.0.2');s.send(b,9,'10.213.1.2')}if(++n<5)setImmediate(go);else setTimeout(()=>process.exit(0),50)};go()");
  const entity = entityOf(ns);
  const tc = (dev: string) => ns.json<any[]>('tc', '-s', '-j', 'qdisc', 'show', 'dev', dev).find((q) => q.root);
  // Counters still move while a tbf drains (in softirq, late on a loaded machine): compare once it is empty.
  await waitFor('the queues to drain', () => ['eth0', 'eth1'].every((dev) => ns.json<any[]>('tc', '-s', '-j', 'qdisc', 'show', 'dev', dev)
    .every((q) => q.qlen === 0)) || undefined, 10_000);

  const summed = byName(await qdiscProbe.collect(entity, context([entity])));
  const [e0, e1, d0] = [tc('eth0'), tc('eth1'), tc('dummy0')];
  assert.ok(e0.drops > 0 && e0.packets > 0, 'the htb root saw the child tbf drop');
  assert.ok(d0.packets > 0, 'dummy0 carried traffic (and must be ignored)');
  for (const f of ['bytes', 'packets', 'drops', 'overlimits', 'requeues', 'backlog', 'qlen']) {
    assert.equal(summed.get(f), e0[f] + e1[f], f);
  }
  const per = byName(await qdiscProbe.collect(entity, context([entity], { qdisc_per_interface: true })));
  assert.equal(per.get('drops/eth0'), e0.drops);
  assert.equal(per.get('packets/eth1'), e1.packets);
  assert.equal(per.has('packets/dummy0'), false);

  ns.exec('tc', 'qdisc', 'del', 'dev', 'eth0', 'root');
  const after = byName(await qdiscProbe.collect(entity, context([entity])));
  assert.equal(after.get('drops'), e0.drops + tc('eth1').drops, 'a removed qdisc keeps its drops in the sum');
  assert.equal(after.get('backlog'), tc('eth0').backlog + tc('eth1').backlog, 'gauges are plain sums');
});

test('io counts the processes of the namespace and never goes back when one exits', async () => {
  const ns = await createNetns();
  const child = ns.spawn('node', ['-e', "require('fs').writeFileSync('/dev/null','x');for(let i=0;i<100;i++)require('fs').readFileSync('/proc/self/stat');console.log('ready');setTimeout(()=>{},60000)"]);
  await waitForLine(child, /^ready/, 10_000);
  const entity: Entity = { ...entityOf(ns), pids: [ns.pid, child.pid!] };
  const first = byName(await ioProbe.collect(entity, context([entity])));
  const syscr = (pid: number) => Number(/syscr: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
  assert.ok(first.get('ioreadsyscall')! >= syscr(child.pid!) + syscr(ns.pid) - 5); // both read again meanwhile at most a little
  await stopProcess(child, 'SIGKILL');
  const second = byName(await ioProbe.collect({ ...entity, pids: [ns.pid] }, context([entity])));
  assert.ok(second.get('ioreadsyscall')! >= first.get('ioreadsyscall')!, 'exited process kept');
});

test('sock, softnet and arp read what the kernel files say', async () => {
  const ns = await createNetns({ ipv6: true });
  const server = ns.spawn('node', ['-e', "const n=require('net');n.createServer().listen(7000,'::',()=>{n.createServer().listen(7001,'127.0.0.1',()=>console.log('ready'))});require('dgram').createSocket('udp6').bind(7002)"]);
  await waitForLine(server, /^ready/, 10_000);
  const entity = entityOf(ns);
  const sock = byName(await sockProbe.collect(entity, context([entity])));
  const v4 = Number(/^TCP: inuse (\d+)/m.exec(ns.exec('cat', '/proc/net/sockstat'))![1]);
  const v6 = Number(/^TCP6: inuse (\d+)/m.exec(ns.exec('cat', '/proc/net/sockstat6'))![1]);
  assert.equal(v4, 1);
  assert.equal(v6, 1);
  assert.equal(sock.get('inuse'), 2);
  assert.equal(sock.get('inuse_udp'), 1);
  server.kill('SIGKILL');

  const host: Entity = { netns: statSync('/proc/self/ns/net').ino, isHost: true, pids: [process.pid] };
  const softnet = byName(await softnetProbe.collect(host, context([host])));
  const cpus = readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map((h) => parseInt(h, 16)));
  assert.ok(softnet.get('processed')! >= cpus.reduce((n, c) => n + c[0]!, 0));
  assert.equal(softnet.get('dropped'), cpus.reduce((n, c) => n + c[1]!, 0));

  ns.exec('ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0');
  ns.exec('ip', 'neigh', 'add', '10.214.0.2', 'lladdr', '02:00:00:00:00:03', 'dev', 'eth0');
  ns.exec('ip', 'neigh', 'add', '10.214.0.3', 'lladdr', '02:00:00:00:00:04', 'dev', 'eth0');
  const arp = byName(await arpProbe.collect(entity, context([entity])));
  assert.equal(arp.get('entries'), 2);
  assert.equal(arp.has('maxentries'), false, 'kernel-wide values are read on the host only');
  const hostArp = byName(await arpProbe.collect(host, context([host])));
  assert.equal(hostArp.get('maxentries'), Number(readFileSync('/proc/sys/net/ipv4/neigh/default/gc_thresh3', 'utf8')));
});
