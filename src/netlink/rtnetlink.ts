// Links, qdiscs and neighbours of one network namespace through NETLINK_ROUTE.

import { AF_INET, AF_INET6, formatAddress } from './addr.js';
import { align4, attrMap, cstring, NETLINK_ROUTE, NLM_F_DUMP, pickAttrs, u32, u64, u8, type Message } from './message.js';
import { netlinkRequest, type NetnsTarget } from './socket.js';

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;
const RTM_NEWQDISC = 36;
const RTM_GETQDISC = 38;

async function dump(netns: NetnsTarget, type: number, header: Buffer, replyType: number): Promise<Message[]> {
  const replies = await netlinkRequest(netns, NETLINK_ROUTE, { type, flags: NLM_F_DUMP, header });
  return replies.filter((m) => m.type === replyType);
}

// ---- links ----

const IFINFOMSG_SIZE = 16;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_OPERSTATE = 16;
const IFLA_STATS64 = 23;

/** RFC 2863 operational states, named as `ip link` prints them. */
const OPER_STATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

/** struct rtnl_link_stats64, in kernel order. */
export const LINK_STAT_FIELDS = [
  'rx_packets', 'tx_packets', 'rx_bytes', 'tx_bytes', 'rx_errors', 'tx_errors', 'rx_dropped', 'tx_dropped',
  'multicast', 'collisions',
  'rx_length_errors', 'rx_over_errors', 'rx_crc_errors', 'rx_frame_errors', 'rx_fifo_errors', 'rx_missed_errors',
  'tx_aborted_errors', 'tx_carrier_errors', 'tx_fifo_errors', 'tx_heartbeat_errors', 'tx_window_errors',
  'rx_compressed', 'tx_compressed', 'rx_nohandler', 'rx_otherhost_dropped',
] as const;
export type LinkStats = Record<(typeof LINK_STAT_FIELDS)[number], number>;

export interface Link {
  index: number;
  name: string;
  mtu: number;
  operState: string;
  /** Fields newer than the running kernel's struct (e.g. rx_otherhost_dropped before 5.19) read 0. */
  stats: LinkStats;
}

/** The attributes links() reads of a link's, in the order pickAttrs() gives them back. */
const LINK_ATTRS = [IFLA_IFNAME, IFLA_MTU, IFLA_OPERSTATE, IFLA_STATS64];

export async function links(netns: NetnsTarget): Promise<Link[]> {
  const replies = await dump(netns, RTM_GETLINK, Buffer.alloc(IFINFOMSG_SIZE), RTM_NEWLINK);
  // A message shorter than its ifinfomsg is malformed: skipped, as the framing skips one.
  return replies.filter(({ payload }) => payload.length >= IFINFOMSG_SIZE).map(({ payload: p }) => {
    const [name, mtu, operState, raw] = pickAttrs(p, IFINFOMSG_SIZE, LINK_ATTRS);
    const stats = {} as LinkStats;
    for (let i = 0; i < LINK_STAT_FIELDS.length; i++) stats[LINK_STAT_FIELDS[i]!] = u64(raw, 8 * i) ?? 0;
    const oper = u8(operState) ?? 0;
    return {
      index: p.readInt32LE(4),
      name: cstring(name) ?? '',
      mtu: u32(mtu) ?? 0,
      operState: OPER_STATES[oper] ?? String(oper),
      stats,
    };
  });
}

// ---- qdiscs ----

const TCMSG_SIZE = 20;
const TCA_KIND = 1;
const TCA_STATS = 3;
const TCA_STATS2 = 7;
const TCA_STATS_BASIC = 1;
const TCA_STATS_QUEUE = 3;
const TCA_STATS_PKT64 = 8;

/** Parent of a root qdisc. */
export const TC_H_ROOT = 0xffffffff;
/** Parent of an ingress / clsact qdisc. */
export const TC_H_INGRESS = 0xfffffff1;

export interface Qdisc {
  ifindex: number;
  /** major:minor packed as the kernel does (major << 16 | minor). */
  handle: number;
  parent: number;
  kind: string;
  bytes: number;
  packets: number;
  drops: number;
  overlimits: number;
  requeues: number;
  backlog: number;
  qlen: number;
}

export async function qdiscs(netns: NetnsTarget): Promise<Qdisc[]> {
  const replies = await dump(netns, RTM_GETQDISC, Buffer.alloc(TCMSG_SIZE), RTM_NEWQDISC);
  return replies.filter(({ payload }) => payload.length >= TCMSG_SIZE).map(({ payload: p }) => {
    const attrs = attrMap(p, align4(TCMSG_SIZE));
    const q: Qdisc = {
      ifindex: p.readInt32LE(4),
      handle: p.readUInt32LE(8),
      parent: p.readUInt32LE(12),
      kind: cstring(attrs.get(TCA_KIND)) ?? '',
      bytes: 0, packets: 0, drops: 0, overlimits: 0, requeues: 0, backlog: 0, qlen: 0,
    };
    const stats2 = attrs.get(TCA_STATS2);
    if (stats2) {
      const s = attrMap(stats2);
      const basic = s.get(TCA_STATS_BASIC); // gnet_stats_basic: u64 bytes, u32 packets
      const queue = s.get(TCA_STATS_QUEUE); // gnet_stats_queue: qlen, backlog, drops, requeues, overlimits
      q.bytes = u64(basic, 0) ?? 0;
      // The 32-bit packet count wraps; kernels since 5.x add a 64-bit one.
      q.packets = u64(s.get(TCA_STATS_PKT64)) ?? u32(basic, 8) ?? 0;
      q.qlen = u32(queue, 0) ?? 0;
      q.backlog = u32(queue, 4) ?? 0;
      q.drops = u32(queue, 8) ?? 0;
      q.requeues = u32(queue, 12) ?? 0;
      q.overlimits = u32(queue, 16) ?? 0;
    } else {
      // Legacy struct tc_stats: u64 bytes; u32 packets, drops, overlimits, bps, pps, qlen, backlog (no requeues).
      const s = attrs.get(TCA_STATS);
      q.bytes = u64(s, 0) ?? 0;
      q.packets = u32(s, 8) ?? 0;
      q.drops = u32(s, 12) ?? 0;
      q.overlimits = u32(s, 16) ?? 0;
      q.qlen = u32(s, 28) ?? 0;
      q.backlog = u32(s, 32) ?? 0;
    }
    return q;
  });
}

// ---- neighbours ----

const NDMSG_SIZE = 12;
const NDA_DST = 1;
const NDA_LLADDR = 2;

// Neighbour (ARP / NDP) entry states, a bitmask (include/uapi/linux/neighbour.h).
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;

export interface Neighbour {
  ifindex: number;
  family: 4 | 6;
  /** NUD_* bits. */
  state: number;
  dst: string;
  /** Link-layer address as aa:bb:..., absent for INCOMPLETE/FAILED entries. */
  lladdr?: string;
}

export async function neighbours(netns: NetnsTarget, family: 4 | 6): Promise<Neighbour[]> {
  const af = family === 4 ? AF_INET : AF_INET6;
  const header = Buffer.alloc(NDMSG_SIZE);
  header.writeUInt8(af, 0);
  const replies = await dump(netns, RTM_GETNEIGH, header, RTM_NEWNEIGH);
  const result: Neighbour[] = [];
  for (const { payload: p } of replies) {
    if (p.length < NDMSG_SIZE || p.readUInt8(0) !== af) continue; // a kernel may ignore the family filter
    const attrs = attrMap(p, NDMSG_SIZE);
    const ll = attrs.get(NDA_LLADDR);
    result.push({
      ifindex: p.readInt32LE(4),
      family,
      state: p.readUInt16LE(8),
      dst: formatAddress(af, attrs.get(NDA_DST)) ?? '',
      ...(ll && ll.length > 0 ? { lladdr: [...ll].map((b) => b.toString(16).padStart(2, '0')).join(':') } : {}),
    });
  }
  return result;
}
