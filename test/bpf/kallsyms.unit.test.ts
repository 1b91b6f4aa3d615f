// Stack symbolization: the compact table read in chunks names every address as a plain reading
// of the whole file line by line does: text symbols only, module symbols without their
// [module], out-of-order lines sorted, hidden (zero) addresses left out, lines that cross a
// chunk boundary whole (a line longer than a chunk too, its name cut at the kernel's longest);
// and on this machine's own /proc/kallsyms.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { Kallsyms } from '../../src/bpf/kallsyms.js';

/** The reference: the whole file as one string, one entry per text line, sorted; names cut at the kernel's 511 bytes. */
function reference(text: string): (addr: bigint) => string {
  const entries: { addr: bigint; name: string }[] = [];
  for (const line of text.split('\n')) {
    const [addr, type, rest] = [line.slice(0, line.indexOf(' ')), line.split(' ')[1], line.split(' ').slice(2).join(' ')];
    if (type !== 't' && type !== 'T') continue;
    const a = BigInt(`0x${addr}`);
    if (a === 0n) continue;
    entries.push({ addr: a, name: rest!.split('\t')[0]!.slice(0, 511) });
  }
  entries.sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : 0));
  return (addr) => {
    let found: { addr: bigint; name: string } | undefined;
    for (const e of entries) if (e.addr <= addr) found = e;
    return found ? `${found.name}+0x${(addr - found.addr).toString(16)}` : `0x${addr.toString(16)}`;
  };
}

function withFile(text: string, run: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'kallsyms-'));
  try {
    writeFileSync(join(dir, 'kallsyms'), text);
    run(join(dir, 'kallsyms'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('kallsyms: text symbols only, modules without their [module], unsorted lines sorted, zero addresses left out', () => {
  const text = [
    'ffffffff81000000 T _stext',
    'ffffffff81000100 t helper_fn',
    'ffffffff81000180 D some_data',
    'ffffffffc0a01000 t nf_hook_slow\t[nf_tables]',
    'ffffffff81000080 T early_fn', // out of order
    '0000000000000000 T hidden',
    'ffffffff81000200 T last_fn', // no newline at the end
  ].join('\n');
  withFile(text, (path) => {
    const k = new Kallsyms(path);
    assert.equal(k.symbolize(0xffffffff81000010n), '_stext+0x10');
    assert.equal(k.size, 5);
    assert.equal(k.symbolize(0xffffffff81000090n), 'early_fn+0x10');
    assert.equal(k.symbolize(0xffffffff810001a0n), 'helper_fn+0xa0'); // the data symbol names nothing
    assert.equal(k.symbolize(0xffffffffc0a01004n), 'nf_hook_slow+0x4');
    assert.equal(k.symbolize(0xffffffff81000204n), 'last_fn+0x4');
    assert.equal(k.symbolize(0x1000n), '0x1000');
  });
});

test('kallsyms: lines crossing the read chunks come out whole, a line longer than a chunk too', () => {
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) lines.push(`${(0xffffffff81000000n + BigInt(i) * 0x40n).toString(16)} ${i % 3 ? 't' : 'T'} fn_${i}_${'x'.repeat(i % 37)}${i % 5 ? '' : '\t[mod]'}`);
  lines.splice(777, 0, `ffffffff80ffff00 T ${'long_'.repeat(20_000)}`); // a line longer than a read chunk
  const text = `${lines.join('\n')}\n`;
  withFile(text, (path) => {
    const k = new Kallsyms(path);
    const ref = reference(text);
    for (const addr of [0xffffffff80ffff08n, 0xffffffff81000000n, 0xffffffff81000041n, 0xffffffff8104e1ffn, 0xffffffff81030000n, 0xffffffff81000000n + 19_999n * 0x40n + 3n]) {
      assert.equal(k.symbolize(addr), ref(addr));
    }
    assert.equal(k.size, 20_001);
  });
});

test('kallsyms: this machine\'s /proc/kallsyms names addresses as the plain reading does', (t) => {
  // One snapshot for both readings: BPF programs loaded or unloaded meanwhile change the live file.
  const text = readFileSync('/proc/kallsyms', 'utf8');
  const ref = reference(text);
  withFile(text, (path) => {
    const k = new Kallsyms(path);
    const addrs = text.split('\n').filter((l) => / [tT] /.test(l)).map((l) => BigInt(`0x${l.slice(0, l.indexOf(' '))}`)).filter((a) => a !== 0n);
    // Without CAP_SYSLOG (or with kptr_restrict 2) every address reads as zero: nothing to compare, said so.
    if (addrs.length === 0) return t.skip('the kernel hides its addresses from this reader');
    for (const i of [0, 1, 100, 5_000, 50_000, addrs.length - 1].filter((j) => j < addrs.length)) {
      assert.equal(k.symbolize(addrs[i]! + 5n), ref(addrs[i]! + 5n));
    }
  });
});
