// Kernel stack symbolization from /proc/kallsyms: read once (on the first stack to name),
// then a binary search per address, with names cached per address.
//
// The table is kept compact: the file (5 MB, 120k text symbols on a common kernel) is read in
// chunks and never held as one string, the addresses go into typed arrays and the names
// into one latin1 Buffer with their offsets, so the table costs about 4 MB instead of the
// 11 MB the file's text and a string per name held, and loading it no longer makes a 25 MB
// spike of lines and entry objects.
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 64 * 1024;
const NL = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;

interface Table {
  /** Addresses as their high and low 32 bits: parsed and compared without a BigInt each. */
  hi: Uint32Array;
  lo: Uint32Array;
  /** Name i is names[starts[i]] .. names[starts[i + 1]] (latin1). */
  starts: Uint32Array;
  names: Buffer;
}

/** A growable byte buffer: the names as they are read. */
class Bytes {
  buf = Buffer.allocUnsafe(1 << 20);
  length = 0;
  push(src: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.length + n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    src.copy(this.buf, this.length, from, to);
    this.length += n;
  }
}

/** Text symbols (`t`/`T`) of a kallsyms file, sorted by address; an unreadable file gives none. */
function readTable(file: string): Table {
  let hi = new Uint32Array(1 << 17);
  let lo = new Uint32Array(1 << 17);
  let starts = new Uint32Array(1 << 17);
  let count = 0;
  const names = new Bytes();
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { hi: new Uint32Array(0), lo: new Uint32Array(0), starts: new Uint32Array(1), names: Buffer.alloc(0) };
  }
  // One line: "ffffffff81000000 T _stext" or "ffffffffc0a01000 t foo\t[module]".
  const line = (b: Buffer, from: number, to: number): void => {
    const sp1 = b.indexOf(SPACE, from);
    if (sp1 < 0 || sp1 + 3 > to) return;
    const type = b[sp1 + 1];
    if (type !== 0x74 && type !== 0x54) return; // 't', 'T'
    if (sp1 - from > 16) return;
    let h = 0;
    let l = 0;
    for (let i = from; i < sp1; i++) {
      const d = hexDigit(b[i]!);
      if (d < 0) return;
      h = ((h << 4) | (l >>> 28)) >>> 0;
      l = ((l << 4) | d) >>> 0;
    }
    if (h === 0 && l === 0) return; // kptr_restrict hides addresses from this reader
    let end = b.indexOf(TAB, sp1 + 3);
    if (end < 0 || end > to) end = to;
    if (count === hi.length) {
      hi = grown(hi, count * 2);
      lo = grown(lo, count * 2);
      starts = grown(starts, count * 2);
    }
    hi[count] = h;
    lo[count] = l;
    starts[count++] = names.length;
    names.push(b, sp1 + 3, end);
  };
  try {
    let buf = Buffer.allocUnsafe(CHUNK);
    let held = 0; // bytes of an unfinished line at the start of buf
    for (;;) {
      if (held === buf.length) { // a line longer than the buffer
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, held);
        buf = bigger;
      }
      const n = readSync(fd, buf, held, buf.length - held, null);
      const filled = held + n;
      let from = 0;
      for (let nl = buf.indexOf(NL, from); nl >= 0 && nl < filled; nl = buf.indexOf(NL, from)) {
        line(buf, from, nl);
        from = nl + 1;
      }
      if (n === 0) {
        if (from < filled) line(buf, from, filled);
        break;
      }
      buf.copy(buf, 0, from, filled);
      held = filled - from;
    }
  } catch {
    // unreadable midway: what was read is kept
  } finally {
    closeSync(fd);
  }
  return sortedTable(hi.subarray(0, count), lo.subarray(0, count), starts.subarray(0, count), names);
}

function grown(from: Uint32Array, length: number): Uint32Array<ArrayBuffer> {
  const to = new Uint32Array(length);
  to.set(from);
  return to;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** -1, 0 or 1 as address i of (hi, lo) is below, at or above (h, l). */
function compare(hi: Uint32Array, lo: Uint32Array, i: number, h: number, l: number): number {
  return hi[i]! !== h ? (hi[i]! < h ? -1 : 1) : lo[i]! !== l ? (lo[i]! < l ? -1 : 1) : 0;
}

/** The table in address order (the file is in address order but for a few module symbols). */
function sortedTable(hi: Uint32Array, lo: Uint32Array, starts: Uint32Array, names: Bytes): Table {
  const n = hi.length;
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = compare(hi, lo, i - 1, hi[i]!, lo[i]!) <= 0;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!sorted) order.sort((a, b) => compare(hi, lo, a, hi[b]!, lo[b]!) || a - b);
  const table: Table = { hi: new Uint32Array(n), lo: new Uint32Array(n), starts: new Uint32Array(n + 1), names: Buffer.allocUnsafe(names.length) };
  let at = 0;
  for (let i = 0; i < n; i++) {
    const j = order[i]!;
    table.hi[i] = hi[j]!;
    table.lo[i] = lo[j]!;
    table.starts[i] = at;
    const end = j + 1 < n ? starts[j + 1]! : names.length;
    at += names.buf.copy(table.names, at, starts[j]!, end);
  }
  table.starts[n] = at;
  return table;
}

export class Kallsyms {
  private table?: Table;
  private readonly cache = new Map<bigint, string>();

  constructor(private readonly file = '/proc/kallsyms') {}

  /** Text symbols loaded (0 before the first lookup or when the file cannot be read). */
  get size(): number {
    return this.table?.hi.length ?? 0;
  }

  /** `function+0xoffset`, or the address in hex when no symbol covers it. */
  symbolize(addr: bigint): string {
    const hit = this.cache.get(addr);
    if (hit !== undefined) return hit;
    const t = (this.table ??= readTable(this.file));
    const h = Number(addr >> 32n);
    const l = Number(addr & 0xffffffffn);
    let lo = 0;
    let hi = t.hi.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (compare(t.hi, t.lo, mid, h, l) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    const name = found < 0
      ? `0x${addr.toString(16)}`
      : `${t.names.toString('latin1', t.starts[found]!, t.starts[found + 1]!)}+0x${(addr - ((BigInt(t.hi[found]!) << 32n) | BigInt(t.lo[found]!))).toString(16)}`;
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(addr, name);
    return name;
  }
}
