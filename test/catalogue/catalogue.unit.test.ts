// The catalogue is the single source of names: check it against itself, the probes, the
// seeds' metric tables and the README.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ackName, kceName, METRIC_PROBES, METRICS, PROBES } from '../../src/catalogue/index.js';
import { fixture, ROOT } from '../helpers/paths.js';

const METRIC_PROBE_IMPLS = Object.fromEntries(PROBES.filter((p) => p.metric).map((p) => [p.name, p.metric!]));

const seedNames = readFileSync(fixture('seed-metric-names.txt'), 'utf8').trim().split('\n');

test('names are unique in both profiles and well formed', () => {
  for (const names of [METRICS.map(kceName), METRICS.map(ackName)]) {
    assert.equal(new Set(names).size, names.length);
    for (const n of names) assert.match(n, /^[a-z_][a-z0-9_]*$/);
  }
  for (const m of METRICS) {
    assert.ok(m.help.length > 10 && m.help.endsWith('.'), `${kceName(m)} help`);
    assert.ok(['counter', 'gauge', 'histogram'].includes(m.type));
    if (m.type === 'histogram') assert.ok(m.buckets?.length && m.buckets.every((b, i) => i === 0 || b > m.buckets![i - 1]!), `${kceName(m)} buckets`);
    assert.ok(m.unit.length > 0);
  }
});

test('every metric probe has an implementation and catalogue entries, and nothing else exists', () => {
  assert.deepEqual(Object.keys(METRIC_PROBE_IMPLS).sort(), [...METRIC_PROBES].sort());
  for (const p of METRIC_PROBES) assert.ok(METRICS.some((m) => m.probe === p), `${p} has no metrics`);
  for (const [name, impl] of Object.entries(METRIC_PROBE_IMPLS)) assert.equal(impl.name, name);
});

test('the seed-name fixture is the set of names in ../shared/seeds (when present)', (t) => {
  const seeds = join(ROOT, '../shared/seeds');
  if (!existsSync(seeds)) return t.skip('shared/seeds not beside the checkout');
  const text = ['ack-net-exporter.txt', 'kce-net-exporter.txt'].map((f) => readFileSync(join(seeds, f), 'utf8')).join('\n');
  const found = [...new Set(text.match(/\b(i?netexporter_[a-z0-9_]+|inspector_(pod|node)_[a-z0-9_]+|kernellatency_[a-z0-9_]+)/g))].sort();
  assert.deepEqual(found, [...seedNames].sort());
});

test('every seed metric name is exported or listed in README with its reason', () => {
  const exported = new Set([...METRICS.map(kceName), ...METRICS.map(ackName)]);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('## Seed metrics not exported')[1]?.split('\n## ')[0] ?? '';
  const listed = new Set(section.match(/`[a-z0-9_]+`/g)?.map((s) => s.slice(1, -1)));
  const missing = seedNames.filter((n) => !exported.has(n) && !listed.has(n));
  assert.deepEqual(missing, []);
  // And the README does not excuse a name that is in fact exported.
  assert.deepEqual([...listed].filter((n) => exported.has(n) && seedNames.includes(n)), []);
});

test('otel/catalogue.md is the rendering of the catalogue', async () => {
  const { renderCatalogue } = await import('../../src/catalogue/render.js');
  assert.equal(readFileSync(join(ROOT, 'otel/catalogue.md'), 'utf8'), renderCatalogue(),
    'otel/catalogue.md is stale: run `npm run build && node dist/src/catalogue/render.js > otel/catalogue.md`');
});
