// Snappy block compression (the raw format Loki and Prometheus remote write read, not the
// framed stream format), written for the push hot path: one hash table and one output
// buffer reused from batch to batch, 4-byte words read through a DataView, nothing
// allocated per call but the result. Format (google/snappy format_description.txt): the
// uncompressed length as a varint, then elements: a literal (tag 00, the length minus one in
// the tag or in the 1..4 bytes after it, then the bytes) or a copy of earlier output (tag 01:
// length 4..11 and an offset below 2048 in two bytes; tag 10: length 1..64 and a 16-bit offset).
// The input is taken in blocks of 64 KiB, as the reference encoder does, so every offset fits
// 16 bits.

const BLOCK = 1 << 16;
const HASH_BITS = 14;
const HASH_SHIFT = 32 - HASH_BITS;
/** Bytes at the end of a block where no match is started (a match needs 4 to compare, plus slack). */
const MARGIN = 15;

/** Worst case output for `n` input bytes (the reference encoder's bound). */
export function maxCompressedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

export class SnappyCompressor {
  /** Position + 1 of the last 4 bytes seen with each hash (0: none), absolute in the input. */
  private readonly table = new Int32Array(1 << HASH_BITS);
  private out = Buffer.allocUnsafe(64 * 1024);

  /**
   * The compressed form of `input` in a buffer of its own (the scratch space is reused by the
   * next call; the result is not).
   */
  compress(input: Uint8Array): Buffer {
    const n = input.length;
    this.reserve(maxCompressedLength(n));
    const out = this.out;
    let op = 0;
    // The uncompressed length, as a varint.
    let v = n;
    while (v >= 0x80) {
      out[op++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[op++] = v;
    this.table.fill(0);
    const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
    for (let start = 0; start < n; start += BLOCK) op = this.block(input, view, start, Math.min(n, start + BLOCK), op);
    return Buffer.from(out.subarray(0, op)); // a copy: `out` is written again by the next call
  }

  /** Compresses input[start, end) (at most 64 KiB) to out at `op`; returns the new end of out. */
  private block(input: Uint8Array, view: DataView, start: number, end: number, op: number): number {
    const table = this.table;
    let emitFrom = start; // first byte not yet written out (as literal or copy)
    if (end - start >= MARGIN) {
      const limit = end - MARGIN;
      let ip = start + 1;
      while (ip <= limit) {
        // Find a 4-byte match, looking further apart the longer nothing matches (incompressible data goes fast).
        let candidate = -1;
        let skip = 32;
        for (;;) {
          const word = view.getUint32(ip, true);
          const h = Math.imul(word, 0x1e35a7bd) >>> HASH_SHIFT;
          const c = table[h]! - 1;
          table[h] = ip + 1;
          if (c >= start && view.getUint32(c, true) === word) {
            candidate = c;
            break;
          }
          ip += skip++ >> 5;
          if (ip > limit) break;
        }
        if (candidate < 0) break;
        op = this.literal(input, emitFrom, ip, op);
        // Emit the match and any match that follows right after it.
        for (;;) {
          // Four bytes at a time while they fit, then byte by byte.
          let len = 4;
          while (ip + len + 4 <= end && view.getUint32(ip + len, true) === view.getUint32(candidate + len, true)) len += 4;
          while (ip + len < end && input[ip + len] === input[candidate + len]) len++;
          op = this.copy(ip - candidate, len, op);
          ip += len;
          emitFrom = ip;
          if (ip > limit) break;
          // Remember the position before, then try the current one.
          table[Math.imul(view.getUint32(ip - 1, true), 0x1e35a7bd) >>> HASH_SHIFT] = ip;
          const word = view.getUint32(ip, true);
          const h = Math.imul(word, 0x1e35a7bd) >>> HASH_SHIFT;
          candidate = table[h]! - 1;
          table[h] = ip + 1;
          if (candidate < start || view.getUint32(candidate, true) !== word) break;
        }
        ip++;
      }
    }
    return this.literal(input, emitFrom, end, op);
  }

  /** Writes input[from, to) as literal elements. */
  private literal(input: Uint8Array, from: number, to: number, op: number): number {
    const len = to - from;
    if (len <= 0) return op;
    const out = this.out;
    const m = len - 1;
    if (m < 60) {
      out[op++] = m << 2;
    } else if (m < 0x100) {
      out[op++] = 60 << 2;
      out[op++] = m;
    } else if (m < 0x10000) {
      out[op++] = 61 << 2;
      out[op++] = m & 0xff;
      out[op++] = m >>> 8;
    } else {
      out[op++] = 62 << 2; // a block is 64 KiB at most: three length bytes always suffice
      out[op++] = m & 0xff;
      out[op++] = (m >>> 8) & 0xff;
      out[op++] = m >>> 16;
    }
    if (len < 32) {
      for (let i = 0; i < len; i++) out[op + i] = input[from + i]!;
    } else {
      out.set(input.subarray(from, to), op);
    }
    return op + len;
  }

  /** Writes a copy of `len` bytes from `offset` back (offset < 65536), in pieces of at most 64. */
  private copy(offset: number, len: number, op: number): number {
    const out = this.out;
    while (len >= 68) {
      op = this.copyPiece(out, offset, 64, op);
      len -= 64;
    }
    if (len > 64) {
      op = this.copyPiece(out, offset, 60, op); // leaves at least 4 for the last piece
      len -= 60;
    }
    return this.copyPiece(out, offset, len, op);
  }

  private copyPiece(out: Buffer, offset: number, len: number, op: number): number {
    if (len < 12 && offset < 2048) {
      out[op] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5);
      out[op + 1] = offset & 0xff;
      return op + 2;
    }
    out[op] = 2 | ((len - 1) << 2);
    out[op + 1] = offset & 0xff;
    out[op + 2] = offset >>> 8;
    return op + 3;
  }

  private reserve(n: number): void {
    if (this.out.length >= n) return;
    this.out = Buffer.allocUnsafe(Math.max(n, this.out.length * 2));
  }
}
