// Kernel stack symbolization from /proc/kallsyms: read once (on the first stack to name),
// then a binary search per address, with names cached per address.
import { readFileSync } from 'node:fs';

export class Kallsyms {
  private addrs?: BigUint64Array;
  private names: string[] = [];
  private readonly cache = new Map<bigint, string>();

  constructor(private readonly file = '/proc/kallsyms') {}

  private load(): void {
    const entries: { addr: bigint; name: string }[] = [];
    let text = '';
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      // unreadable: addresses stay hex
    }
    for (const line of text.split('\n')) {
      // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t foo\t[module]"
      const sp1 = line.indexOf(' ');
      const type = line[sp1 + 1];
      if (sp1 < 0 || (type !== 't' && type !== 'T')) continue;
      const addr = BigInt(`0x${line.slice(0, sp1)}`);
      if (addr === 0n) continue; // kptr_restrict hides addresses from this reader
      const rest = line.slice(sp1 + 3);
      const tab = rest.indexOf('\t');
      entries.push({ addr, name: tab < 0 ? rest : rest.slice(0, tab) });
    }
    entries.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    this.addrs = BigUint64Array.from(entries.map((e) => e.addr));
    this.names = entries.map((e) => e.name);
  }

  /** `function+0xoffset`, or the address in hex when no symbol covers it. */
  symbolize(addr: bigint): string {
    const hit = this.cache.get(addr);
    if (hit !== undefined) return hit;
    if (!this.addrs) this.load();
    const addrs = this.addrs!;
    let lo = 0;
    let hi = addrs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (addrs[mid]! <= addr) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    const name = found < 0 ? `0x${addr.toString(16)}` : `${this.names[found]}+0x${(addr - addrs[found]!).toString(16)}`;
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(addr, name);
    return name;
  }
}
