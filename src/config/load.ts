// Reads the config file (ACK ConfigMap keys and/or KCE/ACK installer values) into one
// normalized AgentConfig. Every problem becomes one line naming the key path and the bad
// value, so an on-call engineer can fix a ConfigMap without reading ajv or YAML internals.

import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { parseDocument } from 'yaml';
import { EVENT_PROBES, METRIC_PROBES, PROBE_ALIASES, probeOptions } from '../catalogue/index.js';
import { readChecks } from '../checks/config.js';
import { isMapping, show, type ConfigSection } from '../util/schema.js';
import { DEFAULT_CONFIG, SERVER_SECTION, SINK_SECTIONS } from './defaults.js';
import type { AgentConfig, EventSinksConfig, OtlpSinkConfig } from './defaults.js';
import { CONFIG_SCHEMA, FORMATS } from './schema.js';
import { normalizeOtlpSection, type OtlpEnvProblem } from '../sinks/otlp/config.js';

export { DEFAULT_CONFIG } from './defaults.js';
export type {
  AgentConfig, ChecksConfig, EventConfig, EventSinksConfig, LokiSinkConfig, MetricConfig, MetricNaming, OtlpSinkConfig,
  RemoteWriteSinkConfig, ServerConfig, StdoutSinkConfig, StreamSinkConfig,
} from './defaults.js';

/** Environment variables the config reads (OTEL_EXPORTER_OTLP_*); process.env unless given. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where the agent looks when no --config is given (the ConfigMap mount). */
export const DEFAULT_CONFIG_PATH = '/etc/config/config.yaml';

export class ConfigError extends Error {
  /** One entry per problem, without the `config <source>: ` prefix. */
  readonly problems: readonly string[];
  constructor(readonly source: string, problems: readonly string[]) {
    super(problems.map((p) => `config ${source}: ${p}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadOptions {
  /** A missing file means defaults (the agent was started without --config). */
  missingOk?: boolean;
  env?: Env;
}

export async function loadConfigFile(path: string, options: LoadOptions = {}): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.missingOk) return parseConfig('', path, options.env);
    const why = code === 'ENOENT' ? 'file not found'
      : code === 'EISDIR' ? 'is a directory, expected a YAML file'
      : `cannot read the file: ${(err as Error).message}`;
    throw new ConfigError(path, [why]);
  }
  return parseConfig(text, path, options.env);
}

export function parseConfig(text: string, source: string, env: Env = process.env): AgentConfig {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    // Later YAML errors are almost always consequences of the first one.
    throw new ConfigError(source, [yamlProblem(doc.errors[0])]);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigError(source, [`YAML error: ${(err as Error).message}`]);
  }
  if (raw === null || raw === undefined) raw = {};
  if (!isMapping(raw)) throw new ConfigError(source, [`must be a mapping of settings, got ${show(raw)}`]);

  const problems: string[] = [];
  const input = dropNulls(raw);
  const badPaths = validateStructure(input, problems);
  const config = resolve(input, badPaths, problems, env);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return config;
}

function yamlProblem(err: { message: string; code: string; linePos?: [{ line: number; col: number }, ...unknown[]] }): string {
  // yaml's message is "<what> at line L, column C:\n\n<excerpt>"; keep only <what>.
  let what = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  if (err.code === 'MULTIPLE_DOCS') what = 'several YAML documents (---) in one file; only one is allowed';
  const at = err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
  return `YAML syntax error${at}: ${what}`;
}

// ---------------------------------------------------------------------------------------------
// Structure: ajv against CONFIG_SCHEMA, its errors rewritten as one line per bad value.

// The compiled validator holds 1.6 MB of heap and takes 160 ms to compile; a running agent
// loads its config at start and when the file changes (the watcher skips an unchanged file),
// so the validator is dropped after 15 s unused rather than kept for the agent's life.
const VALIDATOR_IDLE_MS = 15_000;
let validator: ValidateFunction | undefined;
let validatorIdle: NodeJS.Timeout | undefined;

function compiledSchema(): ValidateFunction {
  if (!validator) {
    // verbose: errors carry the offending value and its schema, which the messages quote.
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
    for (const [name, validate] of Object.entries(FORMATS)) ajv.addFormat(name, { type: 'string', validate });
    validator = ajv.compile(CONFIG_SCHEMA);
  }
  clearTimeout(validatorIdle);
  validatorIdle = setTimeout(() => { validator = undefined; }, VALIDATOR_IDLE_MS).unref();
  return validator;
}

/** Validates and returns the key paths that hold errors, so later checks skip them. */
function validateStructure(input: Record<string, unknown>, problems: string[]): Set<string> {
  const bad = new Set<string>();
  const validate = compiledSchema();
  if (validate(input)) return bad;
  for (const e of validate.errors ?? []) {
    const path = pointerToPath(e.instancePath);
    if (e.keyword === 'additionalProperties') {
      problems.push(at(path, unknownKey(String(e.params.additionalProperty), e.parentSchema)));
      continue;
    }
    if (e.keyword === 'required') {
      // Reported at the missing key, e.g. `event_config.checks.policy_rules[0].table: required`.
      const key = String(e.params.missingProperty);
      const missing = path ? `${path}.${key}` : key;
      bad.add(missing);
      problems.push(`${missing}: required`);
      continue;
    }
    if (bad.has(path)) continue; // e.g. both `type` and `minimum` failed for 0.5: one line
    bad.add(path);
    problems.push(at(path, `${expectation(e.parentSchema)}, got ${show(e.data)}`));
  }
  return bad;
}

function at(path: string, message: string): string {
  return path ? `${path}: ${message}` : message;
}

/** `/metric_config/probes/2` → `metric_config.probes[2]` */
function pointerToPath(pointer: string): string {
  let out = '';
  for (const seg of pointer.split('/').slice(1)) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out ? `.${key}` : key;
  }
  return out;
}

const FORMAT_EXPECTATIONS: Record<keyof typeof FORMATS, string> = {
  cidr: 'must be a CIDR such as 10.244.0.0/16 or fd00:10:244::/64',
  'loki-address': 'must be host, host:port or an http(s):// URL',
  'ifname-glob': 'must be an interface name or glob such as "eth*"',
  'http-url': 'must be an http(s):// URL',
  ip: 'must be an IP address such as 10.0.0.1 or fd00::1',
  'ipv4-prefix': 'must be an IPv4 CIDR such as 10.0.0.0/8 or an IPv4 address (policy rules are checked for IPv4)',
};

/** What a schema node accepts, in words. */
function expectation(schema: ErrorObject['parentSchema']): string {
  if (!schema) return 'is invalid';
  if (Array.isArray(schema.enum)) return `must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (Array.isArray(schema.type)) {
    // The union types of the schema: checks' expected sysctls, fwmark, probe lists.
    if (schema.type.includes('boolean')) return `must be an integer ${schema.minimum}..${schema.maximum}, or false to turn the check off`;
    if (schema.type.includes('integer')) return `must be an integer 0..${schema.maximum} or a hex string such as "0x10" (no /mask)`;
    return 'must be a list of probe names or a comma-separated string';
  }
  switch (schema.type) {
    case 'boolean': return 'must be true or false';
    case 'integer': return `must be an integer ${schema.minimum}..${schema.maximum}`;
    case 'object': return 'must be a mapping';
    case 'array': return schema.minItems ? 'must be a non-empty list' : 'must be a list';
    case 'string':
      return typeof schema.format === 'string' && schema.format in FORMAT_EXPECTATIONS
        ? FORMAT_EXPECTATIONS[schema.format as keyof typeof FORMATS]
        : schema.minLength ? 'must be a non-empty string' : 'must be a string';
    default: return 'is invalid';
  }
}

function unknownKey(key: string, schema: ErrorObject['parentSchema']): string {
  const known = Object.keys((schema?.properties as object | undefined) ?? {});
  const guess = closest(key, known);
  return `unknown key ${JSON.stringify(key)}${guess ? ` (did you mean "${guess}"?)` : ''}`;
}

/** A known key within edit distance 2 (or equal ignoring case and _), for typo hints. */
function closest(word: string, candidates: string[]): string | undefined {
  const fold = (s: string) => s.toLowerCase().replace(/_/g, '');
  let best: string | undefined;
  let bestDist = 3;
  for (const c of candidates) {
    const d = fold(c) === fold(word) ? 0 : editDistance(word, c);
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** `key:` with nothing after it is null in YAML; treat it as "not set" rather than a type error. */
function dropNulls(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v === null) continue;
    out[k] = isMapping(v) ? dropNulls(v) : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Meaning: each setting, all its spellings, how to read them, where the result goes.

type Path = readonly string[];

interface Setting {
  /** First spelling is the ACK ConfigMap key when there is one; conflicts are reported against it. */
  spellings: readonly Path[];
  /** Normalizes a structurally valid value; undefined when it has problems (already pushed). */
  read?: (value: unknown, path: Path, problems: string[]) => unknown;
  apply: (config: AgentConfig, value: any) => void;
}

/** Installer values are accepted at the top level and under `config:`. */
const installer = (key: string): Path[] => [[key], ['config', key]];

const SETTINGS: Record<string, Setting> = {
  debugmode: { spellings: [['debugmode']], apply: (c, v) => { c.debugmode = v; } },

  metricEnabled: { spellings: installer('enableMetricServer'), apply: (c, v) => { c.metric_config.enabled = v; } },
  interval: { spellings: [['metric_config', 'interval']], apply: (c, v) => { c.metric_config.interval = v; } },
  metricPort: {
    spellings: [['metric_config', 'port'], ...installer('metricServerPort')],
    apply: (c, v) => { c.metric_config.port = v; },
  },
  metricProbes: {
    spellings: [['metric_config', 'probes'], ...installer('metricProbes')],
    read: (v, path, problems) => readProbes('metric', v as string | string[], path, problems),
    apply: (c, v) => { c.metric_config.probes = v; },
  },
  verbose: {
    spellings: [['metric_config', 'verbose'], ...installer('metricLabelVerbose')],
    apply: (c, v) => { c.metric_config.verbose = v; },
  },
  naming: { spellings: [['metric_config', 'naming']], apply: (c, v) => { c.metric_config.naming = v; } },

  eventEnabled: { spellings: installer('enableEventServer'), apply: (c, v) => { c.event_config.enabled = v; } },
  eventPort: {
    spellings: [['event_config', 'port'], ...installer('eventServerPort')],
    apply: (c, v) => { c.event_config.port = v; },
  },
  eventsPerSecond: { spellings: [['event_config', 'events_per_second']], apply: (c, v) => { c.event_config.events_per_second = v; } },
  eventProbes: {
    spellings: [['event_config', 'probes'], ...installer('eventProbes')],
    read: (v, path, problems) => readProbes('event', v as string | string[], path, problems),
    apply: (c, v) => { c.event_config.probes = v; },
  },
  lokiEnable: {
    spellings: [['event_config', 'loki_enable'], ['event_config', 'sinks', 'loki', 'enabled']],
    apply: (c, v) => { c.event_config.loki_enable = c.event_config.sinks.loki.enabled = v; },
  },
  lokiAddress: {
    spellings: [['event_config', 'loki_address'], ['event_config', 'sinks', 'loki', 'url'],
      ...installer('remoteLokiAddress'), ...installer('lokiServerAddress')],
    read: (v) => (v as string).trim(),
    apply: (c, v) => { c.event_config.loki_address = v; c.event_config.sinks.loki.url = lokiUrl(v); },
  },
  ...sinkSettings(),
  ...serverSettings(),
  ...probeOptionSettings(),
  checks: {
    spellings: [['event_config', 'checks']],
    read: (v, path, problems) => {
      const checks = readChecks(v as Record<string, any>, path.join('.'), problems);
      // The options the check probes own (event_config.checks.<key>): their own cross-field rules.
      const found = probeOptions('event_config.checks').flatMap(({ option }) =>
        checks?.[option.key] === undefined ? [] : option.validate?.(checks[option.key], `${path.join('.')}.${option.key}`) ?? []);
      problems.push(...found);
      return found.length ? undefined : checks;
    },
    apply: (c, v) => { c.event_config.checks = v; },
  },
  // No effect (see schema.ts); listed so that it is known and type-checked.
  legacy: { spellings: installer('enableLegacyVersion'), apply: () => {} },
};

/** One setting per option the probes declare: `metric_config.<key>` or `event_config.<key>`. */
function probeOptionSettings(): Record<string, Setting> {
  const out: Record<string, Setting> = {};
  for (const section of ['metric_config', 'event_config'] as const) {
    for (const { option } of probeOptions(section)) {
      const dflt = option.schema.default;
      out[`${section}.${option.key}`] = {
        spellings: [[section, option.key]],
        read: (v, path, problems) => {
          const found = option.validate?.(v, path.join('.')) ?? [];
          problems.push(...found);
          // A section of options (an object) keeps the defaults of the keys it leaves unset.
          return found.length ? undefined : isMapping(dflt) && isMapping(v) ? { ...structuredClone(dflt), ...v } : v;
        },
        apply: (c, v) => { c[section][option.key] = v; },
      };
    }
  }
  return out;
}

/** One setting per key of event_config.sinks.<sink>, except Loki's enabled/url (spellings of the ACK keys above). */
function sinkSettings(): Record<string, Setting> {
  const out: Record<string, Setting> = {};
  for (const [sink, s] of Object.entries(SINK_SECTIONS) as unknown as [string, ConfigSection<Record<string, unknown>>][]) {
    for (const key of Object.keys(s.defaults)) {
      if (sink === 'loki' && (key === 'enabled' || key === 'url')) continue;
      if (sink === 'otlp' && (key === 'logs_endpoint' || key === 'metrics_endpoint')) continue; // derived
      const read = s.read?.[key];
      out[`sinks.${sink}.${key}`] = {
        spellings: [['event_config', 'sinks', sink, key]],
        read: read && ((v, path, problems) => {
          const found: string[] = [];
          const value = read(v, found);
          problems.push(...found.map((p) => `${path.join('.')}: ${p}`));
          return value;
        }),
        apply: (c, v) => { (c.event_config.sinks[sink as keyof EventSinksConfig] as unknown as Record<string, unknown>)[key] = v; },
      };
    }
  }
  return out;
}

/** One setting per leaf of the `server` section (nested sections keep the defaults of the keys a file leaves out). */
function serverSettings(): Record<string, Setting> {
  const out: Record<string, Setting> = {};
  const walk = (defaults: Record<string, unknown>, path: string[]) => {
    for (const [key, dflt] of Object.entries(defaults)) {
      const p = [...path, key];
      if (isMapping(dflt)) {
        walk(dflt, p);
        continue;
      }
      out[p.join('.')] = {
        spellings: [p],
        apply: (c, v) => {
          let node = c as unknown as Record<string, Record<string, unknown>>;
          for (const k of p.slice(0, -2)) node = node[k] as unknown as Record<string, Record<string, unknown>>;
          node[p[p.length - 2]!]![p[p.length - 1]!] = v;
        },
      };
    }
  };
  walk(SERVER_SECTION.defaults as unknown as Record<string, unknown>, ['server']);
  return out;
}

/** `host`, `host:port`, `[v6]:port` → `http://host:port` (Loki's port 3100 by default); URLs unchanged. */
function lokiUrl(address: string): string {
  if (address === '' || address.includes('://')) return address;
  return /:\d+$/.test(address) ? `http://${address}` : `http://${address}:3100`;
}

function resolve(input: Record<string, unknown>, badPaths: Set<string>, problems: string[], env: Env): AgentConfig {
  const config = structuredClone(DEFAULT_CONFIG);
  const givenAt: Record<string, string> = {}; // setting name → the path it was read from

  for (const [name, setting] of Object.entries(SETTINGS)) {
    let chosen: { path: string; raw: unknown; value: unknown } | undefined;
    for (const spelling of setting.spellings) {
      const raw = lookup(input, spelling);
      const path = spelling.join('.');
      if (raw === undefined || isBad(path, badPaths)) continue;
      const value = setting.read ? setting.read(raw, spelling, problems) : raw;
      if (value === undefined) continue;
      if (!chosen) {
        chosen = { path, raw, value };
      } else if (!isDeepStrictEqual(chosen.value, value)) {
        problems.push(`${path}: ${brief(raw)} conflicts with ${chosen.path}: ${brief(chosen.raw)} ` +
          '(two spellings of the same setting; keep one)');
      }
    }
    if (chosen) {
      setting.apply(config, chosen.value);
      givenAt[name] = chosen.path;
    }
  }

  // The installer's remoteLokiAddress means "push to this Loki"; the ConfigMap has a separate
  // switch (loki_enable), which wins when present.
  const lokiFrom = givenAt.lokiAddress;
  if (lokiFrom && !lokiFrom.startsWith('event_config.') && givenAt.lokiEnable === undefined
      && config.event_config.loki_address !== '') {
    config.event_config.loki_enable = config.event_config.sinks.loki.enabled = true;
  }

  const sinks = config.event_config.sinks;
  const given = (key: string) => givenAt[key] !== undefined;
  otlpFromEnv(sinks.otlp, (key) => given(`sinks.otlp.${key}`), env, problems);
  // Each sink's own rules across its keys.
  for (const [sink, s] of Object.entries(SINK_SECTIONS) as [keyof EventSinksConfig, ConfigSection<unknown>][]) {
    const at = `event_config.sinks.${sink}`;
    for (const p of s.validate?.(sinks[sink], (key) => isBad(`${at}.${key}`, badPaths)) ?? []) problems.push(`${at}.${p}`);
  }

  for (const p of SERVER_SECTION.validate?.(config.server, (key) => isBad(`server.${key}`, badPaths)) ?? []) problems.push(`server.${p}`);

  // Both servers listen on the node's network (hostNetwork DaemonSet): one port each.
  const { metric_config: m, event_config: e } = config;
  if (m.enabled && e.enabled && m.port === e.port) {
    const path = givenAt.eventPort ?? givenAt.metricPort ?? 'event_config.port';
    problems.push(`${path}: port ${e.port} is used by both the metric and the event server; give them different ports`);
  }
  return config;
}

function lookup(input: Record<string, unknown>, path: Path): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (!isMapping(v)) return undefined;
    v = v[key];
  }
  return v;
}

/** Whether ajv already reported this path or something inside it. */
function isBad(path: string, badPaths: Set<string>): boolean {
  for (const bad of badPaths) {
    if (bad === path || bad.startsWith(`${path}.`) || bad.startsWith(`${path}[`)) return true;
  }
  return false;
}

/** A raw value for conflict messages: short JSON. */
function brief(v: unknown): string {
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const article = (kind: 'metric' | 'event') => (kind === 'event' ? 'an event' : 'a metric');

const PROBES = { metric: METRIC_PROBES, event: EVENT_PROBES } as const;
const SIBLING_KEY: Record<string, string> = {
  probes: 'probes', metricProbes: 'eventProbes', eventProbes: 'metricProbes',
};

/**
 * A probe list (YAML list or the installer's comma-separated string) → canonical names in
 * catalogue order without duplicates. Names are case-insensitive and aliases are accepted.
 * Empty means every probe: the agent starts all of them and reports those the kernel lacks.
 */
function readProbes(kind: 'metric' | 'event', value: string | string[], path: Path, problems: string[]): string[] | undefined {
  const own: readonly string[] = PROBES[kind];
  const otherKind = kind === 'metric' ? 'event' : 'metric';
  const other: readonly string[] = PROBES[otherKind];
  const where = path.join('.');
  const items = typeof value === 'string'
    ? value.split(',').map((s) => s.trim()).filter((s) => s !== '').map((name) => ({ name, at: where }))
    : value.map((name, i) => ({ name: name.trim(), at: `${where}[${i}]` }));

  const chosen = new Set<string>();
  let ok = true;
  for (const { name, at: itemPath } of items) {
    const lower = name.toLowerCase();
    const canonical = PROBE_ALIASES[lower] ?? lower;
    if (own.includes(canonical)) {
      chosen.add(canonical);
      continue;
    }
    ok = false;
    if (other.includes(canonical)) {
      // The matching list: metric_config.probes ↔ event_config.probes, metricProbes ↔ eventProbes.
      const last = path[path.length - 1];
      const sibling = last === 'probes' ? `${otherKind}_config.probes` : [...path.slice(0, -1), SIBLING_KEY[last]].join('.');
      problems.push(`${itemPath}: "${name}" is ${article(otherKind)} probe, not ${article(kind)} probe; list it in ${sibling}`);
    } else {
      problems.push(`${itemPath}: unknown probe ${JSON.stringify(name)} (valid: ${own.join(', ')})`);
    }
  }
  if (!ok) return undefined;
  return chosen.size === 0 ? [...own] : own.filter((p) => chosen.has(p));
}

/**
 * OTLP settings the file leaves unset come from the standard variables, resolved by the OTLP
 * sinks' own resolver (src/sinks/otlp/config.ts): OTEL_EXPORTER_OTLP_ENDPOINT (base URL),
 * OTEL_EXPORTER_OTLP_{LOGS,METRICS}_ENDPOINT (full URLs, win over the base one), _PROTOCOL,
 * _HEADERS (`k=v,k2=v2`, URL-encoded values; merged under the file's headers), _COMPRESSION,
 * and OTEL_METRIC_EXPORT_INTERVAL (ms). A key set in the file always wins. Bad values are
 * problems only while OTLP is enabled, one line per variable.
 */
function otlpFromEnv(o: OtlpSinkConfig, given: (key: string) => boolean, env: Env, problems: string[]): void {
  const reported = new Set<string>();
  normalizeOtlpSection(o, given, env, (p) => {
    if (!o.enabled || reported.has(p.variable)) return;
    reported.add(p.variable);
    problems.push(`${p.variable} (environment): ${OTLP_ENV_EXPECTED[p.setting]}, got ${JSON.stringify(p.value)}`);
  });
}

const OTLP_ENV_EXPECTED: Record<OtlpEnvProblem['setting'], string> = {
  endpoint: 'must be an http(s):// URL',
  protocol: 'must be "http/protobuf" or "http/json" (grpc is not supported)',
  compression: 'must be "gzip" or "none"',
  headers: 'must be a list of key=value separated by commas',
  timeout: 'must be a positive number of milliseconds',
  interval: 'must be milliseconds 1000..3600000',
};
