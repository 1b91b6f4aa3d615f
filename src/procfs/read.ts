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
 * into `Section:Field` → value.
 */
export function parseSnmp(text: string, into = new Map<string, number>()): Map<string, number> {
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const keys = keysOf(lines[i]!);
    let values = lines[i + 1]!.split(' ');
    if (values.length !== keys.length) values = lines[i + 1]!.split(/\s+/);
    for (let k = 1; k < keys.length && k < values.length; k++) {
      if (keys[k]) into.set(keys[k]!, Number(values[k]));
    }
  }
  return into;
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
