// What a process holds, read from /proc: resident memory, open file descriptors, and the network
// namespaces it keeps alive: through an nsfs fd, through a thread that entered one and stayed
// there, or through a socket created in one (a per-namespace netlink socket pins its namespace
// although its fd link reads only `socket:[…]`).
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseNsLink } from '../../src/entities/procscan.js';

const run = promisify(execFile);

/** `/proc/<pid>/status` fields given in kB (`VmRSS`, `VmHWM`, ...), in kB. */
export function statusKb(pid: number, ...fields: string[]): number[] {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return fields.map((field) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!m) throw new Error(`/proc/${pid}/status has no ${field} line`);
    return Number(m[1]);
  });
}

/** Resident set size of `pid` in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  return statusKb(pid, 'VmRSS')[0]! * 1024;
}

/** The targets of `dir`'s links; links that vanished while being read (a closed fd, an exited thread) are skipped. */
function linkTargets(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    try {
      out.push(readlinkSync(p));
    } catch {
      // gone between the listing and the read
    }
  }
  return out;
}

const list = (dir: string): string[] => {
  try {
    return readdirSync(dir).map((name) => `${dir}/${name}`);
  } catch {
    return [];
  }
};

/** The network namespace inode of `/proc/<pid>/ns/net` (a process's own namespace). */
export function netnsOf(pid: number | 'self'): number {
  return parseNsLink(readlinkSync(`/proc/${pid}/ns/net`))!;
}

export interface Holdings {
  /** Open file descriptors. */
  fds: number;
  /** The fds by what they are (`tcp →:3100 ESTABLISHED`, `anon_inode:bpf-map`, `pipe`), to say what grew. */
  fdKinds: Record<string, number>;
  /** Distinct network namespaces referenced by an fd or a thread of the process. */
  netns: Set<number>;
}

/** The fds of `pid` and every network namespace it references through them or through its threads. */
export function holdings(pid: number): Holdings {
  const fdTargets = linkTargets(list(`/proc/${pid}/fd`));
  const threadNs = linkTargets(list(`/proc/${pid}/task`).map((t) => `${t}/ns/net`));
  const netns = new Set<number>();
  for (const t of [...fdTargets, ...threadNs]) {
    const ino = parseNsLink(t);
    if (ino !== undefined) netns.add(ino);
  }
  return { fds: fdTargets.length, fdKinds: kindsOf(pid, fdTargets), netns };
}

/** Counts fd link targets by kind; a socket by its protocol, remote port and state (a listener by its own port). */
function kindsOf(pid: number, targets: string[]): Record<string, number> {
  const sockets = new Map<string, string>();
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6']) {
    let text = '';
    try { text = readFileSync(`/proc/${pid}/net/${proto}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const port = (addr: string) => parseInt(addr.split(':')[1]!, 16);
      const listening = f[3] === '0A';
      sockets.set(f[9]!, listening ? `${proto} listen :${port(f[1]!)}` : `${proto} →:${port(f[2]!)} ${TCP_STATES[f[3]!] ?? f[3]}`);
    }
  }
  for (const proto of ['unix', 'netlink']) {
    let text = '';
    try { text = readFileSync(`/proc/${pid}/net/${proto}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (proto === 'unix' && f.length >= 7) sockets.set(f[6]!, `unix ${f[7] ?? ''}`.trim());
      if (proto === 'netlink' && f.length >= 10) sockets.set(f[9]!, `netlink ${f[1]}`);
    }
  }
  const kinds: Record<string, number> = {};
  for (const t of targets) {
    const inode = /^socket:\[(\d+)\]$/.exec(t)?.[1];
    // A socket of another namespace (a pod's netlink session) is not in this namespace's tables.
    const kind = inode ? sockets.get(inode) ?? 'socket (another namespace)' : t.replace(/:\[\d+\]$/, '').replace(/^\/proc\/\d+\//, '/proc/<pid>/');
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT',
  '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING',
};

// A socket's namespace is not in /proc: the socket is copied out of the process with
// pidfd_getfd(2) (syscall 438) and asked with the SIOCGSKNS ioctl, which returns an fd of its
// namespace. Python does both syscalls without a compiled helper; sockets that close meanwhile are skipped.
const SOCKET_NETNS_PY = `
import ctypes, fcntl, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
pidfd = os.pidfd_open(pid)
seen = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
            continue
    except OSError:
        continue
    copy = libc.syscall(438, pidfd, int(fd), 0)
    if copy < 0:
        continue
    try:
        ns = fcntl.ioctl(copy, 0x894C)
        seen.add(os.fstat(ns).st_ino)
        os.close(ns)
    except OSError:
        pass
    finally:
        os.close(copy)
print(" ".join(map(str, sorted(seen))))
`;

/** The network namespaces of the sockets `pid` has open. */
export async function socketNetns(pid: number): Promise<Set<number>> {
  const { stdout } = await run('python3', ['-c', SOCKET_NETNS_PY, String(pid)]);
  return new Set(stdout.trim().split(/\s+/).filter(Boolean).map(Number));
}

/**
 * Network namespaces that something other than `exceptPid` keeps alive: any other process's
 * namespace, and every namespace mounted somewhere (`ip netns add`, a runtime's pod netns mount),
 * as /proc/self/mountinfo shows nsfs mounts. What the agent references beyond these it alone pins.
 */
export function netnsHeldElsewhere(exceptPid: number): Set<number> {
  const held = new Set<number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === exceptPid) continue;
    const ino = linkTargets([`/proc/${name}/ns/net`]).map(parseNsLink)[0];
    if (ino !== undefined) held.add(ino);
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const m = /^\S+ \S+ \S+ net:\[(\d+)\] .* - nsfs /.exec(line);
    if (m) held.add(Number(m[1]));
  }
  return held;
}
