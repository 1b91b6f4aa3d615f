// Routes, policy rules and per-interface IPv4 settings (rp_filter, proxy_arp) of one network
// namespace through NETLINK_ROUTE. RTM_GETNETCONF answers for the namespace the socket lives
// in, so a pod's per-interface sysctls are readable without entering it from the main thread.

import { AF_INET, AF_INET6, formatAddress } from './addr.js';
import { attrMap, cstring, NETLINK_ROUTE, NLM_F_DUMP, u32 } from './message.js';
import { netlinkRequest, type NetnsTarget } from './socket.js';

const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const RTM_NEWRULE = 32;
const RTM_GETRULE = 34;
const RTM_NEWNETCONF = 80;
const RTM_GETNETCONF = 82;

async function dump(netns: NetnsTarget, type: number, header: Buffer, replyType: number) {
  const replies = await netlinkRequest(netns, NETLINK_ROUTE, { type, flags: NLM_F_DUMP, header });
  return replies.filter((m) => m.type === replyType);
}

const familyOf = (f: 4 | 6): number => (f === 4 ? AF_INET : AF_INET6);

// ---- routes ----

const RTMSG_SIZE = 12;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_TABLE = 15;

export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;
/** Route types (rtm_type); only unicast routes carry traffic to a next hop. */
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;

export interface Route {
  family: 4 | 6;
  /** Destination prefix, `0.0.0.0/0` (or `::/0`) for a default route. */
  dst: string;
  dstLen: number;
  table: number;
  type: number;
  protocol: number;
  scope: number;
  gateway?: string;
  oif?: number;
  prefsrc?: string;
  metric: number;
}

/** Every route of every table (the kernel dumps all tables when no table is asked for). */
export async function routes(netns: NetnsTarget, family: 4 | 6): Promise<Route[]> {
  const af = familyOf(family);
  const header = Buffer.alloc(RTMSG_SIZE);
  header.writeUInt8(af, 0);
  const result: Route[] = [];
  for (const { payload: p } of await dump(netns, RTM_GETROUTE, header, RTM_NEWROUTE)) {
    if (p.length < RTMSG_SIZE || p.readUInt8(0) !== af) continue;
    const a = attrMap(p, RTMSG_SIZE);
    const dstLen = p.readUInt8(1);
    const gateway = formatAddress(af, a.get(RTA_GATEWAY));
    const prefsrc = formatAddress(af, a.get(RTA_PREFSRC));
    const oif = u32(a.get(RTA_OIF));
    result.push({
      family,
      dst: `${formatAddress(af, a.get(RTA_DST)) ?? (family === 4 ? '0.0.0.0' : '::')}/${dstLen}`,
      dstLen,
      table: u32(a.get(RTA_TABLE)) ?? p.readUInt8(4),
      protocol: p.readUInt8(5),
      scope: p.readUInt8(6),
      type: p.readUInt8(7),
      metric: u32(a.get(RTA_PRIORITY)) ?? 0,
      ...(gateway ? { gateway } : {}),
      ...(prefsrc ? { prefsrc } : {}),
      ...(oif !== undefined ? { oif } : {}),
    });
  }
  return result;
}

// ---- policy rules ----

const FIB_RULE_HDR_SIZE = 12;
const FRA_DST = 1;
const FRA_SRC = 2;
const FRA_IIFNAME = 3;
const FRA_PRIORITY = 6;
const FRA_FWMARK = 10;
const FRA_TABLE = 15;
const FRA_OIFNAME = 17;
export const FR_ACT_TO_TBL = 1;

export interface Rule {
  family: 4 | 6;
  priority: number;
  /** `from` and `to` prefixes as `ip rule` prints them; absent means all. */
  src?: string;
  dst?: string;
  iif?: string;
  oif?: string;
  fwmark?: number;
  table: number;
  action: number;
}

export async function rules(netns: NetnsTarget, family: 4 | 6): Promise<Rule[]> {
  const af = familyOf(family);
  const header = Buffer.alloc(FIB_RULE_HDR_SIZE);
  header.writeUInt8(af, 0);
  const result: Rule[] = [];
  for (const { payload: p } of await dump(netns, RTM_GETRULE, header, RTM_NEWRULE)) {
    if (p.length < FIB_RULE_HDR_SIZE || p.readUInt8(0) !== af) continue;
    const a = attrMap(p, FIB_RULE_HDR_SIZE);
    const prefix = (attr: number, len: number): string | undefined => {
      const addr = formatAddress(af, a.get(attr));
      return addr === undefined ? undefined : `${addr}/${len}`;
    };
    const src = prefix(FRA_SRC, p.readUInt8(2));
    const dst = prefix(FRA_DST, p.readUInt8(1));
    const iif = cstring(a.get(FRA_IIFNAME));
    const oif = cstring(a.get(FRA_OIFNAME));
    const fwmark = u32(a.get(FRA_FWMARK));
    result.push({
      family,
      priority: u32(a.get(FRA_PRIORITY)) ?? 0,
      table: u32(a.get(FRA_TABLE)) ?? p.readUInt8(4),
      action: p.readUInt8(7),
      ...(src ? { src } : {}),
      ...(dst ? { dst } : {}),
      ...(iif ? { iif } : {}),
      ...(oif ? { oif } : {}),
      ...(fwmark !== undefined ? { fwmark } : {}),
    });
  }
  return result;
}

// ---- per-interface IPv4 configuration ----

const NETCONFMSG_SIZE = 4; // struct netconfmsg { u8 ncm_family; } padded
const NETCONFA_IFINDEX = 1;
const NETCONFA_FORWARDING = 2;
const NETCONFA_RP_FILTER = 3;
const NETCONFA_PROXY_NEIGH = 5;
/** Pseudo interface indexes of `conf.all` and `conf.default`. */
export const NETCONFA_IFINDEX_ALL = -1;
export const NETCONFA_IFINDEX_DEFAULT = -2;

export interface NetConf {
  /** Interface index, or NETCONFA_IFINDEX_ALL / _DEFAULT. */
  ifindex: number;
  forwarding?: number;
  rpFilter?: number;
  /** net.ipv4.conf.<if>.proxy_arp (proxy_ndp for IPv6). */
  proxyNeigh?: number;
}

/** net.ipv4.conf.* (family 4) of every interface plus `all` and `default`, as `ip netconf` shows. */
export async function netconf(netns: NetnsTarget, family: 4 | 6 = 4): Promise<NetConf[]> {
  const header = Buffer.alloc(NETCONFMSG_SIZE);
  header.writeUInt8(familyOf(family), 0);
  const result: NetConf[] = [];
  for (const { payload: p } of await dump(netns, RTM_GETNETCONF, header, RTM_NEWNETCONF)) {
    if (p.length < NETCONFMSG_SIZE || p.readUInt8(0) !== familyOf(family)) continue;
    const a = attrMap(p, NETCONFMSG_SIZE);
    const ifindex = a.get(NETCONFA_IFINDEX);
    if (!ifindex || ifindex.length < 4) continue;
    const forwarding = u32(a.get(NETCONFA_FORWARDING));
    const rpFilter = u32(a.get(NETCONFA_RP_FILTER));
    const proxyNeigh = u32(a.get(NETCONFA_PROXY_NEIGH));
    result.push({
      ifindex: ifindex.readInt32LE(0),
      ...(forwarding !== undefined ? { forwarding } : {}),
      ...(rpFilter !== undefined ? { rpFilter } : {}),
      ...(proxyNeigh !== undefined ? { proxyNeigh } : {}),
    });
  }
  return result;
}
