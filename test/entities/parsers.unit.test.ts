// Entity discovery's parsers: cgroup paths to pod UIDs (cgroupfs and systemd drivers, the
// runtimes' naming), the CRI's verbose sandbox info and the runtime socket choice, and the
// /proc scan (the real one, and a fake /proc with exited processes).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCgroupPath, parseProcCgroup } from '../../src/entities/cgroup.js';
import { criProtoPath, parseSandboxInfo, resolveRuntimeSocket, runtimeServiceClient } from '../../src/entities/cri.js';
import { ROOT } from '../helpers/paths.js';
import { parseNsLink, scanProc } from '../../src/entities/procscan.js';
import { expectedHostNetns } from '../helpers/netns.js';

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

it('a namespace link whose inode is longer than 2^53 is not rounded into another namespace (found by npm run fuzz)', () => {
  // procfs.pid-cgroup seed 1 case 87.
  assert.equal(parseNsLink('net:[402653299926532999]'), undefined);
  assert.equal(parseNsLink('net:[4026532999]'), 4026532999);
});

it('a PodSandboxStatus whose verbose info is the JSON null, or has namespaces that are not a list, gives no pid and no path (found by npm run fuzz)', () => {
  // cri seed 1 case 93 (test/fixtures/fuzz/): the third sandbox's status answer, as the runtime sent it.
  const found = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/fuzz/cri-seed1-case93.json'), 'utf8')).input as { statuses: string[] };
  const decode = runtimeServiceClient().service.PodSandboxStatus!.responseDeserialize;
  const infos = found.statuses.map((hex) => (decode(Buffer.from(hex, 'hex')) as { info: Record<string, string> }).info);
  assert.equal(infos[2]!.info, 'null');
  assert.deepEqual(parseSandboxInfo(infos[2]), {});
  assert.deepEqual(parseSandboxInfo(infos[0]), { pid: 4201, netnsPath: '/var/run/netns/cni-1' });
  assert.deepEqual(parseSandboxInfo({ info: '{"pid":7,"runtimeSpec":{"linux":{"namespaces":{"type":"network"}}}}' }), { pid: 7 });
  assert.deepEqual(parseSandboxInfo({ info: '{"runtimeSpec":{"linux":{"namespaces":[{"type":"network","path":7}]}}}' }), {});
});
