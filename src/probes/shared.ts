// Reads several probes need from the same namespace, done once per cycle through ctx.shared.
import { netnsRef, procNet, type Entity, type ProbeContext } from '../model.js';
import { links, type Link } from '../netlink/rtnetlink.js';
import { inetSockets, TCPF_ALL, type InetSocket } from '../netlink/sockdiag.js';
import { pidStats, type PidStats } from '../procfs/pids.js';
import { parseKeyValueLines, readText, type Counters } from '../procfs/read.js';

export function procNetText(entity: Entity, ctx: ProbeContext, file: string): Promise<string> {
  return ctx.shared(`${entity.netns}:proc:${file}`, () => readText(procNet(entity, file)));
}

/** Reads a file's `Section:Field` → value pairs. */
export type Parser = (text: string) => Counters;

/** Parsed files of the cycle whose `shared` this is (one function per cycle): gone with it. */
const parsedInCycle = new WeakMap<ProbeContext['shared'], Map<string, Promise<Counters>>>();

/**
 * A /proc/<pid>/net file parsed once per namespace and cycle (each file has one format, one
 * parser): tcp, udp and ip all read snmp.
 */
export function parsedProcNet(entity: Entity, ctx: ProbeContext, file: string, parse: Parser): Promise<Counters> {
  let cycle = parsedInCycle.get(ctx.shared);
  if (!cycle) parsedInCycle.set(ctx.shared, (cycle = new Map()));
  const key = `${entity.netns}:${file}`;
  let parsed = cycle.get(key);
  if (!parsed) {
    const reading = procNetText(entity, ctx, file).then((text) => parse(text));
    // A failed read is not kept, as ctx.shared keeps none: the collector retries a probe through
    // another process of the namespace when the one read through exited, and that must read again.
    reading.catch(() => cycle!.get(key) === reading && cycle!.delete(key));
    cycle.set(key, (parsed = reading));
  }
  return parsed;
}

export function linksOf(entity: Entity, ctx: ProbeContext): Promise<Link[]> {
  return ctx.shared(`${entity.netns}:links`, () => links(netnsRef(entity)));
}

/**
 * Whether the namespace has TCP sockets of a family, from sockstat(6): `inuse` counts the
 * listening and connected ones, `tw` those in TIME_WAIT (both families). Unknown (a file or a
 * field this kernel lacks) counts as yes.
 */
async function hasTcpSockets(entity: Entity, ctx: ProbeContext, family: 4 | 6): Promise<boolean> {
  const file = family === 4 ? 'sockstat' : 'sockstat6';
  const inuse = family === 4 ? 'TCP:inuse' : 'TCP6:inuse';
  try {
    const [own, v4] = await Promise.all([parsedProcNet(entity, ctx, file, parseKeyValueLines), parsedProcNet(entity, ctx, 'sockstat', parseKeyValueLines)]);
    const n = own.get(inuse);
    const tw = v4.get('TCP:tw');
    return n === undefined || tw === undefined || n > 0 || tw > 0;
  } catch {
    return true;
  }
}

/**
 * Every TCP socket of the namespace, IPv4 then IPv6, all states. A sock_diag dump walks the
 * kernel's whole TCP hash table (shared by every namespace unless net.ipv4.tcp_child_ehash_entries
 * gave it its own), about a millisecond on a 256k-bucket table, however few sockets the
 * namespace has; so a family the namespace has no socket of (sockstat) is not dumped, and
 * a namespace with both has them in one dump. A socket opened between the two reads is
 * counted from the next cycle.
 */
export function tcpSocketsOf(entity: Entity, ctx: ProbeContext): Promise<InetSocket[]> {
  return ctx.shared(`${entity.netns}:tcp-sockets`, async () => {
    const [v4, v6] = await Promise.all([hasTcpSockets(entity, ctx, 4), hasTcpSockets(entity, ctx, 6)]);
    if (!v4 && !v6) return [];
    return inetSockets(netnsRef(entity), { family: v4 && v6 ? 'both' : v4 ? 4 : 6, protocol: 'tcp', states: TCPF_ALL });
  });
}

/** The descriptors and io counters of the namespace's processes, read in one call per cycle (fd, io). */
export function pidStatsOf(entity: Entity, ctx: ProbeContext): Promise<PidStats[]> {
  return ctx.shared(`${entity.netns}:pid-stats`, () => pidStats(entity.pids));
}
