// The event record of native/bpf/common.bpf.h (struct event), decoded, and the helpers that
// turn its fields into event attributes.
export interface BpfRecord {
  /** bpf_ktime_get_ns(): CLOCK_MONOTONIC ns. */
  ktimeNs: bigint;
  netns: number;
  kind: number;
  family: number;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  protocol: number;
  state: number;
  reason: number;
  /**
   * The raw kernel stack (u64 return addresses, innermost first; packetloss only) as a latin1
   * string: cheap to copy out of the reused batch buffer, and a cache key, since the same
   * drop site repeats. stackAddresses() decodes it.
   */
  stackKey: string;
}

const AF_INET = 2;
const AF_INET6 = 10;
const STACK_OFFSET = 64;

function addr(buf: Buffer, at: number, family: number): string {
  if (family === AF_INET) return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
  if (family !== AF_INET6) return '';
  // A dual-stack socket talking IPv4: ::ffff:a.b.c.d, as ss prints it.
  if (buf.subarray(at, at + 10).every((b) => b === 0) && buf[at + 10] === 0xff && buf[at + 11] === 0xff) {
    return `::ffff:${buf[at + 12]}.${buf[at + 13]}.${buf[at + 14]}.${buf[at + 15]}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(at + i).toString(16));
  return compressV6(groups);
}

// RFC 5952: the longest run (2 or more) of zero groups becomes "::".
function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Decodes one record at `offset` of `length` bytes. */
export function decodeRecord(buf: Buffer, offset: number, length: number): BpfRecord {
  const family = buf.readUInt16LE(offset + 14);
  const stackBytes = length > STACK_OFFSET ? Math.min(buf.readUInt32LE(offset + 60), length - STACK_OFFSET) : 0;
  return {
    ktimeNs: buf.readBigUInt64LE(offset),
    netns: buf.readUInt32LE(offset + 8),
    kind: buf.readUInt16LE(offset + 12),
    family,
    saddr: addr(buf, offset + 16, family),
    daddr: addr(buf, offset + 32, family),
    sport: buf.readUInt16LE(offset + 48),
    dport: buf.readUInt16LE(offset + 50),
    protocol: buf[offset + 52]!,
    state: buf[offset + 53]!,
    reason: buf.readUInt32LE(offset + 56),
    stackKey: buf.toString('latin1', offset + STACK_OFFSET, offset + STACK_OFFSET + (stackBytes & ~7)),
  };
}

export function stackAddresses(stackKey: string): bigint[] {
  const raw = Buffer.from(stackKey, 'latin1');
  const out: bigint[] = [];
  for (let i = 0; i + 8 <= raw.length; i += 8) out.push(raw.readBigUInt64LE(i));
  return out;
}

/** Walks a batch as the addon packs it: [u32 length][u32 0][record padded to 8]. */
export function* records(buf: Buffer, bytes: number): Generator<BpfRecord> {
  for (let at = 0; at + 8 <= bytes; ) {
    const length = buf.readUInt32LE(at);
    yield decodeRecord(buf, at + 8, length);
    at += 8 + Math.ceil(length / 8) * 8;
  }
}

const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE',
  'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV', 'BOUND_INACTIVE'];

export function tcpStateName(state: number): string {
  return TCP_STATES[state] ?? `STATE_${state}`;
}

export function protocolName(protocol: number): string {
  return protocol === 6 ? 'TCP' : protocol === 17 ? 'UDP' : protocol === 1 ? 'ICMP' : protocol === 58 ? 'ICMPV6' : String(protocol);
}

/** The tuple as event attributes (nothing when the packet had no IP header to read). */
export function tupleAttrs(r: BpfRecord): Record<string, string | number> {
  if (r.family !== AF_INET && r.family !== AF_INET6) return {};
  return {
    family: r.family === AF_INET ? 'ipv4' : 'ipv6',
    protocol: protocolName(r.protocol),
    saddr: r.saddr,
    sport: r.sport,
    daddr: r.daddr,
    dport: r.dport,
  };
}

/** `TCP 10.0.0.1:80 -> 10.0.0.2:4242` (IPv6 in brackets), or '' without a tuple. */
export function tupleText(r: BpfRecord): string {
  if (r.family !== AF_INET && r.family !== AF_INET6) return '';
  const ep = (a: string, p: number) => (r.family === AF_INET6 ? `[${a}]:${p}` : `${a}:${p}`);
  return `${protocolName(r.protocol)} ${ep(r.saddr, r.sport)} -> ${ep(r.daddr, r.dport)}`;
}
