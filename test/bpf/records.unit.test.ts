// Kernel records decoded at the offsets struct event has in the objects' BTF (a layout captured
// from a built object: test/fixtures/bpf/struct-event.json, which contract.test.ts checks
// against every object the build makes): IPv6 and IPv4-mapped addresses, and stacks.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import type { BtfStruct } from '../../src/bpf/addon.js';
import { decodeRecord, RecordLayout, records, stackAddresses } from '../../src/bpf/records.js';
import { fixture } from '../helpers/paths.js';

const STRUCT_EVENT: BtfStruct = JSON.parse(readFileSync(fixture('bpf', 'struct-event.json'), 'utf8')).struct;

test('records decode IPv6 and IPv4-mapped addresses and stacks, at the offsets of the object\'s BTF', () => {
  const layout = RecordLayout.of(STRUCT_EVENT);
  const rec = Buffer.alloc(layout.stack); // a record without a stack ends where the stack begins
  rec.writeUInt16LE(10, layout.family);
  Buffer.from('fd00000000000000000000000000000a', 'hex').copy(rec, layout.saddr);
  Buffer.from('20010db8000100000000000000000001', 'hex').copy(rec, layout.daddr);
  const r = decodeRecord(rec, 0, rec.length, layout);
  assert.deepEqual([r.saddr, r.daddr, r.stackKey], ['fd00::a', '2001:db8:1::1', '']);
  Buffer.from('00000000000000000000ffff0ac80001', 'hex').copy(rec, layout.saddr);
  Buffer.from('00000000000000000000000000000001', 'hex').copy(rec, layout.daddr);
  const mapped = decodeRecord(rec, 0, rec.length, layout);
  assert.deepEqual([mapped.saddr, mapped.daddr], ['::ffff:10.200.0.1', '::1']);
  // A stack of two frames after the fixed part.
  const withStack = Buffer.concat([rec, Buffer.alloc(16)]);
  withStack.writeUInt32LE(16, layout.stackBytes);
  withStack.writeBigUInt64LE(0xffffffff81000010n, layout.stack);
  withStack.writeBigUInt64LE(0xffffffffc0a00000n, layout.stack + 8);
  assert.deepEqual(stackAddresses(decodeRecord(withStack, 0, withStack.length, layout).stackKey), [0xffffffff81000010n, 0xffffffffc0a00000n]);
});

test('a batch whose record claims more bytes than the batch has ends there: no partial stack from what follows (found by npm run fuzz)', () => {
  // bpf.records seed 1 case 0 (test/fixtures/fuzz/): the second record says 16 779 849 bytes in a 391-byte batch.
  const found = JSON.parse(readFileSync(fixture('fuzz', 'bpf.records-seed1-case0.json'), 'utf8')).input as { bytes: number; buf: string };
  const layout = RecordLayout.of(STRUCT_EVENT);
  const decoded = [...records(Buffer.from(found.buf, 'hex'), found.bytes, layout)];
  assert.equal(decoded.length, 1);
  assert.equal(decoded[0]!.stackKey.length, 8, 'the first record\'s one frame');
  // A record shorter than the fixed part is skipped, the next one still read; a batch cut inside a header reads nothing past it.
  const rec = Buffer.alloc(layout.stack);
  const head = (n: number) => { const h = Buffer.alloc(8); h.writeUInt32LE(n); return h; };
  const batch = Buffer.concat([head(8), Buffer.alloc(8), head(rec.length), rec]);
  assert.equal([...records(batch, batch.length, layout)].length, 1);
  assert.equal([...records(batch, 20, layout)].length, 0);
});
