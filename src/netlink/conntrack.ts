// Connection-tracking statistics of one network namespace through ctnetlink
// (NETLINK_NETFILTER, subsystem CTNETLINK): what `conntrack -S` and `conntrack -C` show.

import { attrMap, NETLINK_NETFILTER, NLM_F_DUMP, u32be } from './message.js';
import { netlinkRequest, type NetlinkError, type NetnsTarget } from './socket.js';

const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_GET_STATS_CPU = 4;
const IPCTNL_MSG_CT_GET_STATS = 5;
const NFGENMSG_SIZE = 4;
const CTA_STATS_GLOBAL_ENTRIES = 1;
const CTA_STATS_GLOBAL_MAX_ENTRIES = 2;

/** Counters every kernel since 5.x sends (enum ctattr_stats_cpu numbers). */
const CORE = {
  found: 2, invalid: 4, insert: 8, insert_failed: 9, drop: 10, early_drop: 11, error: 12,
  search_restart: 13, clash_resolve: 14, chaintoolong: 15,
} as const;
/** Counters older kernels still send (the kernel no longer maintains them). */
const LEGACY = { searched: 1, new: 3, ignore: 5, delete: 6, delete_list: 7 } as const;

export type CoreCounter = keyof typeof CORE;
export type LegacyCounter = keyof typeof LEGACY;
export type ConntrackCounter = CoreCounter | LegacyCounter;
const NUMBERS = new Map<number, ConntrackCounter>(
  Object.entries({ ...CORE, ...LEGACY }).map(([name, n]) => [n, name as ConntrackCounter]),
);

export interface ConntrackStats {
  /** Summed over CPUs; core counters are 0 when absent, legacy ones only appear when sent. */
  counters: Record<CoreCounter, number> & Partial<Record<LegacyCounter, number>>;
  /** The counters the kernel actually sent, to tell "absent on this kernel" from zero. */
  present: Set<ConntrackCounter>;
  /** Number of CPUs reported. */
  cpus: number;
  /** Current number of entries in this namespace's table (`conntrack -C`). */
  entries: number;
  /** nf_conntrack_max. */
  maxEntries: number;
}

const UNAVAILABLE = new Set(['EOPNOTSUPP', 'ENOENT', 'EINVAL', 'EPROTONOSUPPORT']);

function request(netns: NetnsTarget, msg: number, flags: number) {
  return netlinkRequest(netns, NETLINK_NETFILTER, {
    type: (NFNL_SUBSYS_CTNETLINK << 8) | msg,
    flags,
    header: Buffer.alloc(NFGENMSG_SIZE), // AF_UNSPEC, NFNETLINK_V0, res_id 0
  }).catch((err: NetlinkError) => {
    // Only errors of the exchange itself mean "no conntrack"; an ENOENT opening the
    // namespace path (process gone) keeps its own message.
    if (err.code && UNAVAILABLE.has(err.code) && err.message.startsWith('netlink')) {
      throw Object.assign(new Error(`conntrack unavailable (kernel without nf_conntrack / ctnetlink?): ${err.message}`), {
        code: err.code,
        cause: err,
      });
    }
    throw err;
  });
}

export async function conntrackStats(netns: NetnsTarget): Promise<ConntrackStats> {
  const [perCpu, global] = await Promise.all([
    request(netns, IPCTNL_MSG_CT_GET_STATS_CPU, NLM_F_DUMP),
    request(netns, IPCTNL_MSG_CT_GET_STATS, 0),
  ]);
  const counters: ConntrackStats['counters'] = {
    found: 0, invalid: 0, insert: 0, insert_failed: 0, drop: 0, early_drop: 0, error: 0,
    search_restart: 0, clash_resolve: 0, chaintoolong: 0,
  };
  const present = new Set<ConntrackCounter>();
  let cpus = 0;
  for (const { payload } of perCpu) {
    cpus++;
    for (const [type, value] of attrMap(payload, NFGENMSG_SIZE)) {
      const name = NUMBERS.get(type);
      const n = u32be(value); // netfilter attributes are big-endian
      if (!name || n === undefined) continue;
      present.add(name);
      counters[name] = (counters[name] ?? 0) + n;
    }
  }
  const g = attrMap(global[0]?.payload ?? Buffer.alloc(0), NFGENMSG_SIZE);
  return {
    counters,
    present,
    cpus,
    entries: u32be(g.get(CTA_STATS_GLOBAL_ENTRIES)) ?? 0,
    maxEntries: u32be(g.get(CTA_STATS_GLOBAL_MAX_ENTRIES)) ?? 0,
  };
}
