// Netlink exchanges through the native addon, in a given network namespace.
//
// The collection loop names a namespace by path and inode (NetnsRef): its requests then run on
// sockets the addon keeps for that namespace, and every request made in the same turn of the
// event loop travels in one native call (one pool job), whatever namespaces it is for. A bare
// path (checks, tools) gets a fresh socket per request.

import { nativeAddon, type NativeAddon } from '../native/addon.js';
import { buildRequest, messages, type Message, type RequestSpec } from './message.js';

/** An Error with the errno name (or ENOADDON when the native addon is unavailable). */
export type NetlinkError = Error & { code?: string };

/** A network namespace the agent keeps sockets for: `path` opens it, `inode` names it. */
export interface NetnsRef {
  path: string;
  inode: number;
}

/** Where a request goes: the agent's own namespace (null), a namespace file, or a kept namespace. */
export type NetnsTarget = string | null | NetnsRef;

/**
 * Sends `spec` on a netlink socket of `protocol` in `target` and returns the reply messages,
 * without DONE / ack.
 */
export async function netlinkRequest(target: NetnsTarget, protocol: number, spec: RequestSpec): Promise<Message[]> {
  const { addon, error } = nativeAddon();
  if (!addon) throw Object.assign(new Error(error), { code: 'ENOADDON' });
  const request = buildRequest(spec);
  const reply = target === null || typeof target === 'string' || !addon.netlinkQueries
    ? await addon.netlinkDump(typeof target === 'object' && target !== null ? target.path : target, protocol, request)
    : await batched(addon, target, protocol, request);
  return [...messages(reply)];
}

interface Pending {
  protocol: number;
  request: Buffer;
  resolve(reply: Buffer): void;
  reject(err: Error): void;
}

/** Requests waiting for the end of this event-loop turn, per namespace inode. */
const waiting = new Map<number, { path: string; queries: Pending[] }>();

function batched(addon: NativeAddon, target: NetnsRef, protocol: number, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (waiting.size === 0) setImmediate(() => flush(addon));
    let batch = waiting.get(target.inode);
    if (!batch) waiting.set(target.inode, (batch = { path: target.path, queries: [] }));
    batch.queries.push({ protocol, request, resolve, reject });
  });
}

function flush(addon: NativeAddon): void {
  const batches = [...waiting.values()];
  const inodes = [...waiting.keys()];
  waiting.clear();
  const answer = (queries: Pending[], replies: (Buffer | Error)[]) =>
    replies.forEach((r, i) => (Buffer.isBuffer(r) ? queries[i]!.resolve(r) : queries[i]!.reject(r)));
  const failAll = (queries: Pending[], err: Error) => queries.forEach((q) => q.reject(err));
  if (addon.netlinkQueriesMany && batches.length > 1) {
    // Every namespace asked in this turn, in one pool job.
    try {
      addon.netlinkQueriesMany(batches.map(({ path, queries }, i) => [path, inodes[i]!, queries.map((q) => [q.protocol, q.request])])).then(
        (replies) => replies.forEach((r, i) => answer(batches[i]!.queries, r)),
        (err: Error) => batches.forEach((b) => failAll(b.queries, err)),
      );
      return;
    } catch {
      // A malformed request is refused before anything runs: namespace by namespace below,
      // only its own batch fails.
    }
  }
  batches.forEach(({ path, queries }, i) => {
    try {
      addon.netlinkQueries!(path, inodes[i]!, queries.map((q) => [q.protocol, q.request])).then((replies) => answer(queries, replies), (err: Error) => failAll(queries, err));
    } catch (err) {
      failAll(queries, err as Error); // a malformed request: thrown here, outside any caller's stack
    }
  });
}

/**
 * Closes the sockets of every namespace not in `live` (inodes): a socket keeps its namespace
 * alive, so a namespace the node no longer has must not keep any. Returns the inodes closed.
 */
export function releaseNamespaces(live: ReadonlySet<number>): number[] {
  const { addon } = nativeAddon();
  if (!addon?.netlinkSessions || !addon.netlinkRelease) return [];
  const closed = addon.netlinkSessions().filter((inode) => !live.has(inode));
  for (const inode of closed) addon.netlinkRelease(inode);
  return closed;
}

/** Inodes of the namespaces whose sockets are open. */
export function openNamespaces(): number[] {
  return nativeAddon().addon?.netlinkSessions?.() ?? [];
}
