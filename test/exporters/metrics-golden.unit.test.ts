// /metrics, byte for byte, for a fixed snapshot (test/fixtures/metrics/snapshot.json: the host
// with a host-network pod, two pods with labels, one with a quote and a backslash in a label
// value; counters, gauges, a labelled counter, if_name series, histograms of a pod and of the
// host by CPU and vector, host-scoped metrics; the collector's self metrics with a probe in
// error and one unsupported), through the production path: the OTel producer of
// src/exporters/telemetry.ts and toPrometheusText of src/exporters/prometheus.ts, in both naming
// profiles and with verbose pod labels.
//
// How the golden files were made: before the code was restructured around the probe as its unit
// (at commit 7f6f163, "Rename the product to kubesonar", where the producer was
// src/pipeline/telemetry.ts), that commit was checked out in a separate worktree and built, and
// `node test/fixtures/metrics/generate.mjs <that worktree>` rendered snapshot.json through its
// code into test/fixtures/metrics/*.txt. They are never regenerated from the current code: a
// difference is a change of the exposition to look at, not a file to refresh. One deliberate
// change since, and only it, is in the files: a probe that cannot run on the node left
// netexporter_agent_probe_up (0) for netexporter_agent_probe_unsupported (1), with probe_up's
// help saying so (the files differ from that commit's output in exactly those lines).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { createTelemetry } from '../../src/exporters/telemetry.js';
import { toPrometheusText, type NamingProfile } from '../../src/exporters/prometheus.js';
import type { Entity, Sample } from '../../src/model.js';
import type { Collector, Snapshot } from '../../src/pipeline/collector.js';
import { fixture } from '../helpers/paths.js';

interface SnapshotFixture {
  time: number;
  durationMs: number;
  cpuMs: number;
  entities: Entity[];
  firstSeen: [number, number][];
  samples: (Omit<Sample, 'entity'> & { probe: string; entity: number })[];
  status: Record<string, { state: string; errors: number }>;
}

const f = JSON.parse(readFileSync(fixture('metrics', 'snapshot.json'), 'utf8')) as SnapshotFixture;
const snapshot: Snapshot = {
  time: f.time, durationMs: f.durationMs, cpuMs: f.cpuMs, entities: f.entities, firstSeen: new Map(f.firstSeen),
  samples: f.samples.map(({ entity, ...s }) => ({ ...s, entity: f.entities[entity]! })),
};
// Only what the producer reads of a Collector: the snapshot and each probe's state and errors.
const collector = { snapshot, status: () => f.status } as unknown as Collector;

async function render(naming: NamingProfile, verbose: boolean): Promise<string> {
  const t = createTelemetry('node-a', collector, () => verbose);
  try {
    return toPrometheusText((await t.pull.collect()).resourceMetrics, naming);
  } finally {
    await t.shutdown();
  }
}

for (const [file, naming, verbose] of [['netexporter.txt', 'netexporter', false], ['netexporter-verbose.txt', 'netexporter', true], ['inspector.txt', 'inspector', false]] as const) {
  test(`/metrics with naming ${naming}${verbose ? ', verbose' : ''} is byte for byte test/fixtures/metrics/${file}`, async () => {
    const golden = readFileSync(fixture('metrics', file), 'utf8');
    const text = await render(naming, verbose);
    if (text !== golden) {
      const [a, b] = [text.split('\n'), golden.split('\n')];
      const i = a.findIndex((line, n) => line !== b[n]);
      assert.fail(`differs from ${file} first at line ${i + 1}:\n  now:    ${a[i]}\n  golden: ${b[i]}`);
    }
    assert.equal(text, golden);
  });
}
