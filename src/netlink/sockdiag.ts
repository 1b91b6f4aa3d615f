// TCP/UDP sockets of one network namespace through NETLINK_SOCK_DIAG (what `ss` uses): the
// kernel answers only for the namespace the netlink socket was created in.

import { AF_INET, AF_INET6, formatAddress } from './addr.js';
import { NETLINK_SOCK_DIAG, NLM_F_DUMP } from './message.js';
import { netlinkRequest, type NetnsTarget } from './socket.js';

// Kernel TCP states (include/net/tcp_states.h); inet_diag reports these numbers.
export const TCP_STATES = {
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
  /** Request sockets (half-open connections): matched by this bit, reported as SYN_RECV. */
  NEW_SYN_RECV: 12,
  /** Bound but neither listening nor connected (6.8+); only reported when asked for. */
  BOUND_INACTIVE: 13,
} as const;

/** State number → name, e.g. 10 → 'LISTEN'. */
export const TCP_STATE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(TCP_STATES).map(([name, n]) => [n, name]),
);

/** Bit of a state in the `states` mask. */
export const tcpStateBit = (state: number): number => 1 << state;
/** Every state from ESTABLISHED to NEW_SYN_RECV, as `ss -a` asks. */
export const TCPF_ALL = 0x1ffe;

const SOCK_DIAG_BY_FAMILY = 20;
/**
 * The request from before SOCK_DIAG_BY_FAMILY (struct inet_diag_req), still served: it names no
 * family, so one walk of the kernel's TCP tables answers for IPv4 and IPv6 at once.
 */
const TCPDIAG_GETSOCK = 18;
const IPPROTO = { tcp: 6, udp: 17 } as const;
const REQ_SIZE = 56; // struct inet_diag_req_v2
const COMPAT_REQ_SIZE = 60; // struct inet_diag_req
const MSG_SIZE = 72; // struct inet_diag_msg
/** The reply attribute with the socket's memory counters (a u32 array), and its bit in idiag_ext. */
const INET_DIAG_SKMEMINFO = 7;
const SK_MEMINFO_DROPS = 8;

export interface InetSocket {
  family: 4 | 6;
  /** Kernel TCP state number (TCP_*); UDP uses TCP_CLOSE (unconnected) and TCP_ESTABLISHED. */
  state: number;
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
  /**
   * For LISTEN sockets the kernel puts the current accept-queue length here (connections
   * waiting for accept()); otherwise bytes not yet read by the application.
   */
  rqueue: number;
  /**
   * For LISTEN sockets the accept-queue limit (the listen() backlog, capped by somaxconn);
   * otherwise bytes not yet acknowledged by the peer (TCP) / queued for sending (UDP).
   */
  wqueue: number;
  /** Socket inode (0 for TIME_WAIT and request sockets, which have no file). */
  inode: number;
  uid: number;
  /**
   * Packets the socket dropped (sk_drops, from INET_DIAG_SKMEMINFO; `ss -m` shows it as `d`).
   * For a listener: SYNs refused and handshake-completing ACKs discarded while its accept
   * queue was full. Undefined when the kernel sent no memory information.
   */
  drops?: number;
}

export interface InetQuery {
  /**
   * 'both': IPv4 then IPv6 (TCP only), from one dump. A dump walks the whole established-socket
   * hash table (shared by every namespace unless net.ipv4.tcp_child_ehash_entries gave it its
   * own), about a millisecond on a 256k-bucket table however few sockets it finds, and a dump
   * per family walks it twice.
   */
  family: 4 | 6 | 'both';
  protocol: 'tcp' | 'udp';
  /** Bitmask of tcpStateBit(state); TCPF_ALL for all. */
  states: number;
}

export async function inetSockets(netns: NetnsTarget, query: InetQuery): Promise<InetSocket[]> {
  if (query.family === 'both' && query.protocol !== 'tcp') throw new Error(`sock_diag: one dump of both families is only served for TCP, not ${query.protocol}`);
  const type = query.family === 'both' ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY;
  const replies = await netlinkRequest(netns, NETLINK_SOCK_DIAG, { type, flags: NLM_F_DUMP, header: request(query) });
  const sockets: InetSocket[] = [];
  const v6: InetSocket[] = [];
  for (const { type: got, payload: p } of replies) {
    if (got !== type || p.length < MSG_SIZE) continue;
    const family = p.readUInt8(0);
    (family === AF_INET6 && query.family === 'both' ? v6 : sockets).push({
      family: family === AF_INET ? 4 : 6,
      state: p.readUInt8(1),
      srcPort: p.readUInt16BE(4),
      dstPort: p.readUInt16BE(6),
      srcAddr: formatAddress(family, p, 8) ?? '',
      dstAddr: formatAddress(family, p, 24) ?? '',
      rqueue: p.readUInt32LE(56),
      wqueue: p.readUInt32LE(60),
      uid: p.readUInt32LE(64),
      inode: p.readUInt32LE(68),
      drops: skmemDrops(p),
    });
  }
  // The walk meets the families mixed; each keeps its kernel order, as from a dump of its own.
  for (const s of v6) sockets.push(s);
  return sockets;
}

/** The request header: inet_diag_req_v2 for one family, the older inet_diag_req (family 0) for both. */
function request(query: InetQuery): Buffer {
  const ext = 1 << (INET_DIAG_SKMEMINFO - 1); // idiag_ext: ask for the memory counters
  if (query.family === 'both') {
    const req = Buffer.alloc(COMPAT_REQ_SIZE); // family 0 (both), the zeroed socket id matches every socket
    req.writeUInt8(ext, 3);
    req.writeUInt32LE(query.states >>> 0, 52);
    return req;
  }
  const req = Buffer.alloc(REQ_SIZE); // the zeroed socket id matches every socket
  req.writeUInt8(query.family === 4 ? AF_INET : AF_INET6, 0);
  req.writeUInt8(IPPROTO[query.protocol], 1);
  req.writeUInt8(ext, 2);
  req.writeUInt32LE(query.states >>> 0, 4);
  return req;
}

/** sk_drops from the INET_DIAG_SKMEMINFO attribute after the inet_diag_msg, if there is one. */
function skmemDrops(p: Buffer): number | undefined {
  for (let at = MSG_SIZE; at + 4 <= p.length; ) {
    const len = p.readUInt16LE(at);
    if (len < 4 || at + len > p.length) return undefined; // malformed: stop rather than loop or read past the message
    if (p.readUInt16LE(at + 2) === INET_DIAG_SKMEMINFO && len >= 4 + (SK_MEMINFO_DROPS + 1) * 4) return p.readUInt32LE(at + 4 + SK_MEMINFO_DROPS * 4);
    at += (len + 3) & ~3;
  }
  return undefined;
}
