// Kernel stack symbolization from /proc/kallsyms: read once (on the first stack to name),
// then a binary search per address, with names cached per address.
//
// The table is kept compact: the file (5 MB, 120k text symbols on a common kernel) is read in
// 64 kB chunks and never held as one string; addresses and name offsets go into typed arrays
// and the names into latin1 buffers, each filled in blocks that are never copied or regrown,
// so the table holds about 4.5 MB instead of the 11 MB the file's text and a string per name
// held, and loading it leaves no garbage of that size behind (the old way made a 25 MB spike of
// lines and entry objects at the first drop).
import { closeSync, openSync, readSync } from 'node:fs';

const READ_CHUNK = 64 * 1024;
const ENTRIES_PER_BLOCK = 1 << 14;
const NAME_BLOCK_BYTES = 256 * 1024;
/** The kernel's KSYM_NAME_LEN (512, with the NUL): no symbol name is longer. */
const MAX_NAME = 511;
const NL = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;

/** Text symbols in file order, stored in fixed blocks. */
class Table {
  /** Addresses as their high and low 32 bits: parsed and compared without a BigInt each. */
  private readonly hi: Uint32Array[] = [];
  private readonly lo: Uint32Array[] = [];
  /** Name i: nameLen[i] bytes from nameAt[i], an offset into the name blocks laid end to end. */
  private readonly nameAt: Uint32Array[] = [];
  private readonly nameLen: Uint16Array[] = [];
  private readonly names: Buffer[] = [];
  private nameUsed = NAME_BLOCK_BYTES;
  size = 0;
  /** Position in address order → entry, when the file was not in address order. */
  order?: Uint32Array;

  add(h: number, l: number, src: Buffer, from: number, to: number): void {
    const b = this.size >>> 14;
    const i = this.size & (ENTRIES_PER_BLOCK - 1);
    if (i === 0) {
      this.hi.push(new Uint32Array(ENTRIES_PER_BLOCK));
      this.lo.push(new Uint32Array(ENTRIES_PER_BLOCK));
      this.nameAt.push(new Uint32Array(ENTRIES_PER_BLOCK));
      this.nameLen.push(new Uint16Array(ENTRIES_PER_BLOCK));
    }
    const len = Math.min(to - from, MAX_NAME);
    if (this.nameUsed + len > NAME_BLOCK_BYTES) {
      this.names.push(Buffer.allocUnsafe(NAME_BLOCK_BYTES));
      this.nameUsed = 0;
    }
    this.hi[b]![i] = h;
    this.lo[b]![i] = l;
    this.nameAt[b]![i] = (this.names.length - 1) * NAME_BLOCK_BYTES + this.nameUsed;
    this.nameLen[b]![i] = len;
    this.nameUsed += src.copy(this.names[this.names.length - 1]!, this.nameUsed, from, from + len);
    this.size++;
  }

  /** -1, 0 or 1 as entry e's address is below, at or above (h, l). */
  compare(e: number, h: number, l: number): number {
    const eh = this.hi[e >>> 14]![e & (ENTRIES_PER_BLOCK - 1)]!;
    if (eh !== h) return eh < h ? -1 : 1;
    const el = this.lo[e >>> 14]![e & (ENTRIES_PER_BLOCK - 1)]!;
    return el !== l ? (el < l ? -1 : 1) : 0;
  }

  address(e: number): bigint {
    const b = e >>> 14;
    const i = e & (ENTRIES_PER_BLOCK - 1);
    return (BigInt(this.hi[b]![i]!) << 32n) | BigInt(this.lo[b]![i]!);
  }

  name(e: number): string {
    const b = e >>> 14;
    const i = e & (ENTRIES_PER_BLOCK - 1);
    const at = this.nameAt[b]![i]! % NAME_BLOCK_BYTES;
    const block = this.names[Math.floor(this.nameAt[b]![i]! / NAME_BLOCK_BYTES)]!;
    return block.toString('latin1', at, at + this.nameLen[b]![i]!);
  }

  /** Entry at position p in address order. */
  entryAt(p: number): number {
    return this.order ? this.order[p]! : p;
  }

  /** Orders the entries by address (the file is in address order but on odd kernels). */
  sort(): void {
    let sorted = true;
    for (let e = 1; e < this.size && sorted; e++) sorted = this.compare(e - 1, this.hiOf(e), this.loOf(e)) <= 0;
    if (sorted) return;
    const order = new Uint32Array(this.size);
    for (let e = 0; e < this.size; e++) order[e] = e;
    this.order = order.sort((a, b) => this.compare(a, this.hiOf(b), this.loOf(b)) || a - b);
  }

  hiOf(e: number): number {
    return this.hi[e >>> 14]![e & (ENTRIES_PER_BLOCK - 1)]!;
  }

  loOf(e: number): number {
    return this.lo[e >>> 14]![e & (ENTRIES_PER_BLOCK - 1)]!;
  }
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Text symbols (`t`/`T`) of a kallsyms file, sorted by address; an unreadable file gives none. */
function readTable(file: string): Table {
  const table = new Table();
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return table;
  }
  // One line: "ffffffff81000000 T _stext" or "ffffffffc0a01000 t foo\t[module]".
  const line = (b: Buffer, from: number, to: number): void => {
    const sp1 = b.indexOf(SPACE, from);
    if (sp1 < 0 || sp1 + 3 > to || sp1 - from > 16) return;
    const type = b[sp1 + 1];
    if (type !== 0x74 && type !== 0x54) return; // 't', 'T'
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
    table.add(h, l, b, sp1 + 3, end);
  };
  try {
    let buf = Buffer.allocUnsafe(READ_CHUNK);
    let held = 0; // bytes of an unfinished line at the start of buf
    for (;;) {
      if (held === buf.length) { // a line longer than the buffer (not from a kernel)
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
  table.sort();
  return table;
}

export class Kallsyms {
  private table?: Table;
  private readonly cache = new Map<bigint, string>();

  constructor(private readonly file = '/proc/kallsyms') {}

  /** Text symbols loaded (0 before the first lookup or when the file cannot be read). */
  get size(): number {
    return this.table?.size ?? 0;
  }

  /** `function+0xoffset`, or the address in hex when no symbol covers it. */
  symbolize(addr: bigint): string {
    const hit = this.cache.get(addr);
    if (hit !== undefined) return hit;
    const t = (this.table ??= readTable(this.file));
    const h = Number(addr >> 32n);
    const l = Number(addr & 0xffffffffn);
    let lo = 0;
    let hi = t.size - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (t.compare(t.entryAt(mid), h, l) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    let name: string;
    if (found < 0) {
      name = `0x${addr.toString(16)}`;
    } else {
      const e = t.entryAt(found);
      name = `${t.name(e)}+0x${(addr - t.address(e)).toString(16)}`;
    }
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(addr, name);
    return name;
  }
}
