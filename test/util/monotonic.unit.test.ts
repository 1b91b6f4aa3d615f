// MonotonicSums: a counter summed over parts (qdiscs, processes) never goes back when a part
// leaves or restarts, and forgets the namespaces that are gone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MonotonicSums } from '../../src/util/monotonic.js';

test('MonotonicSums keeps what departed or restarted parts counted', () => {
  const sums = new MonotonicSums();
  assert.equal(sums.total(1, 'x', new Map([['a', 10], ['b', 5]])), 15);
  assert.equal(sums.total(1, 'x', new Map([['a', 12]])), 17); // b left with 5
  assert.equal(sums.total(1, 'x', new Map([['a', 2], ['c', 1]])), 20); // a restarted (12 kept), c new
  sums.retain(new Set([2]));
  assert.equal(sums.total(1, 'x', new Map([['a', 3]])), 3, 'state of a gone namespace is forgotten');
});
