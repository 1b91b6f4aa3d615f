// Netlink exchanges through the native addon, in a given network namespace.
//
// The collection loop names a namespace by path and inode (NetnsRef): its requests then run on
// sockets the addon keeps for that namespace, and every request made in the same turn of the
// event loop travels in one native call (one pool job), whatever namespaces it is for. A bare
// path (checks, tools) gets a fresh socket per request.

import { nativeAddon } from '../native/addon.js';
import { turnBatcher, type Waiter } from '../util/turn-batch.js';
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
    : await batched(target.inode, { path: target.path, protocol, request });
  return [...messages(reply)];
}

interface Query {
  path: string;
  protocol: number;
  request: Buffer;
}

/** Requests made in one turn of the event loop, by namespace inode: one native call for all. */
const batched = turnBatcher<number, Query, Buffer>((asked) => {
  const addon = nativeAddon().addon!;
  const inodes = [...asked.keys()];
  const batches = [...asked.values()];
  const answer = (waiters: Waiter<Query, Buffer>[], replies: (Buffer | Error)[]) =>
    replies.forEach((r, i) => (Buffer.isBuffer(r) ? waiters[i]!.resolve(r) : waiters[i]!.reject(r)));
  const failAll = (waiters: Waiter<Query, Buffer>[], err: unknown) => waiters.forEach((w) => w.reject(err));
  const queries = (waiters: Waiter<Query, Buffer>[]): [number, Buffer][] => waiters.map((w) => [w.query.protocol, w.query.request]);
  if (addon.netlinkQueriesMany && batches.length > 1) {
    // Every namespace asked in this turn, in one pool job.
    try {
      addon.netlinkQueriesMany(batches.map((waiters, i) => [waiters[0]!.query.path, inodes[i]!, queries(waiters)])).then(
        (replies) => replies.forEach((r, i) => answer(batches[i]!, r)),
        (err: Error) => batches.forEach((b) => failAll(b, err)),
      );
      return;
    } catch {
      // A malformed request is refused before anything runs: namespace by namespace below,
      // only its own batch fails.
    }
  }
  batches.forEach((waiters, i) => {
    try {
      addon.netlinkQueries!(waiters[0]!.query.path, inodes[i]!, queries(waiters)).then((replies) => answer(waiters, replies), (err: Error) => failAll(waiters, err));
    } catch (err) {
      failAll(waiters, err); // a malformed request: thrown here, outside any caller's stack
    }
  });
});

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
