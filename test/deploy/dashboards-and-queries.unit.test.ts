// Every query we ship (Grafana dashboards, examples/queries.promql and .logql, the alert
// rules) names only what the agent exports (see test/helpers/queries.ts for the rules); the
// dashboards are what their generator writes. PromQL syntax is checked by Prometheus' own
// parser in queries-promtool.test.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EVENTS } from '../../src/catalogue/index.js';
import { ROOT } from '../helpers/paths.js';
import {
  alertQueries, checkLogql, checkPromql, dashboardQueries, DASHBOARDS, fileQueries, logqlNames, promqlNames, selectorAcceptable,
} from '../helpers/queries.js';


test('the checkers catch what they should', () => {
  assert.deepEqual(promqlNames('sum by (k8s_pod) (rate(netexporter_tcp_outrsts{k8s_node=~"$node"}[$__rate_interval])) / on (k8s_pod) x_y'),
    { metrics: ['netexporter_tcp_outrsts', 'x_y'], labels: ['k8s_pod', 'k8s_pod', 'k8s_node'] });
  assert.deepEqual(checkPromql([{ where: 't', lang: 'promql', expr: 'rate(netexporter_tcp_outrst[5m])' }]), ['t: netexporter_tcp_outrst is not exported']);
  assert.deepEqual(checkPromql([{ where: 't', lang: 'promql', expr: 'sum by (pod) (netexporter_tcp_currestab)' }]), ['t: label pod is not set by the agent']);
  assert.deepEqual(logqlNames('sum by (type) (count_over_time({k8s_node=~"$node", type=~"TCP_RETRANS|PACKETLOSS"} | json [1m]))'),
    { streamLabels: ['k8s_node', 'type'], types: ['TCP_RETRANS', 'PACKETLOSS'], variables: [] });
  assert.deepEqual(checkLogql([{ where: 't', lang: 'logql', expr: '{pod="x", type="TCP_RESET"}' }]),
    ['t: pod is not a stream label', 't: event type TCP_RESET is not in the catalogue']);
  assert.equal(selectorAcceptable('{k8s_node=~"$node", type=~"$type"}', { node: '.*', type: '.*' }), false);
  assert.equal(selectorAcceptable('{k8s_node=~"$node", type=~"$type"}', { node: '.*', type: '.+' }), true);
  assert.equal(selectorAcceptable('{type="PACKETLOSS"} | json'), true);
});

test('dashboards: every panel query uses exported metrics, stream labels and event types', () => {
  const queries = dashboardQueries();
  const prom = queries.filter((q) => q.lang === 'promql');
  const logql = queries.filter((q) => q.lang === 'logql');
  assert.ok(prom.length > 40, `${prom.length} PromQL queries`);
  assert.ok(logql.length >= 5, `${logql.length} LogQL queries`);
  assert.deepEqual(checkPromql(prom), []);
  assert.deepEqual(checkLogql(logql), []);
  // The events view counts by type and by pod and shows the lines.
  const events = JSON.parse(readFileSync(join(DASHBOARDS, 'kubesonar-events.json'), 'utf8'));
  assert.ok(events.panels.some((p: any) => p.type === 'logs'));
  assert.ok(events.panels.some((p: any) => /sum by \(type\) \(count_over_time\(/.test(p.targets?.[0]?.expr ?? '')));
  assert.ok(events.panels.some((p: any) => /sum by \(k8s_namespace, k8s_pod\)/.test(p.targets?.[0]?.expr ?? '')));
});

test('dashboards cover the seed case studies', () => {
  const text = (f: string) => readFileSync(join(DASHBOARDS, f), 'utf8');
  const pod = text('kubesonar-pod.json');
  for (const m of ['tcpext_listenoverflows', 'tcpext_listendrops', 'sockbacklog_fulllisteners', 'tcp_outrsts', 'tcp_retransseg',
    'udp_rcvbuferrors', 'conntrack_drop', 'qdisc_drops', 'tcpext_tcpbacklogdrop']) assert.ok(pod.includes(`netexporter_${m}`), `pod view shows ${m}`);
  const node = text('kubesonar-node.json');
  for (const m of ['softnet_dropped', 'softnet_timesqueeze', 'conntrack_entries', 'conntrack_maxentries', 'qdisc_drops', 'tcp_retransseg']) {
    assert.ok(node.includes(`netexporter_${m}`), `node view shows ${m}`);
  }
  const ids = readdirSync(DASHBOARDS).map((f) => JSON.parse(text(f)).uid);
  assert.equal(new Set(ids).size, ids.length, 'unique dashboard uids');
});

test('dashboards: variables are defined, panels fit the grid, ids are unique', () => {
  const BUILTIN = new Set(['__rate_interval', '__interval', '__range', '__all']);
  for (const file of readdirSync(DASHBOARDS)) {
    const d = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8'));
    const vars = new Set<string>(d.templating.list.map((v: any) => v.name));
    const text = JSON.stringify(d.panels) + JSON.stringify(d.templating.list.map((v: any) => v.query));
    for (const m of text.matchAll(/\$\{?([A-Za-z_]+)\}?/g)) {
      assert.ok(vars.has(m[1]!) || BUILTIN.has(m[1]!), `${file}: $${m[1]} is not a dashboard variable`);
    }
    const ids = d.panels.map((p: any) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${file}: unique panel ids`);
    for (const p of d.panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${file}: ${p.title} fits 24 columns`);
      if (p.type !== 'row') assert.ok(p.description, `${file}: ${p.title} has a description`);
    }
  }
});

test('dashboards are what deploy/scripts/dashboards-gen.mjs writes', async () => {
  const gen = await import(join(ROOT, 'deploy/scripts/dashboards-gen.mjs'));
  const files: Record<string, string> = await gen.generate(EVENTS.map((e) => e.type));
  assert.deepEqual(Object.keys(files).map((f) => f.split('/').pop()).sort(), readdirSync(DASHBOARDS).sort());
  for (const [path, text] of Object.entries(files)) {
    assert.equal(readFileSync(join(ROOT, path), 'utf8'), text, `${path} is stale: run node deploy/scripts/dashboards-gen.mjs`);
  }
});

test('examples: PromQL, LogQL and alert rules name only exported metrics and event types', () => {
  const prom = [...fileQueries('examples/queries.promql', 'promql'), ...alertQueries()];
  const logql = fileQueries('examples/queries.logql', 'logql');
  assert.ok(logql.length >= 8, `${logql.length} LogQL queries`);
  assert.deepEqual(checkPromql(prom), []);
  assert.deepEqual(checkLogql(logql), []);
  // One query per seed case study at least, in each language.
  const logText = readFileSync(join(ROOT, 'examples/queries.logql'), 'utf8');
  for (const study of ['DNS timeout', 'listen overflow', 'reset storm', 'latency jitter']) {
    assert.match(logText, new RegExp(`# .*${study}`, 'i'), `queries.logql covers ${study}`);
  }
});
