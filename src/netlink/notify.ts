// Route-netlink notifications: the kernel's own announcements of link, address, route, rule
// and per-interface sysctl (netconf) changes, heard on one socket in the node's namespace.
// With NETLINK_LISTEN_ALL_NSID that socket also hears every namespace that has an id in the
// node's (a pod's, once its veth's peer is named from the node, or once assignNsid gave it
// one), without holding any of them open.

import { nativeAddon } from '../native/addon.js';
import { messages, NETLINK_ROUTE, NLM_F_ACK, type Message } from './message.js';
import { netlinkRequest } from './socket.js';

/** The multicast groups (enum rtnetlink_groups) a change listener joins. */
export const RTNLGRP = {
  LINK: 1,
  IPV4_IFADDR: 5,
  IPV4_ROUTE: 7,
  IPV4_RULE: 8,
  IPV4_NETCONF: 24,
} as const;

/** Notification types (RTM_*) by what they are about. */
export const RTM = {
  NEWLINK: 16, DELLINK: 17,
  NEWADDR: 20, DELADDR: 21,
  NEWROUTE: 24, DELROUTE: 25,
  NEWRULE: 32, DELRULE: 33,
  NEWNETCONF: 80, DELNETCONF: 81,
} as const;

export interface RouteListener {
  close(): void;
}

/**
 * Listens to `groups` in the namespace at `netnsPath` (null: ours) and, with `allNsid`, every
 * namespace with an id there (needs CAP_NET_BROADCAST: EPERM without). `onMessages` gets the messages of each datagram; `onLost` is called when the kernel
 * dropped notifications (the receive buffer overran), so the caller rereads everything.
 * Throws (code ENOADDON without the native addon) when it cannot listen.
 */
export function listenRoute(netnsPath: string | null, groups: number[], allNsid: boolean, onMessages: (msgs: Message[]) => void, onLost: (reason: string) => void): RouteListener {
  const { addon, error } = nativeAddon();
  if (!addon) throw Object.assign(new Error(error), { code: 'ENOADDON' });
  if (!addon.NetlinkListener) throw Object.assign(new Error('the native addon has no NetlinkListener (stale build: run `node-gyp rebuild`)'), { code: 'ENOADDON' });
  return new addon.NetlinkListener(netnsPath, NETLINK_ROUTE, groups, allNsid, (datagram, err) => {
    if (datagram) onMessages([...messages(datagram)]);
    else onLost(err ?? 'unknown');
  });
}

const RTM_NEWNSID = 88;
const NETNSA_NSID = 1;
const NETNSA_PID = 2;
const RTGENMSG_SIZE = 4;

/**
 * Gives the namespace of `pid` an id in the namespace at `netnsPath` (what `ip netns set NAME
 * auto` does), so a NETLINK_LISTEN_ALL_NSID socket there hears it. Resolves true when it got
 * one now, false when it already had one.
 */
export async function assignNsid(netnsPath: string | null, pid: number): Promise<boolean> {
  const nsid = Buffer.alloc(4);
  nsid.writeInt32LE(-1); // the kernel picks the id
  const pidAttr = Buffer.alloc(4);
  pidAttr.writeUInt32LE(pid);
  try {
    await netlinkRequest(netnsPath, NETLINK_ROUTE, {
      type: RTM_NEWNSID,
      flags: NLM_F_ACK,
      header: Buffer.alloc(RTGENMSG_SIZE),
      attrs: [{ type: NETNSA_NSID, value: nsid }, { type: NETNSA_PID, value: pidAttr }],
    });
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return false;
    throw err;
  }
}
