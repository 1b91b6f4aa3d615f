// Deterministic mutators: the byte-level ones of coverage-less fuzzers (bit flips, interesting
// bytes, inserts, deletes, truncation, duplicated ranges, length fields set to edge values,
// splicing with another seed), a line/token level one for text formats, and one that
// rewrites values inside a JSON document so the mutation survives the JSON parser.
import type { Rng } from './prng.js';

const INTERESTING_U8 = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x0a, 0x00];
const INTERESTING_U16 = [0, 1, 3, 4, 5, 8, 0x7fff, 0x8000, 0xffff, 0x0100];
const INTERESTING_U32 = [0, 1, 4, 15, 16, 17, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000];

type ByteOp = (rng: Rng, b: Buffer, corpus: readonly Buffer[]) => Buffer;

const BYTE_OPS: ByteOp[] = [
  // a bit flip
  (rng, b) => {
    if (!b.length) return b;
    const c = Buffer.from(b);
    c[rng.int(c.length)] ^= 1 << rng.int(8);
    return c;
  },
  // an interesting byte
  (rng, b) => {
    if (!b.length) return b;
    const c = Buffer.from(b);
    c[rng.int(c.length)] = rng.pick(INTERESTING_U8);
    return c;
  },
  // random bytes inserted
  (rng, b) => {
    const at = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 16)), b.subarray(at)]);
  },
  // a range deleted
  (rng, b) => {
    if (!b.length) return b;
    const at = rng.int(b.length);
    const n = rng.range(1, Math.min(64, b.length - at));
    return Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
  },
  // truncated
  (rng, b) => b.subarray(0, rng.int(b.length + 1)),
  // a range duplicated
  (rng, b) => {
    if (!b.length) return b;
    const at = rng.int(b.length);
    const n = rng.range(1, Math.min(256, b.length - at));
    const to = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, to), b.subarray(at, at + n), b.subarray(to)]);
  },
  // a length field (u16 or u32, little-endian, aligned as netlink and BPF records are) set to an edge value
  (rng, b) => {
    const c = Buffer.from(b);
    const wide = rng.chance(0.5);
    const size = wide ? 4 : 2;
    if (c.length < size) return c;
    const at = rng.int(Math.floor(c.length / size)) * size;
    if (at + size > c.length) return c;
    const old = wide ? c.readUInt32LE(at) : c.readUInt16LE(at);
    const edges = [...(wide ? INTERESTING_U32 : INTERESTING_U16), old + 1, old - 1, old + 4, old - 4, c.length - at, c.length - at + 1];
    const v = rng.pick(edges) & (wide ? 0xffffffff : 0xffff);
    if (wide) c.writeUInt32LE(v >>> 0, at);
    else c.writeUInt16LE(v, at);
    return c;
  },
  // spliced with another seed
  (rng, b, corpus) => {
    const other = rng.pick(corpus.length ? corpus : [b]);
    return Buffer.concat([b.subarray(0, rng.int(b.length + 1)), other.subarray(rng.int(other.length + 1))]);
  },
  // a block of another seed copied over
  (rng, b, corpus) => {
    const other = rng.pick(corpus.length ? corpus : [b]);
    if (!b.length || !other.length) return b;
    const c = Buffer.from(b);
    const from = rng.int(other.length);
    other.copy(c, rng.int(c.length), from, from + rng.range(1, 64));
    return c;
  },
];

/** `b` with 1 to `maxOps` byte-level mutations. */
export function mutateBytes(rng: Rng, b: Buffer, corpus: readonly Buffer[] = [], maxOps = 4): Buffer {
  let out = b;
  for (let n = rng.range(1, maxOps); n > 0; n--) out = rng.pick(BYTE_OPS)(rng, out, corpus);
  return out;
}

/** Tokens that break text parsers in practice: signs, huge and odd numbers, separators, YAML indicators. */
export const TOKENS = [
  '-1', '0', '-0', '1e308', '1e309', '99999999999999999999999', 'NaN', 'Infinity', '0x10', '0o7', '.5', '1_000',
  '', ' ', '\t', '\n', '\r\n', ':', '::', '-', '- ', '#', '\0', '\ufeff', '\u2028', 'é', '🙂',
  '{', '}', '[', ']', '"', "'", '\\', '&a', '*a', '!!binary', '!!str', '%YAML 1.2', '---', '...', '? ', '|', '>', '<<: *a',
  'null', '~', 'true', 'no', 'on', '__proto__', 'constructor', 'toString', 'a'.repeat(300),
];

/** `text` mutated: byte-level half the time, else lines duplicated, dropped or swapped and tokens put in. */
export function mutateText(rng: Rng, text: string, corpus: readonly string[] = [], maxOps = 4): string {
  if (rng.chance(0.4)) return mutateBytes(rng, Buffer.from(text), corpus.map((t) => Buffer.from(t)), maxOps).toString('utf8');
  let lines = text.split('\n');
  for (let n = rng.range(1, maxOps); n > 0; n--) {
    const i = rng.int(lines.length);
    switch (rng.int(6)) {
      case 0: lines.splice(i, 0, lines[rng.int(lines.length)] ?? ''); break;
      case 1: lines.splice(i, 1); break;
      case 2: { const j = rng.int(lines.length); [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? '']; break; }
      case 3: {
        // a token at a random place of a line, or in place of a word
        const line = lines[i] ?? '';
        const words = line.split(/(\s+)/);
        const w = rng.int(words.length);
        if (rng.chance(0.5)) words[w] = rng.pick(TOKENS);
        else words.splice(w, 0, rng.pick(TOKENS));
        lines[i] = words.join('');
        break;
      }
      case 4: {
        // a line of another seed
        const other = rng.pick(corpus.length ? corpus : [text]).split('\n');
        lines.splice(i, 0, other[rng.int(other.length)] ?? '');
        break;
      }
      default: lines = lines.slice(0, rng.int(lines.length + 1)); // truncated at a line
    }
  }
  return lines.join('\n');
}

/** A random JSON-ish value: every type, edge numbers, long strings, nesting. */
export function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 5 : 7)) {
    case 0: return null;
    case 1: return rng.pick([0, -1, 1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 4294967296, 65536]);
    case 2: return rng.pick(TOKENS);
    case 3: return rng.chance(0.5);
    case 4: return rng.int(100000);
    case 5: return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default: return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.pick(['a', 'name', 'items', 'metadata', 'type', 'object', '__proto__', '']), randomValue(rng, depth + 1)]));
  }
}

/** A deep copy of `v` with 1 to 3 places replaced, deleted or added. */
export function mutateJson(rng: Rng, v: unknown): unknown {
  const holder = { root: structuredClone(v) };
  for (let n = rng.range(1, 3); n > 0; n--) {
    // Walk down a random path and change what is there.
    let parent: unknown = holder;
    let key: string | number = 'root';
    for (let d = 0; d < 8; d++) {
      const cur = (parent as Record<string | number, unknown>)[key];
      if (cur === null || typeof cur !== 'object' || rng.chance(0.25)) break;
      const keys: (string | number)[] = Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur);
      if (!keys.length) break;
      parent = cur;
      key = rng.pick(keys);
    }
    const p = parent as Record<string | number, unknown>;
    const op = rng.int(4);
    if (op === 0 && !Array.isArray(p) && p !== holder) delete p[key];
    else if (op === 1 && Array.isArray(p)) p.push(structuredClone(p[rng.int(p.length)]));
    // defineProperty: a key named __proto__ stays a key rather than becoming the prototype
    else Object.defineProperty(p, key, { value: randomValue(rng), enumerable: true, writable: true, configurable: true });
  }
  return holder.root;
}
