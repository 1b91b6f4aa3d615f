// Small readers for procfs text formats.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

/** `Section:Field` keys of each header line seen: every namespace's files have the same few. */
const headerKeys = new Map<string, string[]>();

function keysOf(header: string): string[] {
  let keys = headerKeys.get(header);
  if (!keys) {
    const names = header.split(/\s+/);
    const section = names[0]!.replace(/:$/, '');
    keys = names.map((n, k) => (k > 0 && n ? `${section}:${n}` : ''));
    // Bounded: a kernel has a handful of sections; never grow without limit on odd input.
    if (headerKeys.size < 256) headerKeys.set(header, keys);
  }
  return keys;
}

/** Counters of a procfs file by `Section:Field` (undefined: the file has no such field). */
export interface Counters {
  get(key: string): number | undefined;
}

/**
 * Where each `Section:Field` of one set of header lines is in the values: a position, or the
 * positions of a key the headers name more than once (the last one present wins, as in a Map
 * filled line by line).
 */
interface Layout {
  /** The header lines it was made from, and the keys of each. */
  headers: string[];
  keys: string[][];
  index: Map<string, number | number[]>;
  size: number;
}

/** Layouts by the header lines of a file: a kernel has one per file (snmp, netstat). */
const layouts = new Map<string, Layout>();

function layoutOf(headers: readonly string[]): Layout {
  const id = headers.join('\n');
  let layout = layouts.get(id);
  if (!layout) {
    const index = new Map<string, number | number[]>();
    let size = 0;
    for (const header of headers) {
      const keys = keysOf(header);
      keys.forEach((key, k) => {
        if (!key) return;
        const before = index.get(key);
        index.set(key, before === undefined ? size + k : [...(typeof before === 'number' ? [before] : before), size + k]);
      });
      size += keys.length;
    }
    layout = { headers: [...headers], keys: headers.map(keysOf), index, size };
    // Bounded as the header cache is.
    if (layouts.size < 64) layouts.set(id, layout);
  }
  return layout;
}

/**
 * The known layout whose header lines `text` has at `lines` (header from, header to, ...),
 * compared in place: no copy of a header line nor a hash of one for a file seen before.
 */
function knownLayout(text: string, lines: readonly number[]): Layout | undefined {
  const count = lines.length / 4;
  next: for (const layout of layouts.values()) {
    if (layout.headers.length !== count) continue;
    for (let h = 0; h < count; h++) {
      const header = layout.headers[h]!;
      const from = lines[4 * h]!;
      if (lines[4 * h + 1]! - from !== header.length || !text.startsWith(header, from)) continue next;
    }
    return layout;
  }
  return undefined;
}

/** One file's values in the positions of its layout. */
export class SnmpCounters implements Counters {
  constructor(
    private readonly layout: Layout,
    private readonly values: Float64Array,
    private readonly present: Uint8Array,
  ) {}

  get(key: string): number | undefined {
    const at = this.layout.index.get(key);
    if (at === undefined) return undefined;
    if (typeof at === 'number') return this.present[at] ? this.values[at] : undefined;
    for (let i = at.length - 1; i >= 0; i--) if (this.present[at[i]!]) return this.values[at[i]!];
    return undefined;
  }

  /** Every field the file had a value for, in file order. */
  *entries(): IterableIterator<[string, number]> {
    for (const key of this.layout.index.keys()) {
      const v = this.get(key);
      if (v !== undefined) yield [key, v];
    }
  }
}

/**
 * Parses the header/value line pairs of /proc/net/snmp, /proc/net/netstat and
 * /proc/net/snmp6-less siblings ("Tcp: RtoAlgorithm RtoMin ...\nTcp: 1 200 ...") into
 * `Section:Field` → value. Some 300 fields per namespace and cycle: the values are read in
 * place, character by character, into one array laid out once per set of header lines,
 * rather than split into strings and set one by one into a new map.
 */
export function parseSnmp(text: string): SnmpCounters {
  const lines: number[] = []; // per pair: header from, header to, values from, values to
  for (let at = 0; ; ) {
    const headerEnd = text.indexOf('\n', at);
    if (headerEnd < 0) break; // a header line needs a values line after it
    let valuesEnd = text.indexOf('\n', headerEnd + 1);
    if (valuesEnd < 0) valuesEnd = text.length;
    lines.push(at, headerEnd, headerEnd + 1, valuesEnd);
    if (valuesEnd === text.length) break;
    at = valuesEnd + 1;
  }
  const layout = knownLayout(text, lines) ?? layoutOf(lines.filter((_, i) => i % 4 === 0).map((from, h) => text.slice(from, lines[4 * h + 1])));
  const values = new Float64Array(layout.size);
  const present = new Uint8Array(layout.size);
  let base = 0;
  for (let h = 0; h < layout.keys.length; h++) {
    const keys = layout.keys[h]!;
    readValues(text, lines[4 * h + 2]!, lines[4 * h + 3]!, keys, values, present, base);
    base += keys.length;
  }
  return new SnmpCounters(layout, values, present);
}

/** Whitespace as `\s` has it in the ASCII range (space, \t \n \v \f \r). */
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
const isBlank = (c: number): boolean => c === 32;

/**
 * The values line `text[from, to)` split into fields as `line.split(' ')` does when that gives
 * one field per key (the kernel's own layout), else as `line.split(/\s+/)`; field k (k > 0)
 * of a non-empty keys[k] goes to values[base + k].
 */
function readValues(text: string, from: number, to: number, keys: readonly string[], values: Float64Array, present: Uint8Array, base: number): void {
  let fields = 1;
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === 32) fields++;
  const separator = fields === keys.length ? isBlank : isSpace;
  let k = 0;
  let i = from;
  for (;;) {
    const start = i;
    while (i < to && !separator(text.charCodeAt(i))) i++;
    if (k > 0 && keys[k]) {
      values[base + k] = fieldNumber(text, start, i);
      present[base + k] = 1;
    }
    if (i >= to || ++k >= keys.length) return;
    // One separator ends a field of split(' '); a run of them ends one of split(/\s+/).
    i++;
    if (separator === isSpace) while (i < to && isSpace(text.charCodeAt(i))) i++;
  }
}

/** Number(text.slice(start, end)), without the slice for the plain integers the kernel writes. */
function fieldNumber(text: string, start: number, end: number): number {
  const negative = text.charCodeAt(start) === 45; // '-'
  const first = negative ? start + 1 : start;
  // Up to 15 digits a double holds exactly; longer, signs alone or anything else: as Number does.
  if (end === first || end - first > 15) return Number(text.slice(start, end));
  let v = 0;
  for (let i = first; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number(text.slice(start, end));
    v = v * 10 + d;
  }
  return negative ? -v : v;
}

/** Parses "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1" lines (sockstat) into `TCP:inuse` → 5. */
export function parseKeyValueLines(text: string, out = new Map<string, number>()): Map<string, number> {
  for (const line of text.split('\n')) {
    const [section, ...rest] = line.trim().split(/\s+/);
    if (!section || rest.length < 2) continue;
    const name = section.replace(/:$/, '');
    for (let k = 0; k + 1 < rest.length; k += 2) out.set(`${name}:${rest[k]}`, Number(rest[k + 1]));
  }
  return out;
}

/**
 * Reads a procfs file. Synchronously on purpose: procfs is memory, a read takes microseconds,
 * while fs/promises costs four thread-pool round trips per file, which measured as most of a
 * collection cycle's CPU with a hundred namespaces (bench/).
 */
export async function readText(path: string): Promise<string> {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    // procfs files report no size: readFileSync then reads in chunks and joins them. Most are
    // a few kB: read into a buffer kept for it, until end of file (a read of a seq_file can
    // stop at a page before the end); a file that fills it is read whole.
    for (let n = 0; n < readBuffer.length; ) {
      const got = readSync(fd, readBuffer, n, readBuffer.length - n, null);
      if (got === 0) return readBuffer.toString('utf8', 0, n);
      n += got;
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return readFileSync(path, 'utf8');
}

const readBuffer = Buffer.allocUnsafe(64 * 1024);
