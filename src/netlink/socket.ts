// One netlink exchange through the native addon, in a given network namespace.

import { nativeAddon } from '../native/addon.js';
import { buildRequest, messages, type Message, type RequestSpec } from './message.js';

/** An Error with the errno name (or ENOADDON when the native addon is unavailable). */
export type NetlinkError = Error & { code?: string };

/**
 * Sends `spec` on a netlink socket of `protocol` inside `netnsPath` (null: the agent's own
 * namespace) and returns the reply messages, without DONE / ack.
 */
export async function netlinkRequest(netnsPath: string | null, protocol: number, spec: RequestSpec): Promise<Message[]> {
  const { addon, error } = nativeAddon();
  if (!addon) throw Object.assign(new Error(error), { code: 'ENOADDON' });
  return [...messages(await addon.netlinkDump(netnsPath, protocol, buildRequest(spec)))];
}
