// The netlink decoders, each through its public query with the native addon replaced by one
// that answers captured kernel replies (test/fixtures/netlink) mutated at the byte, message and
// attribute level. Contract (src/netlink/message.ts): framing and attributes that do not parse
// are skipped ("stops at a truncated or malformed header"), short attributes read as absent;
// a query resolves with what it could decode, never throws on a reply, never returns a number
// that is not finite.
import { conntrackStats } from '../../src/netlink/conntrack.js';
import { DEST, IPVS_CMD_ATTR_DEST, IPVS_CMD_ATTR_SERVICE, ipvsServices, NETLINK_GENERIC, SVC } from '../../src/netlink/ipvs.js';
import { encodeAttrs, type AttrSpec } from '../../src/netlink/message.js';
import { netconf, routes, rules } from '../../src/netlink/route.js';
import { links, neighbours, qdiscs } from '../../src/netlink/rtnetlink.js';
import { inetSockets, TCPF_ALL } from '../../src/netlink/sockdiag.js';
import { check, showHex, type Target } from '../harness.js';
import { FakeAddon, frame, hexLines, loadCapture, mutateReply, requestKey, saneValue, type Replies } from '../netlink-wire.js';

interface NetlinkParser {
  name: string;
  /** Seeds: captured or built exchanges. */
  seeds: () => Replies[];
  /** Bytes of the family header before the attributes. */
  headerSize: number;
  query: () => Promise<unknown>;
  /** Checks beyond saneValue. */
  extra?: (result: unknown) => void;
}

// ---- IPVS: no ip_vs in the capturing kernel, so its replies are built as the kernel encodes them ----

const IPVS_FAMILY = 0x1f;
const le16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const le32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const be16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const inet = (bytes: number[]) => Buffer.concat([Buffer.from(bytes), Buffer.alloc(16 - bytes.length)]);
const genl = (cmd: number, attrs: AttrSpec[]) => Buffer.concat([Buffer.from([cmd, 1, 0, 0]), encodeAttrs(attrs)]);

function ipvsSeed(v6: boolean, fwmark: boolean): Replies {
  const ctrlReq = Buffer.alloc(20);
  ctrlReq.writeUInt16LE(0x10, 4);
  ctrlReq[16] = 3;
  const ctrl = frame(0x10, 0, genl(1, [{ type: 1, value: le16(IPVS_FAMILY) }, { type: 2, value: Buffer.from('IPVS\0') }]));
  const addr = v6 ? inet([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a]) : inet([10, 96, 0, 10]);
  const svc: AttrSpec[] = fwmark
    ? [{ type: SVC.AF, value: le16(v6 ? 10 : 2) }, { type: SVC.FWMARK, value: le32(7) }, { type: SVC.SCHED_NAME, value: Buffer.from('rr\0') }]
    : [{ type: SVC.AF, value: le16(v6 ? 10 : 2) }, { type: SVC.PROTOCOL, value: le16(6) }, { type: SVC.ADDR, value: addr }, { type: SVC.PORT, value: be16(443) }, { type: SVC.SCHED_NAME, value: Buffer.from('wrr\0') }];
  const services = Buffer.concat([frame(IPVS_FAMILY, 2, genl(5, [{ type: IPVS_CMD_ATTR_SERVICE | 0x8000, value: svc }])), frame(IPVS_FAMILY, 2, genl(5, [{ type: IPVS_CMD_ATTR_SERVICE | 0x8000, value: svc.slice(0, 3) }]))]);
  const dest = (ip: number[], port: number): Buffer => frame(IPVS_FAMILY, 2, genl(9, [{ type: IPVS_CMD_ATTR_DEST | 0x8000, value: [
    { type: DEST.ADDR, value: inet(ip) }, { type: DEST.PORT, value: be16(port) }, { type: DEST.FWD_METHOD, value: le32(0) }, { type: DEST.WEIGHT, value: le32(1) },
    { type: DEST.ACTIVE_CONNS, value: le32(3) }, { type: DEST.INACT_CONNS, value: le32(1) }, { type: DEST.ADDR_FAMILY, value: le16(2) },
  ] }]));
  const key = (cmd: number) => { const r = Buffer.alloc(20); r.writeUInt16LE(IPVS_FAMILY, 4); r[16] = cmd; return requestKey(NETLINK_GENERIC, r); };
  return new Map([
    [requestKey(NETLINK_GENERIC, ctrlReq), ctrl],
    [key(4), services],
    [key(8), Buffer.concat([dest([10, 200, 1, 2], 8443), dest([10, 200, 1, 3], 8443)])],
  ]);
}

const ports = (r: unknown) => {
  for (const s of r as { srcPort: number; dstPort: number }[]) check(s.srcPort >= 0 && s.srcPort <= 65535 && s.dstPort >= 0 && s.dstPort <= 65535, 'a port out of range');
};

const PARSERS: NetlinkParser[] = [
  { name: 'netlink.sock_diag', seeds: () => [loadCapture('sock-diag-tcp4.json')], headerSize: 72, query: () => inetSockets(null, { family: 4, protocol: 'tcp', states: TCPF_ALL }), extra: ports },
  { name: 'netlink.rtnetlink.link', seeds: () => [loadCapture('rtm-getlink.json')], headerSize: 16, query: () => links(null) },
  { name: 'netlink.rtnetlink.qdisc', seeds: () => [loadCapture('rtm-getqdisc.json')], headerSize: 20, query: () => qdiscs(null) },
  { name: 'netlink.rtnetlink.neigh', seeds: () => [loadCapture('rtm-getneigh.json')], headerSize: 12, query: async () => [await neighbours(null, 4), await neighbours(null, 6)] },
  { name: 'netlink.rtnetlink.route', seeds: () => [loadCapture('rtm-getroute.json')], headerSize: 12, query: async () => [await routes(null, 4), await routes(null, 6)] },
  { name: 'netlink.rtnetlink.rule', seeds: () => [loadCapture('rtm-getrule.json')], headerSize: 12, query: async () => [await rules(null, 4), await rules(null, 6)] },
  { name: 'netlink.rtnetlink.netconf', seeds: () => [loadCapture('rtm-getnetconf.json')], headerSize: 4, query: () => netconf(null, 4) },
  { name: 'netlink.ctnetlink', seeds: () => [loadCapture('ctnetlink-stats.json')], headerSize: 4, query: () => conntrackStats(null) },
  {
    name: 'netlink.ipvs', seeds: () => [ipvsSeed(false, false), ipvsSeed(true, false), ipvsSeed(false, true)], headerSize: 4,
    query: () => ipvsServices(null),
  },
];

export function netlinkTargets(): Target<Replies>[] {
  return PARSERS.map((p) => {
    let seeds: Replies[] = [];
    let corpus: Buffer[] = [];
    let addon: FakeAddon | undefined;
    return {
      name: p.name,
      async open() {
        seeds = p.seeds();
        corpus = seeds.flatMap((s) => [...s.values()]);
        addon = new FakeAddon();
      },
      async close() {
        addon?.restore();
      },
      make(rng) {
        const seed = rng.pick(seeds);
        const out: Replies = new Map(seed);
        // one reply mutated, sometimes two
        for (let n = rng.chance(0.2) ? 2 : 1; n > 0; n--) {
          const key = rng.pick([...out.keys()]);
          out.set(key, mutateReply(rng, out.get(key)!, corpus, p.headerSize));
        }
        return out;
      },
      async feed(replies) {
        addon!.current = replies;
        let result: unknown;
        try {
          result = await p.query();
        } catch (err) {
          // The one documented failure on a reply: genetlink without the family (ENOENT).
          if (p.name === 'netlink.ipvs' && (err as { code?: string }).code === 'ENOENT' && /^genetlink: no id for family/.test((err as Error).message)) return;
          throw err;
        }
        const bad = saneValue(result);
        check(!bad, bad ?? '');
        p.extra?.(result);
      },
      show: (replies, max) => [...replies].map(([k, v]) => `${k}=${showHex(v, max)}`).join(' '),
      save: (replies) => Object.fromEntries([...replies].map(([k, v]) => [k, hexLines(v)])),
    };
  });
}
