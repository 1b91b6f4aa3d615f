// Netlink replies as the fuzz targets handle them: captured exchanges (test/fixtures/netlink),
// a fake native addon that answers each request with the reply of its kind, and the
// structure-aware mutations (one message's payload or attributes changed, then framed again
// with right lengths, so the change reaches the attribute parsers instead of the framing).
import { readFileSync } from 'node:fs';
import { nativeAddon, type NativeAddon } from '../src/native/addon.js';
import { encodeAttrs, messages, parseAttrs, type AttrSpec } from '../src/netlink/message.js';
import { mutateBytes } from './mutate.js';
import { fixture } from './paths.js';
import type { Rng } from './prng.js';

/** Which reply a request gets: protocol, nlmsg_type and the first byte of the family header (family, genl command). */
export const requestKey = (protocol: number, request: Uint8Array): string => `${protocol}:${Buffer.from(request).readUInt16LE(4)}:${request[16] ?? 0}`;

/** Replies by request key; a request of another kind gets an empty dump. */
export type Replies = Map<string, Buffer>;

/** A capture file: one exchange (request, reply as hex lines) or several. */
interface CaptureFile {
  protocol?: number;
  request?: string[];
  reply?: string[];
  exchanges?: { protocol: number; request: string[]; reply: string[] }[];
}

export function loadCapture(name: string): Replies {
  const c = JSON.parse(readFileSync(fixture('netlink', name), 'utf8')) as CaptureFile;
  const exchanges = c.exchanges ?? [{ protocol: c.protocol!, request: c.request!, reply: c.reply! }];
  return new Map(exchanges.map((e) => [requestKey(e.protocol, Buffer.from(e.request.join(''), 'hex')), Buffer.from(e.reply.join(''), 'hex')]));
}

/** Hex lines of 32 bytes, as the captures are written. */
export const hexLines = (b: Buffer): string[] => b.toString('hex').match(/.{1,64}/g) ?? [];

/** A saved failure's replies (request key → hex lines), as `save` writes them. */
export const repliesOf = (saved: Record<string, string[]>): Replies => new Map(Object.entries(saved).map(([k, v]) => [k, Buffer.from(v.join(''), 'hex')]));

/** Answers with `current` while a target runs; restore() puts the real addon back. */
export class FakeAddon {
  current: Replies = new Map();
  private readonly real: NativeAddon | undefined;
  constructor() {
    const state = nativeAddon();
    this.real = state.addon;
    const fake: NativeAddon = { netlinkDump: async (_ns, protocol, request) => this.current.get(requestKey(protocol, request)) ?? Buffer.alloc(0) };
    state.addon = fake;
  }
  restore(): void {
    nativeAddon().addon = this.real;
  }
}

/** One message framed: nlmsghdr with its real length, payload padded to 4. */
export function frame(type: number, flags: number, payload: Buffer): Buffer {
  const msg = Buffer.alloc(16 + ((payload.length + 3) & ~3));
  msg.writeUInt32LE(16 + payload.length, 0);
  msg.writeUInt16LE(type, 4);
  msg.writeUInt16LE(flags, 6);
  payload.copy(msg, 16);
  return msg;
}

/** Attributes changed: a value mutated, one dropped or repeated, a type changed, a nested one recursed into. */
function mutateAttrs(rng: Rng, attrs: AttrSpec[], depth = 0): AttrSpec[] {
  const out = attrs.slice();
  if (!out.length) return [{ type: rng.int(40), value: rng.bytes(rng.int(24)) }];
  const i = rng.int(out.length);
  const a = out[i]!;
  switch (rng.int(5)) {
    case 0: out.splice(i, 1); break;
    case 1: out.splice(rng.int(out.length + 1), 0, a); break;
    case 2: out[i] = { ...a, type: rng.chance(0.5) ? rng.int(64) : (a.type ^ (1 << rng.int(16))) & 0xffff }; break;
    case 3:
      if (Buffer.isBuffer(a.value) && depth < 3 && rng.chance(0.5)) {
        // treat the value as nested attributes (many are)
        out[i] = { type: a.type, value: mutateAttrs(rng, parseAttrs(a.value).map((x) => ({ type: x.type, value: x.value })), depth + 1) };
        break;
      }
    // falls through
    default:
      if (Buffer.isBuffer(a.value)) out[i] = { type: a.type, value: mutateBytes(rng, a.value, [], 2) };
  }
  return out;
}

/**
 * A reply mutated at one of three levels: its bytes (framing included), one message's payload
 * bytes, or one message's attributes after a family header of `headerSize` bytes.
 */
export function mutateReply(rng: Rng, reply: Buffer, corpus: Buffer[], headerSize: number): Buffer {
  const level = rng.int(3);
  if (level === 0 || reply.length === 0) return mutateBytes(rng, reply, corpus);
  const msgs = [...messages(reply)];
  if (!msgs.length) return mutateBytes(rng, reply, corpus);
  const m = rng.int(msgs.length);
  const parts = msgs.map((msg, k) => {
    if (k !== m) return frame(msg.type, msg.flags, msg.payload);
    if (level === 1) return frame(msg.type, msg.flags, mutateBytes(rng, msg.payload, [], 3));
    const header = msg.payload.subarray(0, headerSize);
    const attrs = parseAttrs(msg.payload, (headerSize + 3) & ~3).map((x) => ({ type: x.type | (x.nested ? 0x8000 : 0) | (x.netByteOrder ? 0x4000 : 0), value: x.value }));
    const padded = Buffer.concat([header, Buffer.alloc(((header.length + 3) & ~3) - header.length)]);
    return frame(msg.type, msg.flags, Buffer.concat([rng.chance(0.2) ? mutateBytes(rng, padded, [], 1) : padded, encodeAttrs(mutateAttrs(rng, attrs))]));
  });
  // sometimes a message dropped or repeated as well
  if (rng.chance(0.1) && parts.length > 1) parts.splice(rng.int(parts.length), 1);
  if (rng.chance(0.1)) parts.push(parts[rng.int(parts.length)]!);
  return Buffer.concat(parts);
}

/** Numbers finite, nothing undefined in arrays: what every decoded result must hold. */
export function saneValue(v: unknown, path = 'result'): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : `${path} is ${v}`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (v[i] === undefined) return `${path}[${i}] is undefined`;
      const bad = saneValue(v[i], `${path}[${i}]`);
      if (bad) return bad;
    }
  } else if (v && typeof v === 'object' && !(v instanceof Set) && !Buffer.isBuffer(v)) {
    for (const [k, x] of Object.entries(v)) {
      const bad = saneValue(x, `${path}.${k}`);
      if (bad) return bad;
    }
  }
  return undefined;
}
