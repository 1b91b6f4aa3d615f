// Entity discovery against a private containerd running real pod sandboxes (see
// helpers/containerd.ts) and a namespace no pod owns. The parsers: parsers.unit.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, symlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Entity } from '../../src/model.js';
import { CriClient } from '../../src/entities/cri.js';
import { EntityDiscovery } from '../../src/entities/discovery.js';
import { createLogger } from '../../src/log.js';
import { seriesValue, startAgent } from '../helpers/agent.js';
import { PrivateContainerd, newUid, type RunningPod } from '../helpers/containerd.js';
import { cleanup, createNetns, expectedHostNetns, netnsOf, type Netns } from '../helpers/netns.js';

const hostOf = (entities: Entity[]) => {
  assert.equal(entities[0].isHost, true, 'host entity comes first');
  return entities[0];
};
const byUid = (entities: Entity[], uid: string) => entities.find((e) => e.pod?.uid === uid);

describe('entity discovery with a real containerd', () => {
  let ctrd: PrivateContainerd;
  let web: RunningPod;
  let db: RunningPod;
  let hostPod: RunningPod;
  let loose: Netns;
  let looseNetns: number;

  before(async () => {
    ctrd = await PrivateContainerd.start();
    web = await ctrd.runPodSandbox({ name: 'web-0', namespace: 'shop', uid: newUid(), labels: { app: 'web', tier: 'front' } });
    db = await ctrd.runPodSandbox({ name: 'db-0', namespace: 'data', uid: newUid(), labels: { app: 'db' } });
    hostPod = await ctrd.runPodSandbox({ name: 'node-agent', namespace: 'kube-system', uid: newUid(), labels: { app: 'agent' }, hostNetwork: true });

    // A namespace that no pod owns: `ip netns add` plus a process living in it.
    loose = await createNetns();
    looseNetns = netnsOf(loose.pid);
    assert.notEqual(looseNetns, expectedHostNetns(), 'the holder entered its netns');
  });

  after(async () => {
    cleanup();
    await ctrd?.stop();
  });

  it('the CRI reports each sandbox pid and a netns path with the same inode', async () => {
    const cri = new CriClient(ctrd.socket);
    try {
      const sandboxes = await cri.listReadySandboxes();
      assert.equal(sandboxes.length, 3);
      const sb = sandboxes.find((s) => s.uid === web.uid)!;
      assert.equal(sb.pid, web.pid);
      assert.ok(sb.netnsPath?.startsWith(ctrd.dir), sb.netnsPath);
      assert.equal(statSync(sb.netnsPath!).ino, netnsOf(web.pid));
      assert.equal(sandboxes.find((s) => s.uid === hostPod.uid)!.hostNetwork, true);
    } finally {
      cri.close();
    }
  });

  it('lists both pods with exact identity, IP, labels and netns', async () => {
    const d = new EntityDiscovery({ runtimeSocket: ctrd.socket });
    try {
      const entities = await d.discover();
      assert.equal(d.criError, undefined);
      for (const pod of [web, db]) {
        const e = byUid(entities, pod.uid);
        assert.ok(e, `${pod.name} discovered`);
        assert.equal(e.isHost, false);
        assert.equal(e.netns, netnsOf(pod.pid));
        assert.ok(e.pids.includes(pod.pid));
        assert.match(pod.ip, /^10\.244\.\d+\.\d+$/);
        assert.deepEqual(e.pod, { name: pod.name, namespace: pod.namespace, uid: pod.uid, ip: pod.ip, labels: pod.labels, source: 'cri' });
      }
      // Host, then pods by namespace/name (data/db-0 before shop/web-0), then unattributed.
      const dbAt = entities.findIndex((e) => e.pod?.uid === db.uid);
      const webAt = entities.findIndex((e) => e.pod?.uid === web.uid);
      const looseAt = entities.findIndex((e) => e.netns === looseNetns);
      assert.ok(dbAt > 0 && dbAt < webAt && webAt < looseAt, `order ${dbAt} ${webAt} ${looseAt}`);
    } finally {
      d.close();
    }
  });

  it('puts the host-network pod into the host entity, not an entity of its own', async () => {
    const d = new EntityDiscovery({ runtimeSocket: ctrd.socket });
    try {
      const entities = await d.discover();
      const host = hostOf(entities);
      assert.equal(host.netns, expectedHostNetns());
      assert.ok(host.pids.includes(hostPod.pid));
      assert.deepEqual(host.hostNetworkPods, [
        { name: 'node-agent', namespace: 'kube-system', uid: hostPod.uid, labels: { app: 'agent' }, source: 'cri' },
      ]);
      assert.equal(byUid(entities, hostPod.uid), undefined);
      assert.equal(entities.filter((e) => e.isHost).length, 1);
    } finally {
      d.close();
    }
  });

  it('lists a plain `ip netns add` namespace with a process as unattributed', async () => {
    const d = new EntityDiscovery({ runtimeSocket: ctrd.socket });
    try {
      const e = (await d.discover()).find((x) => x.netns === looseNetns);
      assert.ok(e, 'namespace discovered');
      assert.equal(e.pod, undefined);
      assert.equal(e.isHost, false);
      assert.ok(e.pids.includes(loose.pid));
    } finally {
      d.close();
    }
  });

  it('without the CRI, attributes pods by cgroup UID and says why; retries the CRI next time', async () => {
    const link = join(ctrd.dir, 'later.sock'); // does not exist yet
    const d = new EntityDiscovery({ runtimeSocket: link, criTimeoutMs: 1000 });
    try {
      const entities = await d.discover();
      assert.match(d.criError ?? '', /CRI runtime at .*later\.sock is unreachable \(ListPodSandbox\): connect ENOENT/);
      for (const pod of [web, db]) {
        const e = byUid(entities, pod.uid);
        assert.ok(e, `${pod.name} attributed by cgroup`);
        assert.equal(e.netns, netnsOf(pod.pid));
        assert.deepEqual(e.pod, { name: pod.uid, namespace: '', uid: pod.uid, source: 'cgroup' });
      }
      assert.deepEqual(
        hostOf(entities).hostNetworkPods?.find((p) => p.uid === hostPod.uid),
        { name: hostPod.uid, namespace: '', uid: hostPod.uid, source: 'cgroup' },
      );
      assert.equal(entities.find((e) => e.netns === looseNetns)?.pod, undefined);

      // The runtime "comes back": the next discover uses it again.
      symlinkSync(ctrd.socket, link);
      const again = await d.discover();
      assert.equal(d.criError, undefined);
      assert.equal(byUid(again, web.uid)?.pod?.source, 'cri');
    } finally {
      d.close();
    }
  });

  it('a runtime that accepts but never answers costs one deadline, not a hang', async () => {
    const path = join(ctrd.dir, 'stuck.sock');
    const conns: Socket[] = [];
    const server: Server = createServer((c) => conns.push(c));
    await new Promise<void>((r) => server.listen(path, r));
    const d = new EntityDiscovery({ runtimeSocket: path, criTimeoutMs: 500 });
    try {
      const t0 = Date.now();
      const entities = await d.discover();
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
      assert.match(d.criError ?? '', /did not answer ListPodSandbox within 500 ms/);
      assert.equal(byUid(entities, web.uid)?.pod?.source, 'cgroup');
    } finally {
      d.close();
      for (const c of conns) c.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  /** A proxy in front of containerd that can turn into a socket that accepts and never answers. */
  async function criProxy(name: string) {
    const path = join(ctrd.dir, name);
    let stuck = false;
    const conns: Socket[] = [];
    const pairs: [Socket, Socket][] = [];
    const server: Server = createServer((c) => {
      conns.push(c);
      if (stuck) return;
      const upstream = connect(ctrd.socket);
      conns.push(upstream);
      pairs.push([c, upstream]);
      c.pipe(upstream).pipe(c);
      c.on('error', () => upstream.destroy());
      upstream.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => server.listen(path, r));
    return {
      path,
      // Open connections stay open and go silent (a wedged runtime), new ones are accepted and never answered.
      hang: () => {
        stuck = true;
        for (const [c, upstream] of pairs.splice(0)) {
          c.unpipe(upstream);
          upstream.unpipe(c);
        }
      },
      resume: () => {
        stuck = false;
        for (const c of conns.splice(0)) c.destroy();
      },
      close: async () => {
        for (const c of conns) c.destroy();
        await new Promise((r) => server.close(r));
      },
    };
  }

  it('a runtime that hangs after answering: its pods keep their names within one deadline, one log line each way', async () => {
    const proxy = await criProxy('hangs.sock');
    const lines: string[] = [];
    const d = new EntityDiscovery({ runtimeSocket: proxy.path, criTimeoutMs: 500, log: createLogger((l) => lines.push(l)) });
    try {
      const answered = await d.discover();
      assert.equal(d.criError, undefined);
      assert.equal(byUid(answered, web.uid)?.pod?.source, 'cri');
      const answeredAt = d.criAnsweredUnixMs!;

      proxy.hang();
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now();
        const entities = await d.discover();
        assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
        assert.match(d.criError ?? '', /did not answer ListPodSandbox within 500 ms/);
        for (const pod of [web, db]) {
          assert.deepEqual(byUid(entities, pod.uid)?.pod, byUid(answered, pod.uid)?.pod, `${pod.name} keeps its names`);
          assert.equal(byUid(entities, pod.uid)?.netns, netnsOf(pod.pid));
        }
        assert.equal(d.criRemembered, 2);
        assert.equal(d.criAnsweredUnixMs, answeredAt);
      }
      const warned = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn');
      assert.equal(warned.length, 1, 'one line however many discoveries fail');
      assert.match(warned[0].msg, /CRI runtime failed/);
      assert.match(warned[0].error, /did not answer/);

      proxy.resume();
      await d.discover();
      assert.equal(d.criError, undefined);
      assert.equal(d.criRemembered, 0);
      assert.equal(lines.map((l) => JSON.parse(l)).filter((l) => /answers again/.test(l.msg)).length, 1);
    } finally {
      d.close();
      await proxy.close();
    }
  });

  it('the agent with a runtime that hangs: /metrics keeps the pods, /status and one log line say why', async () => {
    const proxy = await criProxy('agent-hangs.sock');
    const agent = await startAgent({ runtimeSocket: proxy.path });
    try {
      const webSeries = (text: string) => seriesValue(text, 'netexporter_tcp_currestab', { k8s_pod: web.name, k8s_namespace: web.namespace });
      await agent.agent.collector.collect();
      assert.notEqual(webSeries(await agent.metrics()), undefined);

      proxy.hang();
      await agent.agent.collector.collect(); // one deadline (3 s), not a hang
      const status = await agent.status();
      assert.match(status.cri.error, /did not answer ListPodSandbox/);
      assert.ok(status.cri.podsFromLastAnswer >= 2, JSON.stringify(status.cri));
      assert.ok(status.cri.lastAnswerUnixMs > 0);
      assert.notEqual(webSeries(await agent.metrics()), undefined, 'the pod keeps its series and names');
      assert.equal(agent.logs.filter((l) => /CRI runtime failed/.test(l)).length, 1);
    } finally {
      await agent.stop();
      await proxy.close();
    }
  });

  it('forgets a removed pod on the next discover', async () => {
    const d = new EntityDiscovery({ runtimeSocket: ctrd.socket });
    try {
      const before = await d.discover();
      const dbNetns = byUid(before, db.uid)!.netns;
      await ctrd.stopAndRemove(db);
      const afterRemoval = await d.discover();
      assert.equal(byUid(afterRemoval, db.uid), undefined);
      assert.equal(afterRemoval.find((e) => e.netns === dbNetns), undefined, 'its netns is gone too');
      assert.ok(byUid(afterRemoval, web.uid), 'the other pod stays');
    } finally {
      d.close();
    }
  });
});
