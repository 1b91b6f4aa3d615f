// The pipeline's queue ring: FIFO order and the numbers beside each item survive wrapping
// around, growing and shrinking, checked against a plain array doing the same operations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ring } from '../../src/util/ring.js';

test('FIFO with wrap-around, growth and shrinking, against a plain array', () => {
  const ring = new Ring<string>(4);
  const model: Array<{ item: string; at: number; size: number; seq: number }> = [];
  let next = 0;
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const check = () => {
    assert.equal(ring.length, model.length);
    for (let k = 0; k < model.length; k++) {
      assert.equal(ring.item(k), model[k]!.item);
      assert.equal(ring.atOf(k), model[k]!.at);
      assert.equal(ring.sizeOf(k), model[k]!.size);
      assert.equal(ring.seqOf(k), model[k]!.seq);
    }
  };
  // Phases that grow to hundreds of items (several doublings), then drain (several halvings).
  for (let round = 0; round < 2000; round++) {
    const growing = Math.floor(round / 250) % 2 === 0;
    const op = rand(10);
    if (op < (growing ? 6 : 3)) {
      const n = rand(5) + 1;
      for (let i = 0; i < n; i++) {
        const e = { item: `e${next}`, at: 1.7e12 + next, size: next % 300, seq: next % 3 === 0 ? -1 : next };
        next++;
        ring.push(e.item, e.at, e.size, e.seq);
        model.push(e);
      }
    } else if (op < 8 && model.length > 0) {
      const n = rand(Math.min(model.length, 6)) + 1;
      assert.deepEqual(ring.shift(n), model.splice(0, n).map((e) => e.item));
    } else if (model.length > 0) {
      ring.drop();
      model.shift();
    }
    check();
  }
  assert.ok(next > 1000);
});

test('a capacity that is not a power of two is refused', () => {
  assert.throws(() => new Ring(1000), /not a power of two/);
});
