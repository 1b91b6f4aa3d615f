// IPVS virtual servers and their real servers over generic netlink (what `ipvsadm -Ln` shows),
// per network namespace: IPVS tables belong to the namespace (kube-proxy fills the node's).

import { AF_INET, AF_INET6, formatAddress } from './addr.js';
import { attrMap, cstring, NLM_F_DUMP, u16, u32, type AttrSpec } from './message.js';
import { netlinkRequest, type NetnsTarget } from './socket.js';

export const NETLINK_GENERIC = 16;
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;

const genlHeader = (cmd: number, version: number): Buffer => Buffer.from([cmd, version, 0, 0]);
const GENL_HDRLEN = 4;

/** The id of a generic netlink family; rejects with code ENOENT when the kernel has no such family. */
export async function genlFamilyId(netns: NetnsTarget, name: string): Promise<number> {
  const [reply] = await netlinkRequest(netns, NETLINK_GENERIC, {
    type: GENL_ID_CTRL,
    flags: 0,
    header: genlHeader(CTRL_CMD_GETFAMILY, 1),
    attrs: [{ type: CTRL_ATTR_FAMILY_NAME, value: Buffer.from(`${name}\0`) }],
  });
  const id = u16(reply && attrMap(reply.payload, GENL_HDRLEN).get(CTRL_ATTR_FAMILY_ID));
  if (id === undefined) throw Object.assign(new Error(`genetlink: no id for family ${name}`), { code: 'ENOENT' });
  return id;
}

const IPVS_GENL_VERSION = 1;
const IPVS_CMD_GET_SERVICE = 4;
const IPVS_CMD_GET_DEST = 8;
export const IPVS_CMD_ATTR_SERVICE = 1;
export const IPVS_CMD_ATTR_DEST = 2;
export const SVC = { AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, FWMARK: 5, SCHED_NAME: 6 } as const;
export const DEST = { ADDR: 1, PORT: 2, FWD_METHOD: 3, WEIGHT: 4, ACTIVE_CONNS: 7, INACT_CONNS: 8, ADDR_FAMILY: 11 } as const;
const PROTOCOLS: Record<number, string> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

export interface IpvsService {
  family: 4 | 6;
  /** TCP, UDP, SCTP; FWM for firewall-mark services. */
  protocol: string;
  address: string;
  port: number;
  fwmark: number;
  scheduler: string;
  dests: IpvsDest[];
  /** The identity attributes the kernel matches a service by (for the dest dump). */
  key: AttrSpec[];
}

export interface IpvsDest {
  address: string;
  port: number;
  weight: number;
  activeConns: number;
  inactiveConns: number;
}

/** `TCP 10.96.0.10:53` / `TCP [fd00::a]:53` / `FWM 7`, as ipvsadm lists them. */
export function serviceName(s: Pick<IpvsService, 'protocol' | 'address' | 'port' | 'fwmark' | 'family'>): string {
  if (s.fwmark) return `FWM ${s.fwmark}`;
  return `${s.protocol} ${s.family === 6 ? `[${s.address}]` : s.address}:${s.port}`;
}

const be16 = (b: Buffer | undefined): number => (b && b.length >= 2 ? b.readUInt16BE(0) : 0);

/** One IPVS_CMD_NEW_SERVICE reply (genl header, then IPVS_CMD_ATTR_SERVICE); exported for tests. */
export function parseService(payload: Buffer): IpvsService | undefined {
  const raw = attrMap(payload, GENL_HDRLEN).get(IPVS_CMD_ATTR_SERVICE);
  if (!raw) return undefined;
  const a = attrMap(raw);
  const af = u16(a.get(SVC.AF)) ?? AF_INET;
  const fwmark = u32(a.get(SVC.FWMARK)) ?? 0;
  const proto = u16(a.get(SVC.PROTOCOL)) ?? 0;
  // The identity the kernel looks a service up by, sent back as is to dump its real servers.
  const key: AttrSpec[] = [];
  for (const t of fwmark ? [SVC.AF, SVC.FWMARK] : [SVC.AF, SVC.PROTOCOL, SVC.ADDR, SVC.PORT]) {
    const v = a.get(t);
    if (v) key.push({ type: t, value: v });
  }
  return {
    family: af === AF_INET6 ? 6 : 4,
    protocol: fwmark ? 'FWM' : (PROTOCOLS[proto] ?? String(proto)),
    address: fwmark ? '' : (formatAddress(af, a.get(SVC.ADDR)) ?? ''),
    port: be16(a.get(SVC.PORT)),
    fwmark,
    scheduler: cstring(a.get(SVC.SCHED_NAME)) ?? '',
    dests: [],
    key,
  };
}

/** One IPVS_CMD_NEW_DEST reply; `family` is the service's, for kernels that do not name the dest's. */
export function parseDest(payload: Buffer, family: 4 | 6): IpvsDest | undefined {
  const raw = attrMap(payload, GENL_HDRLEN).get(IPVS_CMD_ATTR_DEST);
  if (!raw) return undefined;
  const d = attrMap(raw);
  // Real servers may be of the other family (IPv6 backends of an IPv4 service, since 5.x).
  const af = u16(d.get(DEST.ADDR_FAMILY)) ?? (family === 6 ? AF_INET6 : AF_INET);
  return {
    address: formatAddress(af, d.get(DEST.ADDR)) ?? '',
    port: be16(d.get(DEST.PORT)),
    weight: u32(d.get(DEST.WEIGHT)) ?? 0,
    activeConns: u32(d.get(DEST.ACTIVE_CONNS)) ?? 0,
    inactiveConns: u32(d.get(DEST.INACT_CONNS)) ?? 0,
  };
}

/** Every virtual server with its real servers; rejects with code ENOENT where IPVS is not in the kernel. */
export async function ipvsServices(netns: NetnsTarget): Promise<IpvsService[]> {
  const family = await genlFamilyId(netns, 'IPVS');
  const dump = (cmd: number, attrs: AttrSpec[] = []) =>
    netlinkRequest(netns, NETLINK_GENERIC, { type: family, flags: NLM_F_DUMP, header: genlHeader(cmd, IPVS_GENL_VERSION), attrs });

  const services = (await dump(IPVS_CMD_GET_SERVICE)).filter((m) => m.type === family).flatMap((m) => parseService(m.payload) ?? []);
  for (const s of services) {
    const replies = await dump(IPVS_CMD_GET_DEST, [{ type: IPVS_CMD_ATTR_SERVICE, value: s.key }]);
    s.dests = replies.flatMap((m) => parseDest(m.payload, s.family) ?? []);
  }
  return services;
}
