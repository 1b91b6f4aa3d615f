// The event record of native/bpf/common.bpf.h (struct event), decoded, and the helpers that
// turn its fields into event attributes. Where each field is comes from the object's BTF
// (RecordLayout), not from offsets written here.
import type { BtfStruct } from './addon.js';
import { memberOffsets } from './btf.js';

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
   * The raw kernel stack (u64 return addresses, innermost first; empty for probes that send none) as a latin1
   * string: cheap to copy out of the reused batch buffer, and a cache key, since the same
   * drop site repeats. stackAddresses() decodes it.
   */
  stackKey: string;
}

const AF_INET = 2;
const AF_INET6 = 10;

/** Member of struct event → the bytes the decoder reads (stack: u64 frames, any count). */
const EVENT_MEMBERS = {
  ts: 8, netns: 4, kind: 2, family: 2, saddr: 16, daddr: 16, sport: 2, dport: 2, protocol: 1, state: 1, reason: 4, stack_bytes: 4,
  stack: undefined,
} as const;

/**
 * Byte offsets of struct event's members in a record, read from a BPF object's BTF once per
 * object (RecordLayout.of). Plain numeric fields: the decoder reads them once per field per
 * record, at the cost of a property load.
 */
export class RecordLayout {
  readonly ts: number;
  readonly netns: number;
  readonly kind: number;
  readonly family: number;
  readonly saddr: number;
  readonly daddr: number;
  readonly sport: number;
  readonly dport: number;
  readonly protocol: number;
  readonly state: number;
  readonly reason: number;
  readonly stackBytes: number;
  /** Where the kernel stack starts; a record without a stack ends here (EVENT_NOSTACK_SIZE). */
  readonly stack: number;

  private constructor(o: Record<keyof typeof EVENT_MEMBERS, number>) {
    this.ts = o.ts;
    this.netns = o.netns;
    this.kind = o.kind;
    this.family = o.family;
    this.saddr = o.saddr;
    this.daddr = o.daddr;
    this.sport = o.sport;
    this.dport = o.dport;
    this.protocol = o.protocol;
    this.state = o.state;
    this.reason = o.reason;
    this.stackBytes = o.stack_bytes;
    this.stack = o.stack;
  }

  /**
   * The layout of `event` (obj.btfStruct('event')), checked against what the decoder reads:
   * every member present with the size it reads, all before the stack (which records without
   * a stack leave out), the stack whole u64 frames. Throws naming the member that disagrees.
   */
  static of(event: BtfStruct): RecordLayout {
    const o = memberOffsets('event', event, EVENT_MEMBERS, 'the record decoder (src/bpf/records.ts)');
    const stackSize = event.members.find((m) => m.name === 'stack')!.size;
    if (stackSize === 0 || stackSize % 8 !== 0) throw new Error(`struct event member stack is ${stackSize} bytes, not u64 frames`);
    for (const m of event.members) {
      if (m.name in EVENT_MEMBERS && m.name !== 'stack' && m.offset + m.size > o.stack) {
        throw new Error(`struct event member ${m.name} ends past stack (records without a stack stop where stack begins)`);
      }
    }
    return new RecordLayout(o);
  }
}

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

/** Decodes one record at `offset` of `length` bytes, its members where `layout` says. */
export function decodeRecord(buf: Buffer, offset: number, length: number, layout: RecordLayout): BpfRecord {
  const family = buf.readUInt16LE(offset + layout.family);
  const stack = layout.stack;
  const stackBytes = length > stack ? Math.min(buf.readUInt32LE(offset + layout.stackBytes), length - stack) : 0;
  return {
    ktimeNs: buf.readBigUInt64LE(offset + layout.ts),
    netns: buf.readUInt32LE(offset + layout.netns),
    kind: buf.readUInt16LE(offset + layout.kind),
    family,
    saddr: addr(buf, offset + layout.saddr, family),
    daddr: addr(buf, offset + layout.daddr, family),
    sport: buf.readUInt16LE(offset + layout.sport),
    dport: buf.readUInt16LE(offset + layout.dport),
    protocol: buf[offset + layout.protocol]!,
    state: buf[offset + layout.state]!,
    reason: buf.readUInt32LE(offset + layout.reason),
    stackKey: buf.toString('latin1', offset + stack, offset + stack + (stackBytes & ~7)),
  };
}

export function stackAddresses(stackKey: string): bigint[] {
  const raw = Buffer.from(stackKey, 'latin1');
  const out: bigint[] = [];
  for (let i = 0; i + 8 <= raw.length; i += 8) out.push(raw.readBigUInt64LE(i));
  return out;
}

/**
 * Walks a batch as the addon packs it: [u32 length][u32 0][record padded to 8]. A record
 * shorter than the fixed part is skipped and one running past `bytes` ends the walk: this
 * runs in the ring buffer callback, where a throw would end the agent, and bytes past the
 * batch are an older batch's.
 */
export function* records(buf: Buffer, bytes: number, layout: RecordLayout): Generator<BpfRecord> {
  const end = Math.min(bytes, buf.length);
  for (let at = 0; at + 8 <= end; ) {
    const length = buf.readUInt32LE(at);
    if (at + 8 + length > end) return;
    if (length >= layout.stack) yield decodeRecord(buf, at + 8, length, layout);
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
