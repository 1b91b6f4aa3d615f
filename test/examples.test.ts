// The example configs parse, and the example queries name only exported metrics.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { kceName, METRICS, seriesNames } from '../src/catalogue/index.js';
import { loadConfigFile } from '../src/config/index.js';

const root = new URL('../../', import.meta.url);

test('example configs load', async () => {
  const ack = await loadConfigFile(new URL('examples/inspector-config.yaml', root).pathname);
  assert.equal(ack.metric_config.naming, 'inspector');
  const installer = await loadConfigFile(new URL('examples/installer-values.yaml', root).pathname);
  assert.deepEqual(installer.metric_config.probes, ['netdev', 'tcp', 'tcpext', 'udp', 'sock', 'softnet', 'tcpsummary', 'conntrack', 'qdisc', 'sockbacklog']);
});

test('example queries use catalogue names', () => {
  const known = new Set([...METRICS.flatMap((m) => seriesNames(m, kceName(m))), 'netexporter_agent_probe_up']);
  const used = readFileSync(new URL('examples/queries.promql', root), 'utf8').match(/netexporter_[a-z0-9_]+/g)!;
  assert.ok(used.length > 10);
  assert.deepEqual(used.filter((n) => !known.has(n)), []);
});
