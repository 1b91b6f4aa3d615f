// Entity discovery: unit tests of the parsers, then the whole discovery against a private
// containerd running real pod sandboxes (see helpers/containerd.ts).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entity } from '../../src/model.js';
import { parseCgroupPath, parseProcCgroup } from '../../src/entities/cgroup.js';
import { CriClient, criProtoPath, parseSandboxInfo, resolveRuntimeSocket } from '../../src/entities/cri.js';
import { EntityDiscovery } from '../../src/entities/discovery.js';
import { parseNsLink, scanProc } from '../../src/entities/procscan.js';
import { PrivateContainerd, newUid, type RunningPod } from '../helpers/containerd.js';
import { cleanup, createNetns, type Netns } from '../helpers/netns.js';

const UID = '0f2e5c3a-9d1b-4c7e-8a6f-1b2c3d4e5f60';
const UID_ = UID.replaceAll('-', '_');
const CID = 'a'.repeat(40) + '0123456789abcdef01234567';

describe('cgroup path -> pod UID', () => {
  const cases: [string, string, string | undefined][] = [
    ['cgroupfs burstable', `/kubepods/burstable/pod${UID}/${CID}`, CID],
    ['cgroupfs besteffort, pod level', `/kubepods/besteffort/pod${UID}`, undefined],
    ['cgroupfs guaranteed', `/kubepods/pod${UID}/${CID}`, CID],
    ['cgroupfs CRI-O', `/kubepods/burstable/pod${UID}/crio-${CID}`, CID],
    ['systemd containerd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${CID}.scope`, CID],
    ['systemd guaranteed CRI-O', `/kubepods.slice/kubepods-pod${UID_}.slice/crio-${CID}.scope`, CID],
    ['systemd CRI-O conmon', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-conmon-${CID}.scope`, CID],
    ['systemd docker', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/docker-${CID}.scope`, CID],
    ['relative to a cgroup namespace', `/../../kubepods-besteffort-pod${UID_}.slice/cri-containerd-${CID}.scope`, CID],
    ['kind (kubelet cgroup root)', `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${CID}.scope`, CID],
  ];
  for (const [what, path, cid] of cases) {
    it(what, () => assert.deepEqual(parseCgroupPath(path), cid ? { uid: UID, containerId: cid } : { uid: UID }));
  }

  it('static pods: 32 hex digit UIDs', () => {
    const hash = '6f1d2c3b4a5e6f708192a3b4c5d6e7f8';
    assert.deepEqual(parseCgroupPath(`/kubepods/burstable/pod${hash}/${CID}`), { uid: hash, containerId: CID });
    assert.deepEqual(parseCgroupPath(`/kubepods.slice/kubepods-pod${hash}.slice`), { uid: hash });
  });

  it('not a pod', () => {
    for (const p of ['/', '', '/system.slice/containerd.service', '/user.slice/user-0.slice/session-1.scope',
      '/kubepods', '/kubepods/besteffort', '/kubepods.slice/kubepods-burstable.slice', `/machine/pod${UID}/x`,
      '/process_api/52d456aad0a35738a2b41f81204f391a']) {
      assert.equal(parseCgroupPath(p), undefined, p);
    }
  });

  it('/proc/<pid>/cgroup, cgroup v1 (cgroupfs) with the v2 line at /', () => {
    const file = [
      '12:pids:/kubepods/burstable/pod' + UID + '/' + CID,
      '11:memory:/kubepods/burstable/pod' + UID + '/' + CID,
      '10:cpu,cpuacct:/kubepods/burstable/pod' + UID + '/' + CID,
      '1:name=systemd:/kubepods/burstable/pod' + UID + '/' + CID,
      '0::/',
      '',
    ].join('\n');
    assert.deepEqual(parseProcCgroup(file), { uid: UID, containerId: CID });
  });

  it('/proc/<pid>/cgroup, cgroup v1 (systemd driver)', () => {
    const path = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${CID}.scope`;
    assert.deepEqual(parseProcCgroup(`4:memory:${path}\n3:cpuset:${path}\n0::/\n`), { uid: UID, containerId: CID });
  });

  it('/proc/<pid>/cgroup, cgroup v2', () => {
    const file = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${CID}.scope\n`;
    assert.deepEqual(parseProcCgroup(file), { uid: UID, containerId: CID });
  });

  it('/proc/<pid>/cgroup of a host process', () => {
    assert.equal(parseProcCgroup('9:name=systemd:/\n4:memory:/process_api/52d4\n0::/\n'), undefined);
    assert.equal(parseProcCgroup('0::/system.slice/kubelet.service\n'), undefined);
  });
});

describe('CRI verbose info and socket selection', () => {
  const spec = (path?: string) => ({
    linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, ...(path ? [{ type: 'network', path }] : [])] },
  });

  it('containerd: pid and the spec netns path', () => {
    const info = { info: JSON.stringify({ pid: 4242, processStatus: 'running', netNamespaceClosed: false, image: 'x', runtimeSpec: spec('/var/run/netns/cni-1234') }) };
    assert.deepEqual(parseSandboxInfo(info), { pid: 4242, netnsPath: '/var/run/netns/cni-1234' });
  });
  it('containerd, host network: no netns entry in the spec', () => {
    assert.deepEqual(parseSandboxInfo({ info: JSON.stringify({ pid: 7, runtimeSpec: spec() }) }), { pid: 7 });
  });
  it('CRI-O: image, pid, runtimeSpec', () => {
    const info = { info: JSON.stringify({ image: 'registry.k8s.io/pause:3.9', pid: 999, runtimeSpec: spec('/var/run/netns/3f1c') }) };
    assert.deepEqual(parseSandboxInfo(info), { pid: 999, netnsPath: '/var/run/netns/3f1c' });
  });
  it('CRI-O without infra container: runtimeSpec only', () => {
    assert.deepEqual(parseSandboxInfo({ info: JSON.stringify({ runtimeSpec: spec('/var/run/netns/ab') }) }), { netnsPath: '/var/run/netns/ab' });
  });
  it('missing or malformed info', () => {
    assert.deepEqual(parseSandboxInfo(undefined), {});
    assert.deepEqual(parseSandboxInfo({}), {});
    assert.deepEqual(parseSandboxInfo({ info: '{not json' }), {});
    assert.deepEqual(parseSandboxInfo({ info: JSON.stringify({ pid: 0 }) }), {});
  });

  it('socket: option, then RUNTIME_SOCK, then the first well-known one that exists', () => {
    const none = () => false;
    assert.equal(resolveRuntimeSocket('/x.sock', { RUNTIME_SOCK: '/y.sock' }, none), '/x.sock');
    assert.equal(resolveRuntimeSocket(undefined, { RUNTIME_SOCK: '/y.sock' }, none), '/y.sock');
    const crio = (p: string) => p === '/var/run/crio/crio.sock' || p === '/run/k3s/containerd/containerd.sock';
    assert.equal(resolveRuntimeSocket(undefined, {}, crio), '/var/run/crio/crio.sock');
    assert.equal(resolveRuntimeSocket(undefined, {}, none), undefined);
  });

  it('finds the .proto from compiled code', () => {
    assert.match(criProtoPath(), /src\/entities\/cri-api\.proto$/);
  });
});

const netnsOf = (pid: number | 'self') => parseNsLink(readlinkSync(`/proc/${pid}/ns/net`))!;
/**
 * pid 1's ns links can be unreadable even for root (ptrace access check: here pid 1 holds
 * CAP_SYS_RESOURCE, which the test's bounding set lacks); discovery then uses its own netns.
 */
function expectedHostNetns(): number {
  try {
    return netnsOf(1);
  } catch {
    return netnsOf('self');
  }
}

describe('proc scan', () => {
  it('groups the real /proc by netns; host = netns of pid 1 (else our own)', async () => {
    const scan = await scanProc();
    assert.equal(scan.hostNetns, expectedHostNetns());
    const mine = scan.namespaces.get(parseNsLink(readlinkSync('/proc/self/ns/net'))!)!;
    assert.ok(mine.includes(process.pid));
    for (const pids of scan.namespaces.values()) assert.deepEqual(pids, [...pids].sort((a, b) => a - b));
  });

  it('skips processes without a readable ns link (exited, zombies) and non-pid entries', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nobs-proc-'));
    try {
      const proc = (pid: string, link?: string) => {
        mkdirSync(join(root, pid, 'ns'), { recursive: true });
        if (link) symlinkSync(link, join(root, pid, 'ns', 'net'));
      };
      proc('1', 'net:[100]');
      proc('20', 'net:[100]');
      proc('7', 'net:[200]');
      proc('9'); // exited between readdir and readlink, or a zombie
      proc('self', 'net:[100]');
      mkdirSync(join(root, 'sys'));
      const scan = await scanProc(root);
      assert.equal(scan.hostNetns, 100);
      assert.deepEqual([...scan.namespaces], [[100, [1, 20]], [200, [7]]]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

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
