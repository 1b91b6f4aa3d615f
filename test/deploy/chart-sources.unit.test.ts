// The chart's sources without helm: values.yaml valid for CONFIG_SCHEMA and the agent's loader,
// the generated chart files (values.schema.json, the ConfigMap template) in sync with
// CONFIG_SCHEMA, and the Dockerfile's stages. Rendering the chart is helm-chart.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { CONFIG_SCHEMA, parseConfig } from '../../src/config/index.js';
import { FORMATS } from '../../src/config/schema.js';
import { SERVER_SECTION } from '../../src/exporters/server-config.js';
import { ROOT } from '../helpers/paths.js';

const chart = join(ROOT, 'deploy/helm/kubesonar');
const NO_ENV = {}; // the loader reads OTEL_EXPORTER_OTLP_*; keep the test independent of them

test('values.yaml: its config section is valid for CONFIG_SCHEMA and for the agent loader', () => {
  const values = parseYaml(readFileSync(join(chart, "values.yaml"), "utf8")) as { config: unknown };
  const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
  for (const [name, validate] of Object.entries(FORMATS)) ajv.addFormat(name, { type: 'string', validate: validate as (s: string) => boolean });
  const againstConfig = ajv.compile(CONFIG_SCHEMA);
  assert.ok(againstConfig(values.config), JSON.stringify(againstConfig.errors));
  const againstValues = ajv.compile(JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')));
  assert.ok(againstValues(values), JSON.stringify(againstValues.errors));
  assert.doesNotThrow(() => parseConfig(JSON.stringify(values.config), 'values.yaml config', NO_ENV));
});

test('generated chart files are in sync with CONFIG_SCHEMA', async () => {
  const gen = await import(join(ROOT, 'deploy/scripts/chart-gen.mjs'));
  const files: Record<string, string> = gen.generate(CONFIG_SCHEMA);
  for (const [path, text] of Object.entries(files)) {
    assert.equal(readFileSync(join(ROOT, path), 'utf8'), text, `${path} is stale: run npm run build && node deploy/scripts/chart-gen.mjs`);
  }
  // The values schema's config part is CONFIG_SCHEMA's, not a copy that can drift.
  const schema = JSON.parse(files['deploy/helm/kubesonar/values.schema.json']!);
  const noDescriptions = (v: unknown) => JSON.parse(JSON.stringify(v), (k, x) => (k === 'description' ? undefined : x));
  for (const section of ['debugmode', 'metric_config', 'event_config', 'server'] as const) {
    assert.deepEqual(noDescriptions(schema.properties.config.properties[section]), noDescriptions(CONFIG_SCHEMA.properties[section]));
  }
});

test('the chart resolves auth modes with the agent\'s defaults (for RBAC, the ServiceMonitor and NOTES)', () => {
  const helpers = readFileSync(join(chart, 'templates/_helpers.tpl'), 'utf8');
  const m = /\$defaults := dict ((?:"[a-z]+" "[a-z]+" ?)+)/.exec(helpers);
  assert.ok(m, 'the defaults dict in kubesonar.authMode');
  const pairs = [...m[1]!.matchAll(/"([a-z]+)" "([a-z]+)"/g)].map((x) => [x[1], x[2]]);
  assert.deepEqual(Object.fromEntries(pairs), SERVER_SECTION.defaults.auth);
});

test('Dockerfile: the build stage runs deploy/build.sh, the runtime runs the agent', () => {
  const text = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  assert.match(stages[0]!, /^node:\$\{NODE_VERSION\}-bookworm AS build/);
  for (const pkg of ['python3', 'make', 'g++', 'clang', 'llvm', 'libbpf-dev', 'bpftool', 'libelf-dev', 'zlib1g-dev', 'pkg-config']) {
    assert.match(stages[0]!, new RegExp(`\\s${pkg.replace(/\+/g, '\\+')}\\s`), `build stage installs ${pkg}`);
  }
  assert.match(stages[0]!, /RUN bash deploy\/build\.sh \/out\/app/);
  assert.match(stages[1]!, /^node:\$\{NODE_VERSION\}-bookworm-slim AS runtime/);
  // The heap limits the benchmarks measure under (bench/entry.ts reads this line).
  assert.match(stages[1]!, /^ENV NODE_OPTIONS="--max-old-space-size=\d+ --max-semi-space-size=\d+"$/m);
  assert.match(stages[1]!, /libbpf1 libelf1 zlib1g iptables/);
  assert.match(stages[1]!, /COPY --from=build \/out\/app \/app/);
  const entry = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(stages[1]!)![1]!);
  const cmd = JSON.parse(/^CMD (.*)$/m.exec(stages[1]!)![1]!);
  assert.deepEqual([...entry, ...cmd], ['node', 'dist/src/cli/main.js', 'run', '--config', '/etc/config/config.yaml']);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.bin.kubesonar, entry[1], 'the entrypoint is the package bin');
});
