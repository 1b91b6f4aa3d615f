// Loads the kubesonar native addon (build/Release/kubesonar.node). The agent must keep
// running without it (procfs probes need no native code), so loading never throws: the
// reason it failed is kept for /status.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../util/package-root.js';

export interface NativeAddon {
  /**
   * Sends one complete netlink message on a fresh socket of `protocol`, created inside the
   * network namespace at `netnsPath` (null: the agent's own), and resolves with every reply
   * message concatenated (without NLMSG_DONE or the ack). Rejects with an Error whose `code`
   * is the errno name (ENOENT when the namespace's process has gone, ETIMEDOUT after 2 s).
   */
  netlinkDump(netnsPath: string | null, protocol: number, request: Buffer): Promise<Buffer>;
  /**
   * A socket of `protocol` in the namespace at `netnsPath` (null: ours) subscribed to the
   * multicast `groups` (with `allNsid`, those of every namespace that has an id in it too),
   * read on its own thread: `onMessage` gets each datagram, or null and the errno name when
   * notifications were lost (ENOBUFS). Throws with `code` when the socket cannot be made.
   */
  NetlinkListener?: new (
    netnsPath: string | null,
    protocol: number,
    groups: number[],
    allNsid: boolean,
    onMessage: (datagram: Buffer | null, error?: string) => void,
  ) => { close(): void };
  /**
   * Runs `queries` (each one complete netlink message for `protocol`) on the sockets kept for
   * the network namespace `inode`, created on first use inside the namespace at `netnsPath`
   * (which must still be that namespace). Resolves with one entry per query: its reply
   * messages, or an Error whose `code` is the errno name; the sockets stay open until
   * netlinkRelease(inode). (Optional in the type only so that tests can stand in for the
   * addon with netlinkDump alone; the loader requires it.)
   */
  netlinkQueries?(netnsPath: string, inode: number, queries: [protocol: number, request: Buffer][]): Promise<(Buffer | NodeJS.ErrnoException)[]>;
  /**
   * netlinkQueries for several namespaces in one pool job (one wake-up of a pool thread
   * instead of one per namespace): resolves with one entry per batch, in order.
   */
  netlinkQueriesMany?(batches: [netnsPath: string, inode: number, queries: [protocol: number, request: Buffer][]][]): Promise<(Buffer | NodeJS.ErrnoException)[][]>;
  /** Closes the sockets of namespace `inode` (once work in flight ends); false if it had none. */
  netlinkRelease?(inode: number): boolean;
  /** Inodes of the namespaces whose sockets are open. */
  netlinkSessions?(): number[];
  /** [pid, netns inode, ...] of every process under procRoot whose ns/net link is readable, in one pool job. */
  procScanNetns?(procRoot: string): Promise<Float64Array>;
  /** Per pid: io errno, fd errno, open fds, socket fds, syscr, syscw, read_bytes, write_bytes (procfs/pids.ts). */
  procPidStats?(procRoot: string, pids: number[]): Promise<Float64Array>;
}

export interface AddonState {
  addon?: NativeAddon;
  error?: string;
}

const ADDON = path.join('build', 'Release', 'kubesonar.node');

/** Loads the addon at `file`; exported for tests, the agent uses nativeAddon(). */
export function loadNativeAddon(file: string): AddonState {
  file = path.resolve(file);
  if (!existsSync(file)) return { error: `native addon not built: ${file} is missing (run \`npm install\` or \`node-gyp rebuild\`)` };
  try {
    const addon = createRequire(import.meta.url)(file) as NativeAddon;
    for (const fn of ['netlinkDump', 'netlinkQueries'] as const) {
      if (typeof addon[fn] !== 'function') return { error: `native addon ${file} has no ${fn} (stale build: run \`node-gyp rebuild\`)` };
    }
    return { addon };
  } catch (err) {
    return { error: `native addon ${file} failed to load: ${(err as Error).message}` };
  }
}

function load(): AddonState {
  try {
    return loadNativeAddon(path.join(packageRoot(), ADDON));
  } catch (err) {
    return { error: `native addon not found: ${(err as Error).message}` };
  }
}

let state: AddonState | undefined;

/** The addon, or why it is unavailable; loaded once. */
export function nativeAddon(): AddonState {
  state ??= load();
  return state;
}
