// The soak's judgement (bench/soak/verdict.ts) on made-up samples: what counts as growth after the
// warm-up, what is forgiven as a blip, and when an event is lost without being counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { growthFailures, uncounted, type Sample } from '../../bench/soak/verdict.js';

const MB = 2 ** 20;
/** 13 samples 10 s apart (warm-up to 60 s), each figure from its function of the index. */
function run(rssMb: (i: number) => number, fds: (i: number) => number = () => 30, pinned: (i: number) => number = () => 0): Sample[] {
  return Array.from({ length: 13 }, (_, i) => ({
    t: i * 10, rssBytes: rssMb(i) * MB, heapUsedBytes: 20 * MB, fds: fds(i), pinnedNetns: pinned(i),
    published: i * 10_000, queued: {}, dropped: {}, lokiUp: true,
  }));
}

test('flat figures with GC swings and blips pass', () => {
  const swing = (i: number) => (i % 3 === 0 ? 120 : 100);
  const blip = (i: number) => (i === 11 ? 34 : 30);
  assert.deepEqual(growthFailures(run(swing, blip, (i) => (i === 12 ? 1 : 0)), 60, 60), []);
});

test('RSS growing beyond 10 % of its warm-up median fails; within 10 % passes', () => {
  assert.deepEqual(growthFailures(run((i) => (i < 7 ? 100 : 109)), 60, 60), []);
  const [failure, ...rest] = growthFailures(run((i) => (i < 7 ? 100 : 115)), 60, 60);
  assert.match(failure!, /^RSS grew 15\.0 % after the warm-up \(100\.0 → 115\.0 MB/);
  assert.deepEqual(rest, []);
});

test('one more fd or pinned namespace that stays fails', () => {
  assert.deepEqual(growthFailures(run(() => 100, (i) => (i >= 7 ? 31 : 30)), 60, 60), ['open fds grew after the warm-up (30 → 31)']);
  assert.deepEqual(growthFailures(run(() => 100, undefined, (i) => (i >= 7 ? 1 : 0)), 60, 60),
    ['network namespaces pinned by the agent grew after the warm-up (0 → 1)']);
});

test('no samples after the warm-up: no verdict but a failure saying so', () => {
  assert.match(growthFailures(run(() => 100), 600, 120)[0]!, /too few samples/);
});

test('events: emitted = received + counted drops + still queued, anything missing is uncounted', () => {
  assert.equal(uncounted({ sink: 'loki', emitted: 1000, received: 900, dropped: { queue_full: 60, retries_exhausted: 40 }, queued: 0 }), 0);
  assert.equal(uncounted({ sink: 'loki', emitted: 1000, received: 900, dropped: { queue_full: 60 }, queued: 0 }), 40);
});
