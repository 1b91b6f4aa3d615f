// The example configs (examples/) load with the agent's loader, the example queries name only
// exported metrics, and the OTel Collector configs (otel/collector/) hang together.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { kceName, METRICS, seriesNames } from '../../src/catalogue/index.js';
import { loadConfigFile, parseConfig } from '../../src/config/index.js';
import { ROOT } from '../helpers/paths.js';

const NO_ENV = {};

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

test('example configs load with the agent loader', async () => {
  const local = await loadConfigFile(join(ROOT, 'examples/local/config.yaml'), { env: NO_ENV });
  assert.equal(local.metric_config.port, 9102);
  assert.equal(local.event_config.sinks.stdout.enabled, true);
  assert.equal(local.event_config.sinks.loki.enabled, true);
  assert.match(local.event_config.sinks.loki.url, /^http:\/\/127\.0\.0\.1:3100/);
  const dir = join(ROOT, 'examples/exporters');
  const files = readdirSync(dir).sort();
  assert.deepEqual(files, ['arms-remote-write.yaml', 'loki-discovery.yaml', 'loki.yaml', 'otlp.yaml', 'stdout.yaml']);
  const loaded = Object.fromEntries(files.map((f) => [f, parseConfig(readFileSync(join(dir, f), 'utf8'), f, NO_ENV)]));
  assert.equal(loaded['arms-remote-write.yaml']!.event_config.sinks.remote_write.enabled, true);
  assert.equal(loaded['otlp.yaml']!.event_config.sinks.otlp.endpoint, 'http://otel-collector.observability:4318');
  assert.equal(loaded['loki-discovery.yaml']!.event_config.sinks.loki.url, '');
  assert.equal(loaded['loki.yaml']!.event_config.sinks.loki.tenant, 'team-network');
});

test('the secure endpoints example loads: TLS files, bearer on every endpoint', async () => {
  const c = await loadConfigFile(join(ROOT, 'examples/secure-endpoints.yaml'), { env: NO_ENV });
  assert.deepEqual(c.server.auth, { metrics: 'bearer', status: 'bearer', events: 'bearer' });
  assert.equal(c.server.tls.cert_file, '/etc/kubesonar/tls/tls.crt');
  assert.equal(c.server.limits.header_timeout_ms, 5000);
});

// Component types of the OpenTelemetry Collector (core and contrib) these configs may use,
// with the signals each supports.
const COMPONENTS: Record<string, Record<string, readonly string[]>> = {
  receivers: { otlp: ['logs', 'metrics', 'traces'] },
  processors: {
    batch: ['logs', 'metrics', 'traces'], memory_limiter: ['logs', 'metrics', 'traces'],
    groupbyattrs: ['logs', 'metrics', 'traces'], transform: ['logs', 'metrics', 'traces'],
    resource: ['logs', 'metrics', 'traces'], attributes: ['logs', 'metrics', 'traces'],
  },
  exporters: {
    prometheusremotewrite: ['metrics'], otlphttp: ['logs', 'metrics', 'traces'], debug: ['logs', 'metrics', 'traces'],
  },
  extensions: { health_check: [], basicauth: [] },
};
const typeOf = (id: string) => id.split('/')[0]!;

/** Problems of one collector config, as "where: what" lines. */
export function collectorProblems(config: any): string[] {
  const problems: string[] = [];
  const defined = (kind: string): Record<string, unknown> => config[kind] ?? {};
  for (const kind of Object.keys(COMPONENTS)) {
    for (const id of Object.keys(defined(kind))) {
      if (!(typeOf(id) in COMPONENTS[kind]!)) problems.push(`${kind}.${id}: unknown component type ${typeOf(id)}`);
    }
  }
  const pipelines: Record<string, any> = config.service?.pipelines ?? {};
  if (Object.keys(pipelines).length === 0) problems.push('service.pipelines: none');
  const used = new Set<string>();
  for (const [name, p] of Object.entries(pipelines)) {
    const signal = name.split('/')[0]!;
    if (!['logs', 'metrics', 'traces'].includes(signal)) problems.push(`pipeline ${name}: unknown signal`);
    if (!p.receivers?.length) problems.push(`pipeline ${name}: no receivers`);
    if (!p.exporters?.length) problems.push(`pipeline ${name}: no exporters`);
    for (const kind of ['receivers', 'processors', 'exporters']) {
      for (const id of p[kind] ?? []) {
        used.add(`${kind}.${id}`);
        if (!(id in defined(kind))) { problems.push(`pipeline ${name}: ${kind} ${id} is not defined`); continue; }
        const signals = COMPONENTS[kind]![typeOf(id)];
        if (signals && !signals.includes(signal)) problems.push(`pipeline ${name}: ${id} does not handle ${signal}`);
      }
    }
  }
  for (const kind of ['receivers', 'processors', 'exporters']) {
    for (const id of Object.keys(defined(kind))) if (!used.has(`${kind}.${id}`)) problems.push(`${kind}.${id}: defined but in no pipeline`);
  }
  const enabled: string[] = config.service?.extensions ?? [];
  for (const id of enabled) if (!(id in defined('extensions'))) problems.push(`service.extensions: ${id} is not defined`);
  for (const id of Object.keys(defined('extensions'))) if (!enabled.includes(id)) problems.push(`extensions.${id}: defined but not enabled`);
  for (const [id, exp] of Object.entries<any>(defined('exporters'))) {
    const auth = exp?.auth?.authenticator;
    if (auth && !enabled.includes(auth)) problems.push(`exporters.${id}: authenticator ${auth} is not an enabled extension`);
  }
  return problems;
}

const collectorConfigs = () => readdirSync(join(ROOT, 'otel/collector')).filter((f) => f.endsWith('.yaml'));
const readCollector = (f: string) => parseYaml(readFileSync(join(ROOT, 'otel/collector', f), 'utf8'));

test('the collector config check finds broken references', () => {
  const good = readCollector('otlp-to-debug.yaml');
  assert.deepEqual(collectorProblems(good), []);
  const bad = structuredClone(good);
  bad.service.pipelines.logs.exporters = ['debug', 'loki'];
  bad.exporters.prometheusremotewrite = { endpoint: 'x' };
  bad.service.pipelines.logs.exporters.push('prometheusremotewrite');
  bad.service.extensions = ['basicauth/x'];
  assert.deepEqual(collectorProblems(bad), [
    'pipeline logs: exporters loki is not defined',
    'pipeline logs: prometheusremotewrite does not handle logs',
    'service.extensions: basicauth/x is not defined',
  ]);
});

test('otel/collector configs: OTLP in, remote write / Loki / debug out, every reference defined', () => {
  const files = collectorConfigs();
  assert.deepEqual(files.sort(), ['otlp-to-debug.yaml', 'otlp-to-loki.yaml', 'otlp-to-prometheus-remote-write.yaml']);
  for (const f of files) {
    const c = readCollector(f);
    assert.deepEqual(collectorProblems(c), [], f);
    assert.equal(c.receivers.otlp.protocols.http.endpoint, '0.0.0.0:4318', `${f}: OTLP/HTTP on 4318 (the agent's default port)`);
  }
  const rw = readCollector('otlp-to-prometheus-remote-write.yaml');
  assert.deepEqual(Object.keys(rw.service.pipelines), ['metrics']);
  assert.equal(rw.exporters.prometheusremotewrite.add_metric_suffixes, false, 'names stay as the catalogue has them');
  const loki = readCollector('otlp-to-loki.yaml');
  assert.deepEqual(Object.keys(loki.service.pipelines), ['logs']);
  assert.match(loki.exporters['otlphttp/loki'].endpoint, /\/otlp\}?$/, 'Loki 3.x native OTLP path');
  // The labels the dashboards and queries.logql select on are the ones the pipeline makes.
  const statements: string[] = loki.processors['transform/loki_labels'].log_statements.flatMap((s: any) => s.statements);
  for (const label of ['k8s_node', 'k8s_namespace', 'type']) assert.ok(statements.some((s) => s.includes(`attributes["${label}"]`)), label);
  const debug = readCollector('otlp-to-debug.yaml');
  assert.deepEqual(Object.keys(debug.service.pipelines).sort(), ['logs', 'metrics']);
});
