// A private containerd for tests: its own root, state, socket, CNI config and runc root
// under one temp dir, so it neither needs nor disturbs a containerd of the machine.
// Pods are real CRI sandboxes (busybox sleeping as the "pause" image) on a CNI bridge,
// each in its own network namespace and in a kubelet-style cgroup (`/kubepods/besteffort/pod<uid>`).
//
//   const ctr = await PrivateContainerd.start();
//   const pod = await ctr.runPodSandbox({ name: 'web', namespace: 'default', uid });
//   ...
//   await ctr.stop();   // removes every sandbox, kills containerd, deletes bridge, netns, cgroups, temp dir
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile, copyFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CriConnection, parseSandboxInfo } from '../../src/entities/cri.js';
import { giveUp, stopProcess, waitFor } from './wait.js';
import { defaultRoute } from '../../src/checks/shared.js';
import { routes } from '../../src/netlink/route.js';
import { links } from '../../src/netlink/rtnetlink.js';

const run = promisify(execFile);

export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.6';
const CNI_BIN_DIR = '/usr/lib/cni';

export interface PodSpec {
  name: string;
  namespace: string;
  uid: string;
  labels?: Record<string, string>;
  hostNetwork?: boolean;
  /** Default `/kubepods/besteffort/pod<uid>` (cgroupfs driver syntax, as the kubelet sends it). */
  cgroupParent?: string;
}

export interface RunningPod extends PodSpec {
  /** Sandbox id. */
  id: string;
  /** Pid of the sandbox process (busybox sleep). */
  pid: number;
  /** Pod IP from the CRI status ('' for host-network pods). */
  ip: string;
}

/** Test-only CRI client: the same .proto as production, plus the calls that change things. */
class TestCri extends CriConnection {
  version(timeoutMs?: number): Promise<{ runtimeName: string; runtimeVersion: string }> {
    return this.call('Version', { version: 'v1' }, timeoutMs);
  }
  async runPodSandbox(spec: PodSpec, logDir: string): Promise<string> {
    const config = {
      metadata: { name: spec.name, uid: spec.uid, namespace: spec.namespace, attempt: 0 },
      // Host-network sandboxes share the node's UTS namespace: runc refuses a hostname there.
      hostname: spec.hostNetwork ? '' : spec.name,
      logDirectory: logDir,
      labels: spec.labels ?? {},
      linux: {
        cgroupParent: spec.cgroupParent,
        securityContext: {
          namespaceOptions: { network: spec.hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' },
        },
      },
    };
    // Creating a sandbox runs CNI and starts a shim: give it more than a status call.
    const res = await this.call<{ podSandboxId: string }>('RunPodSandbox', { config }, 60_000);
    return res.podSandboxId;
  }
  async status(id: string): Promise<{ pid?: number; ip: string }> {
    const res = await this.call<{ status: { network: { ip: string } | null }; info: Record<string, string> }>(
      'PodSandboxStatus',
      { podSandboxId: id, verbose: true },
    );
    return { pid: parseSandboxInfo(res.info).pid, ip: res.status.network?.ip ?? '' };
  }
  async listIds(): Promise<string[]> {
    const res = await this.call<{ items: { id: string }[] }>('ListPodSandbox', {});
    return res.items.map((s) => s.id);
  }
  async stopAndRemove(id: string): Promise<void> {
    await this.call('StopPodSandbox', { podSandboxId: id }, 30_000);
    await this.call('RemovePodSandbox', { podSandboxId: id }, 30_000);
  }
}

export class PrivateContainerd {
  readonly socket: string;
  readonly cni: { network: string; bridge: string; subnet: string };
  private readonly cri: TestCri;
  private readonly pods = new Map<string, RunningPod>();
  /** Every cgroup parent requested, even by sandboxes that failed: runc may have created it. */
  private readonly cgroupParents = new Set<string>();
  private stopped = false;
  private readonly onExit = (): void => {
    // Last resort if the test process dies without stop(): do not leave a daemon behind.
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  };

  private constructor(
    readonly dir: string,
    private readonly proc: ChildProcess,
    cni: { network: string; bridge: string; subnet: string },
  ) {
    this.socket = join(dir, 'containerd.sock');
    this.cni = cni;
    this.cri = new TestCri(this.socket, 10_000);
    process.on('exit', this.onExit);
  }

  /** Starts containerd, waits for its CRI service and imports the pause image. */
  static async start(): Promise<PrivateContainerd> {
    const dir = await mkdtemp(join(tmpdir(), 'nobs-ctrd-'));
    const id = dir.slice(-6).toLowerCase().replace(/[^a-z0-9]/g, 'x');
    const cni = { network: `nobs-test-${id}`, bridge: `nobs${id}`, subnet: await freeSubnet() };
    await writeCniConfig(dir, cni);
    await writeRegistryGuard(dir);
    await writeFile(join(dir, 'config.toml'), await containerdConfig(dir));

    const log = openSync(join(dir, 'containerd.log'), 'a');
    const proc = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', log, log] });
    closeSync(log);
    const ctrd = new PrivateContainerd(dir, proc, cni);
    try {
      await ctrd.waitReady();
      await ctrd.importPauseImage();
    } catch (err) {
      await ctrd.stop();
      throw err;
    }
    return ctrd;
  }

  /** The tail of containerd's log, for error messages. */
  logTail(lines = 30): string {
    try {
      return readFileSync(join(this.dir, 'containerd.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async runPodSandbox(spec: PodSpec): Promise<RunningPod> {
    spec = { ...spec, cgroupParent: spec.cgroupParent ?? `/kubepods/besteffort/pod${spec.uid}` };
    this.cgroupParents.add(spec.cgroupParent!);
    const logDir = join(this.dir, 'pods', spec.uid);
    await mkdir(logDir, { recursive: true });
    let id: string;
    try {
      id = await this.cri.runPodSandbox(spec, logDir);
    } catch (err) {
      throw new Error(`RunPodSandbox ${spec.namespace}/${spec.name}: ${(err as Error).message}\n${this.logTail()}`);
    }
    const st = await this.cri.status(id);
    if (!st.pid) throw new Error(`sandbox ${id} has no pid in its verbose status`);
    const pod: RunningPod = { ...spec, id, pid: st.pid, ip: st.ip };
    this.pods.set(id, pod);
    return pod;
  }

  async stopAndRemove(pod: RunningPod | string): Promise<void> {
    const id = typeof pod === 'string' ? pod : pod.id;
    await this.cri.stopAndRemove(id);
    this.pods.delete(id);
  }

  /** Removes all sandboxes, stops containerd and removes everything it left on the host. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.proc.exitCode === null) {
      const ids = await this.cri.listIds().catch(() => [...this.pods.keys()]);
      for (const id of ids) await this.cri.stopAndRemove(id).catch(() => undefined);
    }
    this.cri.close();
    await this.killDaemon();
    await killOurShims(this.socket);
    process.off('exit', this.onExit);

    await unmountUnder(this.dir);
    await run('ip', ['link', 'del', this.cni.bridge]).catch(() => undefined);
    // libcni caches results outside our dir; only this network's entries are ours.
    const cache = '/var/lib/cni/results';
    for (const f of existsSync(cache) ? readdirSync(cache) : []) {
      if (f.startsWith(`${this.cni.network}-`)) await rm(join(cache, f), { force: true });
    }
    await rm(join('/var/lib/cni/networks', this.cni.network), { recursive: true, force: true });
    for (const d of [cache, '/var/lib/cni/networks', '/var/lib/cni']) await rmdir(d).catch(() => undefined); // if empty
    for (const parent of this.cgroupParents) await removeCgroup(parent);
    await rm(this.dir, { recursive: true, force: true });
    // The shims' socket dir is fixed in containerd 1.6; remove it only if nothing else uses it.
    await rmdir('/run/containerd/s').catch(() => undefined);
    await rmdir('/run/containerd').catch(() => undefined);
  }

  private async waitReady(): Promise<void> {
    try {
      await waitFor("containerd's CRI service", async () => {
        if (this.proc.exitCode !== null) giveUp(`containerd exited (${this.proc.exitCode})`);
        return existsSync(this.socket) && (await this.cri.version(1000), true);
      }, 30_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.logTail()}`);
    }
  }

  private async importPauseImage(): Promise<void> {
    const tar = await buildBusyboxImage(join(this.dir, 'image'));
    await run('ctr', ['-a', this.socket, '-n', 'k8s.io', 'images', 'import', '--base-name', 'registry.k8s.io/pause', tar]);
    const { stdout } = await run('ctr', ['-a', this.socket, '-n', 'k8s.io', 'images', 'ls', '-q']);
    if (!stdout.split('\n').includes(PAUSE_IMAGE)) throw new Error(`${PAUSE_IMAGE} missing after import:\n${stdout}`);
  }

  private async killDaemon(): Promise<void> {
    await stopProcess(this.proc, 'SIGTERM', 5000);
  }
}

/** A 10.244.x.0/24 that no route of the host uses yet. */
async function freeSubnet(): Promise<string> {
  const { stdout } = await run('ip', ['-4', 'route', 'show']);
  for (let tries = 0; tries < 200; tries++) {
    const x = 10 + ((process.pid + tries * 37) % 240);
    if (!stdout.includes(`10.244.${x}.`)) return `10.244.${x}.0/24`;
  }
  throw new Error('no free 10.244.x.0/24 subnet');
}

/**
 * `{ mtu }` of the node's primary interface as the agent's MTU check finds it (the interface of
 * the main table's default route, by the agent's own code), or nothing without one.
 */
async function primaryMtu(): Promise<{ mtu?: number }> {
  const via = defaultRoute(await routes(null, 4))?.oif;
  const dev = via === undefined ? undefined : (await links(null)).find((l) => l.index === via);
  return dev ? { mtu: dev.mtu } : {};
}

async function writeCniConfig(dir: string, cni: { network: string; bridge: string; subnet: string }): Promise<void> {
  const conflist = {
    cniVersion: '0.4.0',
    name: cni.network,
    plugins: [
      {
        type: 'bridge',
        bridge: cni.bridge,
        isGateway: true,
        // As a real cluster's CNI does: a default route in every pod, and the MTU of the
        // node's primary interface (pods bigger than the node's path are a finding).
        isDefaultGateway: true,
        ...(await primaryMtu()),
        ipMasq: false, // no iptables rules on the host
        // host-local keeps its default store, /var/lib/cni/networks/<network>, where the
        // podip probe looks on real nodes; the network name is unique, stop() removes it.
        ipam: { type: 'host-local', ranges: [[{ subnet: cni.subnet }]] },
      },
    ],
  };
  await mkdir(join(dir, 'cni'), { recursive: true });
  await writeFile(join(dir, 'cni', '10-nobs-test.conflist'), JSON.stringify(conflist, null, 2));
}

/**
 * Points registry.k8s.io at a closed loopback port: if the imported image were ever not
 * found, containerd fails at once instead of pulling from the internet.
 */
async function writeRegistryGuard(dir: string): Promise<void> {
  const hostDir = join(dir, 'certs.d', 'registry.k8s.io');
  await mkdir(hostDir, { recursive: true });
  await writeFile(join(hostDir, 'hosts.toml'), 'server = "http://127.0.0.1:1"\n');
}

/** `containerd config default`, edited line by line to keep everything under `dir`. */
async function containerdConfig(dir: string): Promise<string> {
  const { stdout } = await run('containerd', ['config', 'default']);
  const edits: [RegExp, string][] = [
    [/^root = .*$/m, `root = "${join(dir, 'root')}"`],
    [/^state = .*$/m, `state = "${join(dir, 'state')}"`],
    [/^(\[grpc\]\n\s+address = ).*$/m, `$1"${join(dir, 'containerd.sock')}"`],
    [/^(\s+bin_dir = ).*$/m, `$1"${CNI_BIN_DIR}"`],
    [/^(\s+conf_dir = ).*$/m, `$1"${join(dir, 'cni')}"`],
    [/^(\s+sandbox_image = ).*$/m, `$1"${PAUSE_IMAGE}"`],
    // Pod netns bind mounts in our state dir instead of /var/run/netns.
    [/^(\s+netns_mounts_under_state_dir = ).*$/m, '$1true'],
    [/^(\s+config_path = ).*$/m, `$1"${join(dir, 'certs.d')}"`],
    // The sandbox asks for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which
    // test machines (containers, some VMs) may lack: runc then fails with "can't get final
    // child's PID from pipe". Restricted, the score is clamped to containerd's own (0).
    [/^(\s+restrict_oom_score_adj = ).*$/m, '$1true'],
    // runc's state of our containers (runc options `Root`) under our dir too.
    [/^(\s+\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.runc\.options\]\n(?:.*\n)*?\s+Root = ).*$/m,
      `$1"${join(dir, 'runc')}"`],
  ];
  let text = stdout;
  for (const [re, repl] of edits) {
    if (!re.test(text)) throw new Error(`containerd config default has no line matching ${re}`);
    text = text.replace(re, repl);
  }
  return text;
}

/**
 * An OCI image layout (as a tar) with one layer holding the static busybox, whose
 * entrypoint sleeps forever: enough to be a pod sandbox's pause process.
 */
async function buildBusyboxImage(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  const layout = join(dir, 'layout');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  await symlink('busybox', join(rootfs, 'bin', 'sh'));
  const layerTar = join(dir, 'layer.tar');
  await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', layerTar, '.']);

  const blob = async (bytes: Buffer): Promise<{ digest: string; size: number }> => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(layout, 'blobs', 'sha256', hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  const architecture = process.arch === 'x64' ? 'amd64' : process.arch;

  const layer = await blob(await readFile(layerTar));
  const config = await blob(
    json({
      architecture,
      os: 'linux',
      config: { Entrypoint: ['/bin/busybox', 'sleep', 'infinity'] },
      rootfs: { type: 'layers', diff_ids: [layer.digest] }, // uncompressed: diff id = digest
    }),
  );
  const manifest = await blob(
    json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  await writeFile(
    join(layout, 'index.json'),
    json({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform: { architecture, os: 'linux' },
          annotations: { 'io.containerd.image.name': PAUSE_IMAGE, 'org.opencontainers.image.ref.name': '3.6' },
        },
      ],
    }),
  );
  await writeFile(join(layout, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  const out = join(dir, 'pause.tar');
  await run('tar', ['-C', layout, '-cf', out, '.']);
  return out;
}

/** Shims outlive containerd; ours are the ones started with our socket as -address. */
async function killOurShims(socket: string): Promise<void> {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[0]?.endsWith('containerd-shim-runc-v2') && argv.includes(socket)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/** Lazily unmounts whatever is still mounted below dir (shm, rootfs, netns), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
}

/** rmdir the pod cgroup and its empty parents in every hierarchy (runc leaves the parents). */
async function removeCgroup(parent: string): Promise<void> {
  const roots = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.includes('cgroup') || f.includes('cgroup2'))
    .map((f) => f[4]);
  const parts = parent.split('/').filter(Boolean);
  for (const root of roots) {
    for (let n = parts.length; n > 0; n--) {
      await rmdir(join(root, ...parts.slice(0, n))).catch(() => undefined);
    }
  }
}

export function newUid(): string {
  return randomUUID();
}
