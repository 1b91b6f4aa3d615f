// Prometheus' own parser (promtool check rules) accepts every PromQL query we ship: the
// dashboards' (Grafana variables replaced), examples/queries.promql and the alert rules'.
// The names those queries use are checked in dashboards-and-queries.unit.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertQueries, dashboardQueries, fileQueries, promtoolParses } from '../helpers/queries.js';

test('promtool is not lenient: a broken expression is reported', () => {
  assert.match(promtoolParses([{ where: 't', lang: 'promql', expr: 'sum(rate(netexporter_tcp_outrsts[5m]' }]), /rules\.yml/);
});

test('dashboards: every PromQL panel query and variable parses', () => {
  const prom = dashboardQueries().filter((q) => q.lang === 'promql');
  assert.ok(prom.length > 40, `${prom.length} PromQL queries`);
  assert.equal(promtoolParses(prom), '', 'PromQL parses');
});

test('examples: the PromQL of queries.promql and of the alert rules parses', () => {
  const prom = [...fileQueries('examples/queries.promql', 'promql'), ...alertQueries()];
  assert.equal(promtoolParses(prom), '', 'PromQL parses');
});
