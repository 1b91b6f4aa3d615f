// The netlink sockets the collection loop keeps per network namespace, in real namespaces:
// made once inside the namespace and reused, answering for that namespace only, and closed
// once the namespace is gone, so that the agent never keeps a deleted pod's namespace alive.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, test } from 'node:test';
import { EntityDiscovery } from '../../src/entities/discovery.js';
import type { ProbeOptions } from '../../src/model.js';
import { nativeAddon } from '../../src/native/addon.js';
import { buildRequest, NETLINK_ROUTE, NLM_F_DUMP } from '../../src/netlink/message.js';
import { links } from '../../src/netlink/rtnetlink.js';
import { openNamespaces } from '../../src/netlink/socket.js';
import { inetSockets, TCPF_ALL } from '../../src/netlink/sockdiag.js';
import { Collector } from '../../src/pipeline/collector.js';
import netdev from '../../src/probes/netdev.js';
import tcpsummary from '../../src/probes/tcpsummary.js';
import { cleanup, createNetns, run, veth, type Netns } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

after(cleanup);

const options: ProbeOptions = { qdisc_devices: ['eth*'], qdisc_per_interface: false, pod_cidrs: [], cni_conf_dir: '/nonexistent', cni_data_dir: '/nonexistent' };

/** Inodes of the sockets and namespaces this process holds open, from /proc/self/fd. */
function ownFds(): { sockets: Set<number>; namespaces: Set<number> } {
  const sockets = new Set<number>();
  const namespaces = new Set<number>();
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own fd, closed by now
    }
    const m = /^(socket|net):\[(\d+)\]$/.exec(target);
    if (m) (m[1] === 'socket' ? sockets : namespaces).add(Number(m[2]));
  }
  return { sockets, namespaces };
}

/** Inodes of the netlink sockets that live in `ns` (its /proc/net/netlink, the last column). */
function netlinkSocketsIn(ns: Netns): Set<number> {
  const rows = readFileSync(`/proc/${ns.pid}/net/netlink`, 'utf8').trim().split('\n').slice(1);
  return new Set(rows.map((r) => Number(r.trim().split(/\s+/).at(-1))));
}

/** The agent's sockets that answer for `ns`. */
const oursIn = (ns: Netns): number[] => {
  const inNs = netlinkSocketsIn(ns);
  return [...ownFds().sockets].filter((s) => inNs.has(s)).sort();
};

test('a namespace\'s sockets are made once inside it, one per protocol, and every later query reuses them', async () => {
  const a = await createNetns();
  const b = await createNetns();
  veth(a, b, 41);
  const refA = { path: a.path, inode: a.inode };
  const refB = { path: b.path, inode: b.inode };
  const [linksA, linksB] = await Promise.all([links(refA), links(refB)]);
  // Each answer is its own namespace's: lo and its end of the pair.
  assert.deepEqual(linksA.map((l) => l.name).sort(), ['lo', a.json<{ ifname: string }[]>('ip', '-j', 'link').map((l) => l.ifname).find((n) => n !== 'lo')!].sort());
  assert.equal(linksB.length, 2);
  assert.notDeepEqual(linksA.map((l) => l.name).sort(), linksB.map((l) => l.name).sort());
  await inetSockets(refA, { family: 4, protocol: 'tcp', states: TCPF_ALL });
  const first = oursIn(a);
  assert.equal(first.length, 2, 'one NETLINK_ROUTE and one NETLINK_SOCK_DIAG socket inside the namespace');
  for (let i = 0; i < 5; i++) {
    await Promise.all([links(refA), inetSockets(refA, { family: 4, protocol: 'tcp', states: TCPF_ALL }), inetSockets(refA, { family: 6, protocol: 'tcp', states: TCPF_ALL })]);
  }
  assert.deepEqual(oursIn(a), first, 'the same sockets, none added');
  assert.ok(openNamespaces().includes(a.inode) && openNamespaces().includes(b.inode));
});

test('a path that now names another namespace is refused, not answered for the wrong one', async () => {
  const a = await createNetns();
  const b = await createNetns();
  // As when a pod's first process exited and its pid went to a process of another namespace.
  await assert.rejects(links({ path: b.path, inode: a.inode }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ESTALE');
    assert.match(err.message, /is no longer network namespace/);
    return true;
  });
  assert.equal((await links({ path: a.path, inode: a.inode })).length, 1, 'lo only');
});

test('namespaces asked in the same turn share one native call, and one refused does not fail the others', async () => {
  const a = await createNetns();
  const b = await createNetns();
  const c = await createNetns();
  veth(b, c, 43);
  // Counted at the addon: the three lookups leave in one native call.
  const native = nativeAddon().addon!;
  const realMany = native.netlinkQueriesMany!;
  let manyCalls = 0;
  native.netlinkQueriesMany = (batches) => { manyCalls++; return realMany.call(native, batches); };
  let settled;
  try {
    settled = await Promise.allSettled([
      links({ path: b.path, inode: a.inode }), // b's path under a's inode: refused
      links({ path: b.path, inode: b.inode }),
      links({ path: c.path, inode: c.inode }),
    ]);
  } finally {
    native.netlinkQueriesMany = realMany;
  }
  assert.equal(manyCalls, 1, 'one native call for the three namespaces');
  const [stale, ofB, ofC] = settled;
  assert.equal(stale.status === 'rejected' && (stale.reason as { code?: string }).code, 'ESTALE');
  assert.ok(ofB.status === 'fulfilled' && ofC.status === 'fulfilled');
  const names = (ns: Netns) => ns.json<{ ifname: string }[]>('ip', '-j', 'link').map((l) => l.ifname).sort();
  assert.deepEqual(ofB.value.map((l) => l.name).sort(), names(b));
  assert.deepEqual(ofC.value.map((l) => l.name).sort(), names(c));
  // The native call itself: one array of replies per namespace, in order; a request that is not
  // one whole netlink message is refused before anything runs.
  const many = nativeAddon().addon!.netlinkQueriesMany!;
  const request = buildRequest({ type: 18, flags: NLM_F_DUMP, header: Buffer.alloc(16) }); // RTM_GETLINK
  const [forB, forC] = await many([[b.path, b.inode, [[NETLINK_ROUTE, request]]], [c.path, c.inode, [[NETLINK_ROUTE, request], [NETLINK_ROUTE, request]]]]);
  assert.equal(forB!.length, 1);
  assert.equal(forC!.length, 2);
  assert.ok([...forB!, ...forC!].every((r) => Buffer.isBuffer(r) && r.length > 0));
  assert.throws(() => many([[b.path, b.inode, [[NETLINK_ROUTE, Buffer.alloc(3)]]]]), /one complete netlink message/);
});

test('after a pod\'s namespace is deleted, the next collection closes every socket and descriptor the agent had in it', async () => {
  const ns = await createNetns();
  veth(ns, 'host', 42);
  const collector = new Collector(new EntityDiscovery({ cri: false }), options);
  await collector.configure([netdev.metric!, tcpsummary.metric!], options);
  try {
    const snap = await collector.collect();
    assert.ok(snap.entities.some((e) => e.netns === ns.inode), 'the namespace was discovered');
    const held = oursIn(ns);
    // NETLINK_ROUTE at least (links); sock_diag only where the namespace has TCP sockets.
    assert.ok(held.length >= 1, 'the agent keeps a socket in the namespace');
    // The pod goes: its process exits and its name is deleted.
    process.kill(ns.pid, 'SIGKILL');
    run('ip', 'netns', 'delete', ns.name);
    await waitFor('the next collection to see the namespace gone', async () => !(await collector.collect()).entities.some((e) => e.netns === ns.inode), 5000);
    const fds = ownFds();
    assert.deepEqual(held.filter((s) => fds.sockets.has(s)), [], 'no socket of the deleted namespace is still open');
    assert.ok(!fds.namespaces.has(ns.inode), 'no descriptor of the namespace itself');
    assert.ok(!openNamespaces().includes(ns.inode), 'its session is gone');
  } finally {
    await collector.stop();
  }
  assert.deepEqual(openNamespaces(), [], 'stopping the collector closes every namespace\'s sockets');
});
