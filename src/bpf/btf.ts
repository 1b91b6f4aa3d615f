// Checks of what userspace reads from a BPF object's own BTF (src/bpf/addon.ts btfStruct,
// btfEnum): layouts are taken by member name, and a member that is missing or has another size
// than the reader expects is an error that names it, never a silent misread.
import type { BtfStruct } from './addon.js';

/**
 * Byte offsets of the members of struct `name` that `sizes` lists, each checked to exist, not
 * to be a bitfield, and to be as many bytes as given (undefined: any size). `reader` says who
 * reads them, for the error.
 */
export function memberOffsets<K extends string>(name: string, s: BtfStruct, sizes: Record<K, number | undefined>, reader: string): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const member of Object.keys(sizes) as K[]) {
    const m = s.members.find((x) => x.name === member);
    if (!m) throw new Error(`struct ${name} has no member ${member} (${reader} reads it)`);
    if (m.bits !== undefined) throw new Error(`struct ${name} member ${member} is a bitfield (${reader} reads it as bytes)`);
    const want = sizes[member];
    if (want !== undefined && m.size !== want) throw new Error(`struct ${name} member ${member} is ${m.size} bytes, ${reader} reads ${want}`);
    out[member] = m.offset;
  }
  return out;
}

/** Value of each member of an enum read from BTF ([value, name] pairs), `prefix` stripped from the names. */
export function enumMap(pairs: readonly [number, string][], prefix = ''): Map<string, number> {
  return new Map(pairs.map(([value, name]) => [name.startsWith(prefix) ? name.slice(prefix.length) : name, value]));
}

/** The values of `names` in enum `name` (a Map from enumMap); throws naming a missing one. */
export function enumValues<K extends string>(name: string, members: ReadonlyMap<string, number>, names: readonly K[], reader: string): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const n of names) {
    const v = members.get(n);
    if (v === undefined) throw new Error(`enum ${name} has no ${n} (${reader} uses it)`);
    out[n] = v;
  }
  return out;
}
