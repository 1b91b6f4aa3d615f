// Loads the netobserv native addon (build/Release/netobserv.node). The agent must keep
// running without it (procfs probes need no native code), so loading never throws: the
// reason it failed is kept for /status.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeAddon {
  /**
   * Sends one complete netlink message on a fresh socket of `protocol`, created inside the
   * network namespace at `netnsPath` (null: the agent's own), and resolves with every reply
   * message concatenated (without NLMSG_DONE or the ack). Rejects with an Error whose `code`
   * is the errno name (ENOENT when the namespace's process has gone, ETIMEDOUT after 2 s).
   */
  netlinkDump(netnsPath: string | null, protocol: number, request: Buffer): Promise<Buffer>;
}

export interface AddonState {
  addon?: NativeAddon;
  error?: string;
}

const ADDON = path.join('build', 'Release', 'netobserv.node');

// This module runs as dist/src/native/addon.js (or from src/ under a TS loader), so the
// package root is the first directory above it with a package.json; the cwd is wherever
// the agent happened to be started from.
function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Loads the addon at `file`; exported for tests, the agent uses nativeAddon(). */
export function loadNativeAddon(file: string): AddonState {
  file = path.resolve(file);
  if (!existsSync(file)) return { error: `native addon not built: ${file} is missing (run \`npm install\` or \`node-gyp rebuild\`)` };
  try {
    const addon = createRequire(import.meta.url)(file) as NativeAddon;
    if (typeof addon.netlinkDump !== 'function') return { error: `native addon ${file} has no netlinkDump (stale build?)` };
    return { addon };
  } catch (err) {
    return { error: `native addon ${file} failed to load: ${(err as Error).message}` };
  }
}

function load(): AddonState {
  const root = packageRoot();
  if (!root) return { error: `native addon not found: no package.json above ${fileURLToPath(import.meta.url)}` };
  return loadNativeAddon(path.join(root, ADDON));
}

let state: AddonState | undefined;

/** The addon, or why it is unavailable; loaded once. */
export function nativeAddon(): AddonState {
  state ??= load();
  return state;
}
