// The dns probe's decoding of what the kernel hands over: wire-format names, type and code names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { qtypeName, rcodeName, wireName } from '../../src/probes/dns.js';

const wire = (...labels: (string | Buffer)[]): Buffer =>
  Buffer.concat([...labels.map((l) => { const b = Buffer.from(l as string, 'latin1'); return Buffer.concat([Buffer.from([b.length]), b]); }), Buffer.from([0])]);

test('a wire-format name becomes dotted text; the root is "."', () => {
  assert.equal(wireName(wire('kubernetes', 'default', 'svc', 'cluster', 'local'), false), 'kubernetes.default.svc.cluster.local');
  assert.equal(wireName(Buffer.from([0]), false), '.');
});

test('bytes outside printable ASCII, dots and backslashes inside a label are escaped as \\ddd', () => {
  assert.equal(wireName(wire('a.b', 'c\\d', 'e\nf'), false), 'a\\046b.c\\092d.e\\010f');
});

test('a name cut by the event\'s room is marked, and a label running past the bytes stops there', () => {
  const full = wire('x'.repeat(63), 'y'.repeat(63));
  assert.equal(wireName(full.subarray(0, 70), true), `${'x'.repeat(63)}.${'y'.repeat(5)}…`);
});

test('types and codes have their names; the rest a number', () => {
  assert.equal(qtypeName(28), 'AAAA');
  assert.equal(qtypeName(0), 'other');
  assert.equal(qtypeName(99), 'TYPE99');
  assert.equal(rcodeName(2), 'SERVFAIL');
  assert.equal(rcodeName(15), 'RCODE15');
});
