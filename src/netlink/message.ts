// Netlink wire format: nlmsghdr framing and rtattr/nlattr TLVs, in host byte order
// (little-endian on every platform the agent ships for), 4-byte aligned.

export const NETLINK_ROUTE = 0;
export const NETLINK_SOCK_DIAG = 4;
export const NETLINK_NETFILTER = 12;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH
/** Set by the kernel when the table changed during a dump (the snapshot may be inconsistent). */
export const NLM_F_DUMP_INTR = 0x10;

export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;

export const align4 = (n: number): number => (n + 3) & ~3;

/** An attribute to encode; an array value becomes a nested attribute (set NLA_F_NESTED in `type` if the family wants it). */
export interface AttrSpec {
  type: number;
  value: Buffer | AttrSpec[];
}

export function encodeAttrs(attrs: AttrSpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const { type, value } of attrs) {
    const body = Buffer.isBuffer(value) ? value : encodeAttrs(value);
    const attr = Buffer.alloc(align4(NLA_HDRLEN + body.length));
    attr.writeUInt16LE(NLA_HDRLEN + body.length, 0);
    attr.writeUInt16LE(type, 2);
    body.copy(attr, NLA_HDRLEN);
    parts.push(attr);
  }
  return Buffer.concat(parts);
}

export interface RequestSpec {
  type: number;
  flags: number;
  /** The family header (ifinfomsg, tcmsg, nfgenmsg, inet_diag_req_v2...). */
  header: Buffer;
  attrs?: AttrSpec[];
  seq?: number;
}

let nextSeq = 1;

/** One complete request message. NLM_F_REQUEST is always set. */
export function buildRequest({ type, flags, header, attrs = [], seq }: RequestSpec): Buffer {
  const payload = Buffer.concat([header, Buffer.alloc(align4(header.length) - header.length), encodeAttrs(attrs)]);
  const msg = Buffer.alloc(NLMSG_HDRLEN + payload.length);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(type, 4);
  msg.writeUInt16LE(flags | NLM_F_REQUEST, 6);
  msg.writeUInt32LE(seq ?? nextSeq++ >>> 0, 8);
  msg.writeUInt32LE(0, 12); // port id: 0, the kernel fills it in
  payload.copy(msg, NLMSG_HDRLEN);
  return msg;
}

export interface Message {
  type: number;
  flags: number;
  seq: number;
  /** Family header followed by attributes; a view into the reply buffer. */
  payload: Buffer;
}

/** The messages of a reply buffer; stops at a truncated or malformed header. */
export function* messages(buf: Buffer): Generator<Message> {
  for (let off = 0; off + NLMSG_HDRLEN <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) return;
    yield {
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    };
    off += align4(len);
  }
}

export interface Attr {
  /** Attribute type with the NLA_F_NESTED / NLA_F_NET_BYTEORDER flags masked off. */
  type: number;
  nested: boolean;
  netByteOrder: boolean;
  value: Buffer;
}

/** The TLVs of `buf` from `offset` (e.g. past the family header); stops at a malformed one. */
export function parseAttrs(buf: Buffer, offset = 0): Attr[] {
  const attrs: Attr[] = [];
  for (let off = offset; off + NLA_HDRLEN <= buf.length; ) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    const raw = buf.readUInt16LE(off + 2);
    attrs.push({
      type: raw & NLA_TYPE_MASK,
      nested: (raw & NLA_F_NESTED) !== 0,
      netByteOrder: (raw & NLA_F_NET_BYTEORDER) !== 0,
      value: buf.subarray(off + NLA_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return attrs;
}

/** Attribute values by (masked) type; the first occurrence wins. */
export function attrMap(buf: Buffer, offset = 0): Map<number, Buffer> {
  const map = new Map<number, Buffer>();
  for (const a of parseAttrs(buf, offset)) if (!map.has(a.type)) map.set(a.type, a.value);
  return map;
}

/**
 * The values of the attributes of `types` (masked, the first occurrence wins), in that order,
 * as attrMap() would give them, without a view of every other attribute: a link carries some
 * fifty and a collection wants four of them, for every link of every namespace and cycle.
 */
export function pickAttrs(buf: Buffer, offset: number, types: readonly number[]): (Buffer | undefined)[] {
  const out = new Array<Buffer | undefined>(types.length).fill(undefined);
  let left = types.length;
  for (let off = offset; left > 0 && off + NLA_HDRLEN <= buf.length; ) {
    // Bytes read directly: the bounds are checked above, and Buffer's readers check them again.
    const len = buf[off]! | (buf[off + 1]! << 8);
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    const i = types.indexOf((buf[off + 2]! | (buf[off + 3]! << 8)) & NLA_TYPE_MASK);
    if (i >= 0 && out[i] === undefined) {
      out[i] = buf.subarray(off + NLA_HDRLEN, off + len);
      left--;
    }
    off += align4(len);
  }
  return out;
}

// Readers that tolerate a short or missing attribute (older kernels send fewer fields).
export const u8 = (b: Buffer | undefined, off = 0): number | undefined => (b && b.length >= off + 1 ? b.readUInt8(off) : undefined);
export const u16 = (b: Buffer | undefined, off = 0): number | undefined => (b && b.length >= off + 2 ? b.readUInt16LE(off) : undefined);
export const u32 = (b: Buffer | undefined, off = 0): number | undefined => (b && b.length >= off + 4 ? b.readUInt32LE(off) : undefined);
/** Network byte order (netfilter counters, ports). */
export const u32be = (b: Buffer | undefined, off = 0): number | undefined => (b && b.length >= off + 4 ? b.readUInt32BE(off) : undefined);
/**
 * The two halves summed as doubles: hi * 2^32 is exact, so the sum is rounded once, to the
 * same number as Number(readBigUInt64LE()) gives, without a BigInt per counter (every
 * counter of every link of every namespace, every cycle). Counters stay far below 2^53.
 */
export const u64 = (b: Buffer | undefined, off = 0): number | undefined =>
  b && b.length >= off + 8 ? b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 4294967296 : undefined;
/** A NUL-terminated string attribute. */
export function cstring(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end < 0 ? b.length : end);
}
