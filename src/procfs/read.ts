// Small readers for procfs text formats.
import { readFileSync } from 'node:fs';

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

/**
 * Parses the header/value line pairs of /proc/net/snmp, /proc/net/netstat and
 * /proc/net/snmp6-less siblings ("Tcp: RtoAlgorithm RtoMin ...\nTcp: 1 200 ...")
 * into `Section:Field` → value. Values are read in place, character by character: this runs
 * for some 300 fields per namespace and cycle, and splitting each line into strings first
 * was most of its cost.
 */
export function parseSnmp(text: string, into = new Map<string, number>()): Map<string, number> {
  let at = 0;
  for (;;) {
    const headerEnd = text.indexOf('\n', at);
    if (headerEnd < 0) return into; // a header line needs a values line after it
    let valuesEnd = text.indexOf('\n', headerEnd + 1);
    if (valuesEnd < 0) valuesEnd = text.length;
    readValues(text, headerEnd + 1, valuesEnd, keysOf(text.slice(at, headerEnd)), into);
    if (valuesEnd === text.length) return into;
    at = valuesEnd + 1;
  }
}

/** Whitespace as `\s` has it in the ASCII range (space, \t \n \v \f \r). */
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
const isBlank = (c: number): boolean => c === 32;

/**
 * The values line `text[from, to)` split into fields as `line.split(' ')` does when that gives
 * one field per key (the kernel's own layout), else as `line.split(/\s+/)`; field k (k > 0)
 * goes to keys[k] when that is not empty.
 */
function readValues(text: string, from: number, to: number, keys: readonly string[], into: Map<string, number>): void {
  let fields = 1;
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === 32) fields++;
  const separator = fields === keys.length ? isBlank : isSpace;
  let k = 0;
  let i = from;
  for (;;) {
    const start = i;
    while (i < to && !separator(text.charCodeAt(i))) i++;
    if (k > 0 && keys[k]) into.set(keys[k]!, fieldNumber(text, start, i));
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
  return readFileSync(path, 'utf8');
}
