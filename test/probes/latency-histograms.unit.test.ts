// The latency probes' histograms as the kernel map holds them: slot i is bucket i (the last
// is +Inf), the slot after is the sum in ns; bounds are LATENCY_BUCKETS in ns and in seconds,
// and the 100 ms counters are the buckets above 0.1 s. The probes in the kernel: test/bpf/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampledNote } from '../../src/bpf/probe.js';
import { METRICS, probe } from '../../src/catalogue/index.js';
import { LATENCY_BUCKETS_NS, LATENCY_BUCKETS_S } from '../../src/model.js';
import { histogramOf, LATENCY_PERIOD, LATENCY_WINDOW, over100ms, SAMPLED } from '../../src/probes/latency.js';

test('histograms decode from the kernel slots; the 100 ms counters are the buckets above 0.1 s', () => {
  assert.equal(LATENCY_BUCKETS_NS.length, LATENCY_BUCKETS_S.length);
  LATENCY_BUCKETS_NS.forEach((ns, i) => assert.equal(ns / 1e9, LATENCY_BUCKETS_S[i]));
  for (const m of METRICS.filter((m) => m.type === 'histogram' && ['net_softirq', 'socketlatency', 'netiftxlat', 'kernellatency'].includes(m.probe))) {
    assert.deepEqual(m.buckets, LATENCY_BUCKETS_S);
  }
  // Slot i = bucket i (19 = +Inf), slot 20 = sum in ns; base bits above.
  const base = (3 << 16) | (1 << 8);
  const slots = new Map([[base | 0, 2], [base | 15, 1], [base | 16, 3], [base | 19, 1], [base | 20, 2_500_000_000], [7, 99]]);
  const h = histogramOf(slots, base)!;
  assert.equal(h.counts.length, 20);
  assert.deepEqual([h.counts[0], h.counts[15], h.counts[16], h.counts[19], h.count, h.sum], [2, 1, 3, 1, 7, 2.5]);
  assert.equal(over100ms(h), 4); // 0.1 s itself is not over 100 ms
  assert.equal(histogramOf(slots, 1 << 8), undefined);
});

test('time-window sampling: each latency probe takes latency_window_ms and latency_period_ms (250 of 2000 by default), and the sampled note says the windows', () => {
  for (const name of ['net_softirq', 'socketlatency', 'netiftxlat', 'kernellatency']) {
    const keys = probe(name)!.options.map((o) => o.key);
    assert.ok(keys.includes(LATENCY_WINDOW.key) && keys.includes(LATENCY_PERIOD.key), name);
  }
  assert.deepEqual([LATENCY_WINDOW.schema.default, LATENCY_PERIOD.schema.default], [250, 2000]);
  assert.match(SAMPLED, /latency_window_ms.*latency_period_ms/);
  assert.equal(sampledNote(1, { ms: 250, periodMs: 2000 }), 'exact: every measurement');
  assert.match(sampledNote(16, { ms: 250, periodMs: 2000 }), /^measured during 250 ms of every 2000 ms, 1 in 16 within: each observation counts about 128 times/);
  assert.match(sampledNote(16), /^1 in 16: each observation counts 16 times/);
  assert.match(sampledNote(16, { ms: 300, periodMs: 1000 }), /counts about 53\.3 times .* 4·sqrt\(c·52\.3\)/, 'a fractional weight is rounded for the text');
});
