// Finds every network namespace that has at least one process in it, by reading the
// /proc/<pid>/ns/net links. Namespaces without a process (e.g. only pinned by a bind
// mount) are invisible here on purpose: every probe reads them through a pid.
import { readdir, readlink } from 'node:fs/promises';
import { nativeAddon } from '../native/addon.js';
import { mapLimited } from '../util/map-limited.js';

export interface ProcScan {
  /** Inode of the node's network namespace. */
  hostNetns: number;
  /** Network namespace inode -> pids in it, ascending. Always contains hostNetns. */
  namespaces: Map<number, number[]>;
}

/** `net:[4026531840]` -> 4026531840; undefined for anything else. */
export function parseNsLink(link: string): number | undefined {
  const m = /^net:\[(\d+)\]$/.exec(link);
  const ino = m ? Number(m[1]) : undefined;
  // Namespace inodes are 32-bit; a longer number would be rounded into another namespace's.
  return ino !== undefined && Number.isSafeInteger(ino) ? ino : undefined;
}

/**
 * The netns inode of one process; undefined when it has exited or is a zombie
 * (its ns links are gone) or the link cannot be read.
 */
export async function netnsOfPid(pid: number | 'self', procRoot = '/proc'): Promise<number | undefined> {
  try {
    return parseNsLink(await readlink(`${procRoot}/${pid}/ns/net`));
  } catch {
    return undefined;
  }
}

/**
 * The host's network namespace: that of pid 1, which is the node's init when the agent
 * runs with hostPID. Without hostPID, pid 1 is the container's own init; falling back to
 * our own namespace is then the best guess (right for a hostNetwork DaemonSet).
 */
export async function hostNetns(procRoot = '/proc'): Promise<number> {
  const ino = (await netnsOfPid(1, procRoot)) ?? (await netnsOfPid('self', procRoot));
  if (ino === undefined) throw new Error(`cannot read the network namespace of pid 1 or self under ${procRoot}`);
  return ino;
}

// Without the addon: readlink goes through libuv's thread pool (4 threads by default); a
// bounded number of requests in flight keeps the pool saturated without allocating thousands of promises at
// once, and leaves room for other fs work (probes) to interleave. Measured on a 2-core VM,
// Node 20: 5000 processes scan in 40-80 ms (a blocking readlinkSync loop: 35-45 ms, but it
// would stall the exporters' HTTP servers for that long).
const IN_FLIGHT = 64;

export async function scanProc(procRoot = '/proc'): Promise<ProcScan> {
  const native = nativeAddon().addon?.procScanNetns;
  const [host, pairs] = await Promise.all([hostNetns(procRoot), native ? native(procRoot) : scanInJs(procRoot)]);
  const namespaces = new Map<number, number[]>([[host, []]]);
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const [pid, ino] = [pairs[i]!, pairs[i + 1]!];
    let list = namespaces.get(ino);
    if (!list) namespaces.set(ino, (list = []));
    list.push(pid);
  }
  for (const list of namespaces.values()) list.sort((a, b) => a - b);
  return { hostNetns: host, namespaces };
}

/** [pid, inode, ...] without the native addon (which does the same in one pool job). */
async function scanInJs(procRoot: string): Promise<number[]> {
  const entries = await readdir(procRoot);
  // Only thread-group leaders are listed in /proc, so each entry is one process.
  const pids = entries.filter((e) => e.charCodeAt(0) <= 57 && /^\d+$/.test(e)).map(Number);
  // Processes exit between readdir and readlink: they simply drop out of the scan.
  const inodes = await mapLimited(pids, IN_FLIGHT, (pid) => netnsOfPid(pid, procRoot));
  return pids.flatMap((pid, i) => (inodes[i] === undefined ? [] : [pid, inodes[i]!]));
}
