// The example configs parse, and the example queries name only exported metrics.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { kceName, METRICS, seriesNames } from '../../src/catalogue/index.js';
import { loadConfigFile } from '../../src/config/index.js';
import { ROOT } from '../helpers/paths.js';


test('example configs load', async () => {
  const ack = await loadConfigFile(join(ROOT, 'examples/inspector-config.yaml'));
  assert.equal(ack.metric_config.naming, 'inspector');
  const installer = await loadConfigFile(join(ROOT, 'examples/installer-values.yaml'));
  assert.deepEqual(installer.metric_config.probes, ['netdev', 'tcp', 'tcpext', 'udp', 'sock', 'softnet', 'tcpsummary', 'conntrack', 'qdisc', 'sockbacklog']);
});

test('example queries use catalogue names', () => {
  const known = new Set([...METRICS.flatMap((m) => seriesNames(m, kceName(m))), 'netexporter_agent_probe_up']);
  const used = readFileSync(join(ROOT, 'examples/queries.promql'), 'utf8').match(/netexporter_[a-z0-9_]+/g)!;
  assert.ok(used.length > 10);
  assert.deepEqual(used.filter((n) => !known.has(n)), []);
});
