// A protobuf writer for the push request, writing straight into one growing buffer that is
// reused from batch to batch: no message objects, no per-field allocations. A nested message
// gets one length byte up front; the rare one of 128 bytes or more is moved right by the
// extra varint bytes when it ends (a memmove), so lengths never need a first sizing pass.
// Only what the push request uses: varints (non-negative, up to 2^53) and length-delimited fields.

const LEN = 2; // wire type of strings and nested messages
const VARINT = 0;
/** Kept between batches up to this size; a bigger buffer (an unusual batch) is let go after use. */
const KEEP_BYTES = 1 << 20;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;
  private lastSeconds = -1;
  private lastSecondsText = '';

  constructor(private readonly initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Field `field` as a varint; 0 is left out (proto3 default). */
  uint(field: number, v: number): void {
    if (v === 0) return;
    this.ensure(11);
    this.buf[this.pos++] = (field << 3) | VARINT;
    this.varint(v);
  }

  /** Field `field` as a UTF-8 string (written even when empty, as a set field). */
  string(field: number, s: string): void {
    const most = s.length * 3; // UTF-8 bytes of a UTF-16 string at most
    this.ensure(most + 6);
    this.buf[this.pos++] = (field << 3) | LEN;
    if (most < 128) {
      const at = this.pos++;
      this.put(s);
      this.buf[at] = this.pos - at - 1;
    } else {
      this.varint(Buffer.byteLength(s, 'utf8'));
      this.put(s);
    }
  }

  /** Raw UTF-8 text inside an open field (see begin()). */
  text(s: string): void {
    this.ensure(s.length * 3);
    this.put(s);
  }

  /** Writes `s` as UTF-8 where ensure() made room. */
  private put(s: string): void {
    const n = s.length;
    if (n <= 64) {
      // Short pieces (punctuation, names, digits, addresses): a loop beats a call into the runtime.
      const b = this.buf;
      const p = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p + i] = c;
      }
      if (i === n) {
        this.pos = p + n;
        return;
      }
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /**
   * `s` as a JSON string literal, as JSON.stringify writes it: printable ASCII is copied byte
   * by byte; anything else (quotes, backslashes, control characters, non-ASCII) is left to
   * JSON.stringify.
   */
  jsonString(s: string): void {
    const n = s.length;
    this.ensure(n + 2);
    const b = this.buf;
    const start = this.pos;
    b[start] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) {
        this.text(JSON.stringify(s));
        return;
      }
      b[start + 1 + i] = c;
    }
    b[start + 1 + n] = 0x22;
    this.pos = start + n + 2;
  }

  /** The decimal digits of seconds * 10^9 + nanos (both non-negative integers, nanos < 10^9). */
  decimalNs(seconds: number, nanos: number): void {
    if (seconds === 0) {
      this.text(String(nanos)); // no leading zeros
      return;
    }
    // Events of a batch share their second: its digits are written once and kept.
    if (seconds !== this.lastSeconds) {
      this.lastSeconds = seconds;
      this.lastSecondsText = String(seconds);
    }
    this.text(this.lastSecondsText);
    this.ensure(9);
    const b = this.buf;
    const p = this.pos;
    let v = nanos;
    for (let i = 8; i >= 0; i--) {
      const q = Math.floor(v / 10);
      b[p + i] = 48 + v - q * 10;
      v = q;
    }
    this.pos = p + 9;
  }

  /**
   * Message `field` { 1: name, 2: value } (a label pair) in one pass: ASCII name and value
   * of under 124 bytes together (nearly every pair) are copied straight in; anything else
   * goes the general way. A number is written as String(value) would write it.
   */
  pair(field: number, name: string, value: string | number): void {
    if (typeof value !== 'string') {
      if (Number.isSafeInteger(value)) return this.pairInt(field, name, value);
      return this.pairSlow(field, name, String(value));
    }
    const vl = value.length;
    if (name.length + vl + 4 < 128) {
      let p = this.pairHead(field, name, vl);
      if (p >= 0) {
        const b = this.buf;
        let ascii = true;
        for (let i = 0; i < vl; i++) {
          const c = value.charCodeAt(i);
          if (c >= 0x80) ascii = false;
          b[p++] = c;
        }
        if (ascii) {
          this.pos = p;
          return;
        } // else: what was written past pos is overwritten below
      }
    }
    this.pairSlow(field, name, value);
  }

  private pairInt(field: number, name: string, value: number): void {
    const neg = value < 0;
    let digits = 1;
    for (let v = neg ? -value : value; v >= 10; v = Math.floor(v / 10)) digits++;
    const vl = digits + (neg ? 1 : 0);
    const p = name.length + vl + 4 < 128 ? this.pairHead(field, name, vl) : -1;
    if (p < 0) return this.pairSlow(field, name, String(value));
    const b = this.buf;
    if (neg) b[p] = 0x2d; // '-'
    const first = neg ? p + 1 : p;
    let v = neg ? -value : value;
    for (let i = digits - 1; i >= 0; i--) {
      const d = v % 10;
      b[first + i] = 48 + d;
      v = (v - d) / 10;
    }
    this.pos = first + digits;
  }

  /**
   * The fast path's start of a pair whose name and `valueLength`-byte value fit one length byte
   * each: the pair's tag and length, the name (ASCII, copied straight in) and the value's tag and
   * length, written past pos. Returns where the value goes, or -1 for a name that is not ASCII
   * (nothing is committed: pos has not moved).
   */
  private pairHead(field: number, name: string, valueLength: number): number {
    const nl = name.length;
    this.ensure(nl + valueLength + 6);
    const b = this.buf;
    let p = this.pos;
    b[p++] = (field << 3) | LEN;
    b[p++] = nl + valueLength + 4;
    b[p++] = (1 << 3) | LEN;
    b[p++] = nl;
    for (let i = 0; i < nl; i++) {
      const c = name.charCodeAt(i);
      if (c >= 0x80) return -1;
      b[p++] = c;
    }
    b[p++] = (2 << 3) | LEN;
    b[p++] = valueLength;
    return p;
  }

  private pairSlow(field: number, name: string, value: string): void {
    const mark = this.begin(field);
    this.string(1, name);
    this.string(2, value);
    this.end(mark);
  }

  /** Message `field` google.protobuf.Timestamp { 1: seconds, 2: nanos } (non-negative, seconds below 2^53). */
  timestamp(field: number, seconds: number, nanos: number): void {
    this.ensure(20);
    const b = this.buf;
    b[this.pos++] = (field << 3) | LEN;
    const at = this.pos++;
    if (seconds !== 0) {
      b[this.pos++] = (1 << 3) | VARINT;
      this.varint(seconds);
    }
    if (nanos !== 0) {
      b[this.pos++] = (2 << 3) | VARINT;
      this.varint(nanos);
    }
    b[at] = this.pos - at - 1; // at most 17 bytes
  }

  /** Opens nested message `field`; pass the returned mark to end(). */
  begin(field: number): number {
    this.ensure(2);
    this.buf[this.pos++] = (field << 3) | LEN;
    return this.pos++;
  }

  end(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 128) {
      this.buf[mark] = len;
      return;
    }
    const extra = varintSize(len) - 1;
    this.ensure(extra);
    this.buf.copyWithin(mark + 1 + extra, mark + 1, this.pos);
    this.pos += extra;
    const end = this.pos;
    this.pos = mark;
    this.varint(len);
    this.pos = end;
  }

  /**
   * The bytes written since the last finish(), valid until the next write: the caller uses
   * (compresses or copies) them before encoding anything else.
   */
  finish(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    if (this.buf.length > KEEP_BYTES) this.buf = Buffer.allocUnsafe(this.initialBytes); // `out` still holds the big one
    return out;
  }

  private varint(v: number): void {
    const b = this.buf;
    let p = this.pos;
    while (v >= 128) {
      b[p++] = (v & 127) | 128; // the low 7 bits survive ToInt32 for any integer below 2^53
      v = Math.floor(v / 128);
    }
    b[p++] = v;
    this.pos = p;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
}
