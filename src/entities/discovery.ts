// Which network namespaces exist on the node and whose they are. Every call starts from
// scratch (proc scan + CRI query): only namespaces found by this scan are reported, so a
// deleted pod cannot outlive its namespace. Attribution order: CRI sandbox (by the sandbox
// pid's netns, else by the netns path of its runtime spec), then the cgroup path of the
// namespace's processes (UID only), else the namespace is reported unattributed (still a real
// netns worth observing).
//
// A runtime that stops answering (a hung containerd: the socket accepts, no reply) costs one
// deadline per discovery. Meanwhile the namespaces the runtime last named keep their names, as
// long as the very same namespace (inode) is still there: a pod does not turn into a bare UID
// because its runtime hung, and a namespace that went is never revived from memory.
import { stat } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { Entity, PodRef } from '../model.js';
import { podOfPid } from './cgroup.js';
import { CriClient, DEFAULT_CRI_TIMEOUT_MS, DEFAULT_RUNTIME_SOCKETS, resolveRuntimeSocket, type CriSandbox } from './cri.js';
import { netnsOfPid, scanProc } from './procscan.js';

export interface DiscoveryOptions {
  /** Where the host's procfs is mounted (default /proc; the agent runs with hostPID). */
  procRoot?: string;
  /** CRI socket path; default: RUNTIME_SOCK, else the first of DEFAULT_RUNTIME_SOCKETS that exists. */
  runtimeSocket?: string;
  /** Deadline of each CRI call (default 3000 ms). */
  criTimeoutMs?: number;
  /** false: do not talk to a runtime at all, attribute by cgroup only. */
  cri?: boolean;
  /** Where the runtime's failing and coming back are logged, once each. */
  log?: Logger;
}

/** What the runtime said at its last answer: each located sandbox with its namespace inode. */
interface LastAnswer {
  atUnixMs: number;
  located: { sb: CriSandbox; ino: number | undefined }[];
}

export class EntityDiscovery {
  /** Why the last CRI query failed (for /status); undefined after a successful one. */
  criError: string | undefined;
  /** Socket used by the last CRI query. */
  criSocket: string | undefined;
  /** Duration of the last discover(), in milliseconds. */
  lastDurationMs: number | undefined;
  /** When the runtime last answered (Unix ms); undefined before its first answer. */
  criAnsweredUnixMs: number | undefined;
  /** Pods named from the runtime's last answer by the last discover(), because it did not answer (0 when it did). */
  criRemembered = 0;

  private lastAnswer: LastAnswer | undefined;

  private client: CriClient | undefined;
  private running: Promise<Entity[]> | undefined;
  private readonly procRoot: string;

  constructor(private readonly opts: DiscoveryOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
  }

  /**
   * Host entity first, then pods by namespace/name, then unattributed namespaces by inode.
   * Calls made while one is running share its result (one scan, one CRI channel at a time).
   */
  discover(): Promise<Entity[]> {
    this.running ??= this.discoverOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async discoverOnce(): Promise<Entity[]> {
    const started = performance.now();
    const [scan, sandboxes] = await Promise.all([scanProc(this.procRoot), this.querySandboxes()]);

    const host: Entity = {
      netns: scan.hostNetns,
      isHost: true,
      pids: scan.namespaces.get(scan.hostNetns) ?? [],
      hostNetworkPods: [],
    };
    const owners = new Map<number, PodRef>();
    const criByUid = new Map<string, CriSandbox>();

    let located: LastAnswer['located'];
    if (sandboxes) {
      located = await this.locate(sandboxes);
      this.lastAnswer = { atUnixMs: Date.now(), located };
      this.criAnsweredUnixMs = this.lastAnswer.atUnixMs;
      this.criRemembered = 0;
    } else {
      // The runtime did not answer: what it said last, for the namespaces that are still the
      // same ones (by inode; a pid is never asked again, it may have been reused).
      located = (this.lastAnswer?.located ?? []).filter(({ sb, ino }) => !sb.hostNetwork && ino !== undefined && scan.namespaces.has(ino));
      this.criRemembered = located.length;
    }
    for (const { sb, ino } of located) {
      criByUid.set(sb.uid, sb);
      if (sb.hostNetwork || ino === scan.hostNetns) host.hostNetworkPods!.push(fromCri(sb));
      else if (ino !== undefined && scan.namespaces.has(ino) && !owners.has(ino)) owners.set(ino, fromCri(sb));
      // Else the namespace has no process yet (or any more): nothing to observe.
    }

    // Namespaces the CRI did not explain: ask the cgroups of their processes.
    const unexplained = [...scan.namespaces.keys()].filter((ino) => ino !== scan.hostNetns && !owners.has(ino));
    await Promise.all(
      unexplained.map(async (ino) => {
        const uid = await firstPodUid(scan.namespaces.get(ino)!, this.procRoot);
        if (uid) owners.set(ino, fromCgroup(uid, criByUid.get(uid)));
      }),
    );
    // Without the CRI, host-network pods are only visible through the cgroups of host processes.
    if (!sandboxes) host.hostNetworkPods = await hostNetworkPodsByCgroup(host.pids, this.procRoot);
    host.hostNetworkPods!.sort(byPod);

    const pods: Entity[] = [];
    const loose: Entity[] = [];
    for (const [ino, pids] of scan.namespaces) {
      if (ino === scan.hostNetns) continue;
      const pod = owners.get(ino);
      if (pod) pods.push({ netns: ino, isHost: false, pids, pod });
      else loose.push({ netns: ino, isHost: false, pids });
    }
    pods.sort((a, b) => byPod(a.pod!, b.pod!));
    loose.sort((a, b) => a.netns - b.netns);
    this.lastDurationMs = performance.now() - started;
    return [host, ...pods, ...loose];
  }

  /** Releases the gRPC channel. discover() may still be called afterwards (it reconnects). */
  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  /** Ready sandboxes, or undefined when the CRI is off or failed (criError says why). */
  private async querySandboxes(): Promise<CriSandbox[] | undefined> {
    if (this.opts.cri === false) return undefined;
    // Resolved on every call: the runtime may start (or move) after the agent.
    const socket = resolveRuntimeSocket(this.opts.runtimeSocket);
    this.criSocket = socket;
    if (!socket) {
      this.criError = `no CRI socket found: set RUNTIME_SOCK or mount one of ${DEFAULT_RUNTIME_SOCKETS.join(', ')}`;
      return undefined;
    }
    // No socket file, no runtime: said at the cost of one stat, without a gRPC channel made
    // and torn down every cycle (the message is the one a connect attempt gives).
    if (!(await stat(socket).then(() => true, () => false))) {
      this.close();
      this.criError = `CRI runtime at ${socket} is unreachable (ListPodSandbox): connect ENOENT; is the runtime running and its socket mounted?`;
      return undefined;
    }
    if (this.client?.socket !== socket) this.close();
    this.client ??= new CriClient(socket, this.opts.criTimeoutMs ?? DEFAULT_CRI_TIMEOUT_MS);
    try {
      const sandboxes = await this.client.listReadySandboxes();
      if (this.criError) this.opts.log?.info('CRI runtime answers again', { socket, failed: this.criError });
      this.criError = undefined;
      return sandboxes;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (!this.criError) {
        this.opts.log?.warn('CRI runtime failed: pods keep the names of its last answer, new ones are attributed by cgroup until it answers', {
          socket, error: message, last_answer_unix_ms: this.lastAnswer?.atUnixMs ?? null,
        });
      }
      this.criError = message;
      // A fresh channel next time connects at once instead of waiting out gRPC's backoff.
      this.close();
      return undefined;
    }
  }

  /** The netns inode of each sandbox: via its pid, else via the netns path of its spec. */
  private async locate(sandboxes: CriSandbox[]): Promise<{ sb: CriSandbox; ino: number | undefined }[]> {
    const nsfsDev = sandboxes.some((s) => s.netnsPath) ? await nsfsDevice() : undefined;
    return Promise.all(
      sandboxes.map(async (sb) => {
        let ino = sb.pid ? await netnsOfPid(sb.pid, this.procRoot) : undefined;
        if (ino === undefined && sb.netnsPath && nsfsDev !== undefined) {
          // The path must be visible to the agent (host /var/run/netns or /run/netns mounted)
          // and still be a namespace bind mount, not the empty file left after unmount.
          const st = await stat(sb.netnsPath).catch(() => undefined);
          if (st && st.dev === nsfsDev) ino = st.ino;
        }
        return { sb, ino };
      }),
    );
  }
}

function fromCri(sb: CriSandbox): PodRef {
  const ref: PodRef = { name: sb.name, namespace: sb.namespace, uid: sb.uid, labels: sb.labels, source: 'cri' };
  if (sb.ip) ref.ip = sb.ip;
  return ref;
}

/**
 * A pod attributed by cgroup. Its name is the UID and its namespace empty, unless the CRI
 * listed a sandbox with that UID whose namespace it could not locate (then its names are
 * used; the attribution itself still came from the cgroup).
 */
function fromCgroup(uid: string, sb: CriSandbox | undefined): PodRef {
  return sb ? { ...fromCri(sb), source: 'cgroup' } : { name: uid, namespace: '', uid, source: 'cgroup' };
}

function byPod(a: PodRef, b: PodRef): number {
  return cmp(a.namespace, b.namespace) || cmp(a.name, b.name) || cmp(a.uid, b.uid);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The pod UID of the first process (lowest pid: usually the sandbox) that has one. */
async function firstPodUid(pids: number[], procRoot: string): Promise<string | undefined> {
  for (let i = 0; i < pids.length; i++) {
    if (i > 0 && i % YIELD_EVERY === 0) await yieldToEventLoop();
    const pod = podOfPid(pids[i], procRoot);
    if (pod) return pod.uid;
  }
  return undefined;
}

async function hostNetworkPodsByCgroup(pids: number[], procRoot: string): Promise<PodRef[]> {
  const uids = new Set<string>();
  for (let i = 0; i < pids.length; i++) {
    if (i > 0 && i % YIELD_EVERY === 0) await yieldToEventLoop();
    const pod = podOfPid(pids[i], procRoot);
    if (pod) uids.add(pod.uid);
  }
  return [...uids].map((uid) => fromCgroup(uid, undefined));
}

// cgroup files are read synchronously (see podOfPid); a few ms at most between yields.
const YIELD_EVERY = 256;
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let nsfsDev: number | undefined;
/** Device number of nsfs, to tell a namespace bind mount from a plain file. */
async function nsfsDevice(): Promise<number | undefined> {
  nsfsDev ??= (await stat('/proc/self/ns/net').catch(() => undefined))?.dev;
  return nsfsDev;
}
