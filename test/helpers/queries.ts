// The queries we ship (Grafana dashboards, examples/queries.promql and .logql, the alert rules)
// and the checks of what they name: PromQL only catalogue metrics (kceName) and the agent's own
// netexporter_agent_* series, with labels the agent sets; LogQL only the Loki sink's stream
// labels (k8s_node, k8s_namespace, type) and event types of the catalogue; and Prometheus' own
// parser (promtool check rules) for PromQL syntax.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { EVENTS, kceName, METRICS, seriesNames } from '../../src/catalogue/index.js';
import { ROOT } from './paths.js';

export const DASHBOARDS = join(ROOT, 'deploy/dashboards');

/** The agent's self-metrics (src/exporters/telemetry.ts). */
const AGENT_METRICS = ['netexporter_agent_probe_up', 'netexporter_agent_probe_errors_total', 'netexporter_agent_collect_duration_seconds',
  'netexporter_agent_collect_cpu_seconds', 'netexporter_agent_entities'];
const KNOWN_METRICS = new Set([...METRICS.flatMap((m) => seriesNames(m, kceName(m))), ...AGENT_METRICS]);
/** Labels on the agent's series: entity labels, the catalogue's own labels, the agent's `probe`, verbose pod IP, Prometheus' target labels. */
const KNOWN_LABELS = new Set(['k8s_node', 'k8s_namespace', 'k8s_pod', 'netns', 'probe', 'k8s_pod_ip', 'job', 'instance', 'le',
  ...METRICS.flatMap((m) => m.labels ?? [])]);
const EVENT_TYPES = new Set<string>(EVENTS.map((e) => e.type));
export const STREAM_LABELS = new Set(['k8s_node', 'k8s_namespace', 'type']);

const PROMQL_WORDS = new Set([
  // aggregations and their modifiers
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset',
  // functions used or likely
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'abs', 'clamp_min', 'clamp_max', 'vector', 'scalar', 'time',
  'label_values', 'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time', 'count_over_time', 'quantile_over_time',
  'stddev_over_time', 'changes', 'resets', 'absent', 'absent_over_time', 'histogram_quantile', 'label_replace', 'round', 'sort_desc',
]);

/**
 * Metric names and label names a PromQL expression uses. Strings, durations and Grafana
 * variables are removed first; identifiers inside `{...}` are label matchers, inside
 * `by/without/on/ignoring (...)` label lists, anything else a metric name or a keyword.
 */
export function promqlNames(expr: string): { metrics: string[]; labels: string[] } {
  const metrics: string[] = [];
  const labels: string[] = [];
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\[[^\]]*\]/g, '');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_m, _kw, list: string) => {
    labels.push(...list.split(',').map((x) => x.trim()).filter(Boolean));
    return ' ';
  });
  s = s.replace(/\{([^}]*)\}/g, (_m, body: string) => {
    for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) labels.push(m[1]!);
    return ' ';
  });
  s = s.replace(/\$\{?[a-zA-Z_]+\}?/g, ' ');
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    if (PROMQL_WORDS.has(word) || /^\d/.test(word)) continue;
    // function call: identifier directly followed by "("
    if (s.slice(m.index! + word.length).trimStart().startsWith('(') && !word.startsWith('netexporter_')) {
      assert.fail(`unknown PromQL function ${word} in ${expr}`);
    }
    metrics.push(word);
  }
  return { metrics, labels };
}

/** Stream selectors and the event types a LogQL expression names. */
export function logqlNames(expr: string): { streamLabels: string[]; types: string[]; variables: string[] } {
  const streamLabels: string[] = [];
  const types: string[] = [];
  const variables: string[] = [];
  // Stream selector(s): the {...} blocks. Label filters after a parser are `| name op value`.
  for (const sel of expr.matchAll(/\{([^}]*)\}/g)) {
    for (const m of sel[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      streamLabels.push(m[1]!);
      if (m[1] === 'type') collectTypes(m[2]!, m[3]!);
    }
  }
  for (const m of expr.matchAll(/\|\s*type\s*(=~|!~|!=|==|=)\s*"((?:[^"\\]|\\.)*)"/g)) collectTypes(m[1]!, m[2]!);
  function collectTypes(op: string, value: string) {
    if (/^\$\{?\w+\}?$/.test(value)) { variables.push(value); return; }
    if (op === '=~' || op === '!~') types.push(...value.split('|'));
    else types.push(value);
  }
  return { streamLabels, types, variables };
}

export interface Query { where: string; lang: 'promql' | 'logql'; expr: string; vars?: Record<string, string> }

/**
 * Whether a stream selector passes Loki's rule that at least one matcher must not match the
 * empty string; Grafana variables count as their "All" value (the worst case).
 */
export function selectorAcceptable(expr: string, vars: Record<string, string> = {}): boolean {
  return [...expr.matchAll(/\{([^}]*)\}/g)].filter((sel) => /(=~|!~|!=|=)\s*"/.test(sel[1]!)).every((sel) =>
    [...sel[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].some((m) => {
      const value = m[3]!.replace(/\$\{?(\w+)\}?/g, (_x, v: string) => vars[v] ?? '.*');
      if (m[2] === '=') return value !== '';
      if (m[2] === '=~') return !new RegExp(`^(?:${value})$`).test('');
      return false;
    }));
}

export function dashboardQueries(): Query[] {
  const out: Query[] = [];
  for (const file of readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8'));
    const panels = d.panels.flatMap((p: any) => [p, ...(p.panels ?? [])]);
    for (const p of panels) {
      if (p.type === 'row') continue;
      assert.ok(p.targets?.length, `${file}: panel "${p.title}" has no query`);
      for (const t of p.targets) {
        const lang = (t.datasource ?? p.datasource).type === 'loki' ? 'logql' : 'promql';
        const vars = Object.fromEntries(d.templating.list.filter((v: any) => v.includeAll).map((v: any) => [v.name, v.allValue]));
        out.push({ where: `${file}: ${p.title}`, lang, expr: t.expr, vars });
      }
    }
    for (const v of d.templating.list) {
      if (v.type !== 'query') continue;
      if (v.datasource.type === 'prometheus') out.push({ where: `${file}: variable ${v.name}`, lang: 'promql', expr: v.query.query.replace(/^label_values\((.*),\s*\w+\)$/, '$1') });
      else assert.ok(STREAM_LABELS.has(v.query.label), `${file}: variable ${v.name} reads label ${v.query.label}`);
    }
  }
  return out;
}

/** Queries of a .promql/.logql file: non-empty, non-comment lines. */
export function fileQueries(path: string, lang: Query['lang']): Query[] {
  return readFileSync(join(ROOT, path), 'utf8').split('\n').map((l, i) => ({ l: l.trim(), i }))
    .filter(({ l }) => l !== '' && !l.startsWith('#'))
    .map(({ l, i }) => ({ where: `${path}:${i + 1}`, lang, expr: l }));
}

export function alertQueries(): Query[] {
  const rules = parseYaml(readFileSync(join(ROOT, 'examples/alerts.yml'), 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
  return rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `examples/alerts.yml: ${r.alert ?? r.record}`, lang: 'promql' as const, expr: r.expr })));
}

export function checkPromql(queries: Query[]): string[] {
  const problems: string[] = [];
  for (const q of queries) {
    const { metrics, labels } = promqlNames(q.expr);
    if (metrics.length === 0) problems.push(`${q.where}: no metric in ${q.expr}`);
    for (const m of metrics) if (!KNOWN_METRICS.has(m)) problems.push(`${q.where}: ${m} is not exported`);
    for (const l of labels) if (!KNOWN_LABELS.has(l)) problems.push(`${q.where}: label ${l} is not set by the agent`);
  }
  return problems;
}

export function checkLogql(queries: Query[]): string[] {
  const problems: string[] = [];
  for (const q of queries) {
    const { streamLabels, types } = logqlNames(q.expr);
    if (streamLabels.length === 0) problems.push(`${q.where}: no stream selector in ${q.expr}`);
    if (!selectorAcceptable(q.expr, q.vars)) problems.push(`${q.where}: every matcher accepts "" (Loki refuses the query)`);
    for (const l of streamLabels) if (!STREAM_LABELS.has(l)) problems.push(`${q.where}: ${l} is not a stream label`);
    for (const t of types) if (!EVENT_TYPES.has(t)) problems.push(`${q.where}: event type ${t} is not in the catalogue`);
  }
  return problems;
}

/** Prometheus' parser: each expression (Grafana variables replaced) as a recording rule. */
export function promtoolParses(queries: Query[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonar-promql-'));
  try {
    const grafanaFree = (e: string) => e.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?\w+\}?/g, '.*');
    const rules = { groups: [{ name: 'shipped-queries', rules: queries.map((q, i) => ({ record: `query_${i}`, expr: grafanaFree(q.expr) })) }] };
    writeFileSync(join(dir, 'rules.yml'), JSON.stringify(rules));
    const r = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw r.error;
    return r.status === 0 ? '' : r.stdout + r.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
