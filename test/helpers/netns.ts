// Throwaway network namespaces for tests: named netns with a holder process (the agent
// addresses namespaces as /proc/<pid>/ns/net), veth pairs with 10.200.x.0/24 addresses that
// exist only inside the test's namespaces, commands run inside, and cleanup that runs even
// when a test fails or the process exits early.

import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readlinkSync, statSync } from 'node:fs';
import { parseNsLink } from '../../src/entities/procscan.js';
import type { Entity } from '../../src/model.js';
import { waitFor, waitForExit, waitForLine } from './wait.js';

export interface Netns {
  name: string;
  /** /proc/<pid>/ns/net of the holder process. */
  path: string;
  pid: number;
  /** Inode of the namespace: the agent's `netns` (ns<inode>) and an event's `netns`. */
  inode: number;
  /** Runs a command inside the namespace and returns its stdout (throws on a non-zero exit). */
  exec(cmd: string, ...args: string[]): string;
  /** `exec` and JSON.parse the output (for `ip -j`, `tc -j`). */
  json<T = unknown>(cmd: string, ...args: string[]): T;
  /** Starts a long-lived process inside the namespace; it is killed at cleanup. */
  spawn(cmd: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Runs a command inside the namespace without blocking the event loop; its stdout (rejects on a non-zero exit). */
  output(cmd: string, args: string[]): Promise<string>;
}

const namespaces: string[] = [];
const children: ChildProcess[] = [];
let serial = 0;

export function run(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function track(child: ChildProcess): ChildProcess {
  children.push(child);
  return child;
}

/** A unique short name (interface names are limited to 15 characters). */
export function uniqueName(prefix: string): string {
  return `${prefix}${process.pid}${(serial++).toString(36)}`;
}

/**
 * Creates a namespace with loopback up. IPv6 is off unless asked for, so that router
 * solicitations and MLD reports do not move counters while a test compares them.
 */
export async function createNetns(options: { ipv6?: boolean } = {}): Promise<Netns> {
  const name = uniqueName('nlt');
  run('ip', 'netns', 'add', name);
  namespaces.push(name);
  const exec = (cmd: string, ...args: string[]): string => run('ip', 'netns', 'exec', name, cmd, ...args);
  exec('ip', 'link', 'set', 'lo', 'up');
  if (!options.ipv6) {
    for (const scope of ['all', 'default']) exec('sysctl', '-q', '-w', `net.ipv6.conf.${scope}.disable_ipv6=1`);
  }
  // `ip netns exec` execs the command in place, so the holder's pid is the sleep itself.
  const holder = track(spawn('ip', ['netns', 'exec', name, 'sleep', '1000000'], { stdio: 'ignore' }));
  const pid = holder.pid!;
  const path = `/proc/${pid}/ns/net`;
  const inode = statSync(`/run/netns/${name}`).ino;
  // statSync throws until the holder has exec'd; waitFor polls again then.
  await waitFor(`the holder of netns ${name} to enter it`, () => statSync(path).ino === inode, 2000);
  return {
    name,
    path,
    pid,
    inode,
    exec,
    json: <T>(cmd: string, ...args: string[]) => JSON.parse(exec(cmd, ...args)) as T,
    spawn: (cmd, args, opts = {}) => track(spawn('ip', ['netns', 'exec', name, cmd, ...args], { stdio: 'pipe', ...opts })),
    output: (cmd, args) => new Promise((resolve, reject) => {
      const child = track(spawn('ip', ['netns', 'exec', name, cmd, ...args], { stdio: ['ignore', 'pipe', 'inherit'] }));
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.once('error', reject);
      // 'close', not 'exit': the process can exit before its stdout is read to the end.
      child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out.slice(-300)}`))));
    }),
  };
}

export interface Veth {
  aDev: string;
  bDev: string;
  aAddr: string;
  /** Undefined when b is the host: the host end gets no address. */
  bAddr?: string;
}

/** A veth pair between `a` and `b` (another namespace, or the host), up, a = 10.200.<subnet>.1/24, b = .2. */
export function veth(a: Netns, b: Netns | 'host', subnet: number): Veth {
  const aDev = uniqueName('va');
  const bDev = uniqueName('vb');
  const bSide = b === 'host' ? [] : ['netns', b.name];
  run('ip', 'link', 'add', aDev, 'netns', a.name, 'type', 'veth', 'peer', 'name', bDev, ...bSide);
  const aAddr = `10.200.${subnet}.1`;
  a.exec('ip', 'addr', 'add', `${aAddr}/24`, 'dev', aDev);
  a.exec('ip', 'link', 'set', aDev, 'up');
  if (b === 'host') {
    run('ip', 'link', 'set', bDev, 'up');
    return { aDev, bDev, aAddr };
  }
  const bAddr = `10.200.${subnet}.2`;
  b.exec('ip', 'addr', 'add', `${bAddr}/24`, 'dev', bDev);
  b.exec('ip', 'link', 'set', bDev, 'up');
  return { aDev, bDev, aAddr, bAddr };
}

/** /proc/<pid>/ns/net of a process that has already exited. */
export async function deadProcessNetnsPath(): Promise<string> {
  const child = spawn('true', [], { stdio: 'ignore' });
  await waitForExit(child, 5000);
  return `/proc/${child.pid}/ns/net`;
}

/** The namespace as the collector sees a pod's: an unattributed entity held by its holder process. */
export function entityOf(ns: Netns): Entity {
  return { netns: ns.inode, isHost: false, pids: [ns.pid] };
}

/** Inode of the network namespace of `pid`. */
export const netnsOf = (pid: number | 'self'): number => parseNsLink(readlinkSync(`/proc/${pid}/ns/net`))!;

/**
 * The host namespace as discovery determines it: pid 1's. Its ns links can be unreadable even
 * for root (ptrace access check: here pid 1 holds CAP_SYS_RESOURCE, which the test's bounding
 * set lacks), and are for other users; discovery then uses its own netns.
 */
export function expectedHostNetns(): number {
  try {
    return netnsOf(1);
  } catch {
    return netnsOf('self');
  }
}

/** Kills every helper and deletes every namespace this process created; safe to call twice. */
export function cleanup(): void {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  // Deleting the name is enough: the namespace (and its veth ends) go once its last process has.
  for (const name of namespaces.splice(0)) {
    try {
      run('ip', 'netns', 'delete', name);
    } catch {
      // already gone
    }
  }
}

process.on('exit', cleanup);
// The test runner stops a file with a signal on timeout: clean up before dying.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanup();
    process.kill(process.pid, signal);
  });
}

/**
 * A UDP receiver bound to `addr:port` in `ns` that reads nothing until `drain()`: a reader busy
 * on another CPU can take a datagram before UDP announces it to the probes, so tests that count
 * observations per datagram let every one queue first, in a buffer of `bufferBytes`. `drain()`
 * reads all that are queued and resolves with how many.
 */
export async function holdingUdpReceiver(ns: Netns, addr: string, port: number, bufferBytes: number): Promise<{ drain(): Promise<number> }> {
  const receiver = ns.spawn('python3', ['-c', `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, ${bufferBytes})  # SO_RCVBUFFORCE
s.bind(('${addr}', ${port}))
print('bound', flush=True)
sys.stdin.readline()
s.setblocking(False)
n = 0
while True:
    try: s.recv(16); n += 1
    except BlockingIOError: break
print('read', n, flush=True)`]);
  await waitForLine(receiver, /^bound/, 10_000);
  return {
    async drain() {
      const read = waitForLine(receiver, /^read \d+/, 10_000);
      receiver.stdin!.write('\n');
      return Number((await read).split(' ')[1]);
    },
  };
}
