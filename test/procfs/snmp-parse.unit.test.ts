// parseSnmp reads the values in place, character by character, into a layout kept per set of
// header lines: it must give what the plain reading (split each line, set each key into a Map)
// gives, on this machine's own files and on the odd spacings, keys named twice, signs and long
// numbers a file could hold.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseSnmp } from '../../src/procfs/read.js';

/** The plain reading: header/value line pairs split as strings, the last value of a key winning. */
function reference(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/);
    const section = names[0]!.replace(/:$/, '');
    const keys = names.map((n, k) => (k > 0 && n ? `${section}:${n}` : ''));
    let values = lines[i + 1]!.split(' ');
    if (values.length !== keys.length) values = lines[i + 1]!.split(/\s+/);
    for (let k = 1; k < keys.length && k < values.length; k++) if (keys[k]) out.set(keys[k]!, Number(values[k]));
  }
  return out;
}

const asMap = (text: string) => new Map(parseSnmp(text).entries());

test('parseSnmp gives the plain reading of this machine\'s snmp and netstat', () => {
  for (const file of ['snmp', 'netstat']) {
    const text = readFileSync(`/proc/self/net/${file}`, 'utf8');
    assert.deepEqual(asMap(text), reference(text), file);
    assert.deepEqual(asMap(text), reference(text), `${file}, its layout known`);
  }
});

test('parseSnmp gives the plain reading on odd input: spacing, keys named twice, signs, long and non-numeric values, missing lines', () => {
  const cases = [
    'Tcp: A B C\nTcp: 1 2 3\n',
    'Tcp: A B C\nTcp: 1  2 3\n', // a double space: split(/\s+/)
    'Tcp: A B C\nTcp: 1\t2 3 \n', // a tab and a trailing blank
    'Tcp:  A B\nTcp: 1 2 3\n', // an empty header name
    'Ip: A B A\nIp: 1 2 3\nIp: B\nIp: 9\n', // a key named twice, in a line and across lines
    'Ip: A B\nIp: -5 12345678901234567890\n', // a sign, more digits than a double holds
    'Ip: A B C\nIp: 1x 0x10 \n', // not numbers
    'Ip: A B\nIp: 1 2\nUdp: C', // a header without values
    'Ip: A B\nIp: 1 2\nUdp: C\n',
    'Ip: A B C D\nIp: 1 2\n', // fewer values than names
    '',
  ];
  for (const text of cases) assert.deepEqual(asMap(text), reference(text), JSON.stringify(text));
  const parsed = parseSnmp('Ip: A B\nIp: 1 2\n');
  assert.equal(parsed.get('Ip:A'), 1);
  assert.equal(parsed.get('Ip:C'), undefined);
  assert.equal(parseSnmp('Ip: A B C\nIp: 1\n').get('Ip:B'), undefined, 'a name without a value has none');
});
