// Sysctls of a network namespace. The node's are files under /proc/sys (the agent shares the
// node's namespace); a pod's per-namespace ones (tcp_syncookies, tcp_sack, ...) are visible
// only from inside its namespace, so they are read by the native addon on a thread that
// enters it (native/netns-read.cc).

import { readFileSync } from 'node:fs';
import { nativeAddon } from '../native/addon.js';

type NetnsReader = (netnsPath: string, paths: string[]) => Promise<(string | null)[]>;

const sysctlPath = (name: string): string => `/proc/sys/${name.replace(/\./g, '/')}`;

/** The addon's netnsReadFiles, or why it is not there. */
export function netnsReader(): { read?: NetnsReader; error?: string } {
  const { addon, error } = nativeAddon();
  const read = (addon as unknown as { netnsReadFiles?: NetnsReader } | undefined)?.netnsReadFiles;
  if (read) return { read: read.bind(addon) };
  return { error: addon ? 'the native addon has no netnsReadFiles (stale build: run `node-gyp rebuild`)' : (error ?? 'native addon unavailable') };
}

/**
 * Values of `names` (dotted sysctl names) in the namespace at `netnsPath` (null: the agent's
 * own); undefined where the namespace has no such sysctl (nf_conntrack not loaded).
 */
export async function readSysctls(netnsPath: string | null, names: string[]): Promise<(number | undefined)[]> {
  const parse = (text: string | null): number | undefined => (text === null ? undefined : Number(text.trim()));
  if (netnsPath === null) {
    // Synchronous on purpose: a sysctl file is a few bytes of kernel memory, and the node's are
    // read every few seconds (the fast cadence), where fs/promises' thread-pool round trips
    // would be most of the checks' CPU.
    return names.map((n) => {
      try {
        return parse(readFileSync(sysctlPath(n), 'utf8'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    });
  }
  const { read, error } = netnsReader();
  if (!read) throw Object.assign(new Error(error), { code: 'ENOADDON' });
  return (await read(netnsPath, names.map(sysctlPath))).map(parse);
}
