// OTLP/HTTP settings, and the only reader of the OTEL_EXPORTER_OTLP_* variables. For every
// setting: the config file's key, then OTEL_EXPORTER_OTLP_<SIGNAL>_*, then OTEL_EXPORTER_OTLP_*,
// then the default. The signal variables beat the generic ones as the OTLP exporter
// specification says; the file beats both because the ConfigMap is the agent's configuration.
//
// The config loader fills event_config.sinks.otlp with normalizeOtlpSection (file and generic
// variables, since that section has one protocol, one header set...); the sinks then call
// resolveOtlp for their signal. The section remembers which keys the file set, so that a
// value the loader took from a generic variable does not pass for a file key there and hide
// the signal's own variable.

import { bool, httpUrl, int, oneOf as enumOf, section, str, stringMap, type ConfigSection } from '../../util/schema.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type OtlpCompression = 'gzip' | 'none';

/** `event_config.sinks.otlp` (keys as in the config file). */
export interface OtlpSinkConfig {
  enabled?: boolean;
  /** Base URL: `/v1/logs` and `/v1/metrics` are appended (Loki 3.x: `http://loki:3100/otlp`). */
  endpoint?: string;
  protocol?: OtlpProtocol;
  headers?: Record<string, string>;
  compression?: OtlpCompression;
  /** Full signal URLs, used as is; they win over `endpoint` (the config loader derives them). */
  logs_endpoint?: string;
  metrics_endpoint?: string;
  /** Send events as log records (default true). */
  logs?: boolean;
  /** Push metrics (default true). */
  metrics?: boolean;
  /** Seconds between metric pushes (default 30). */
  interval_seconds?: number;
  /** How long an event or a metric push may wait for delivery (retries included), ms (default 15 min). */
  max_age_ms?: number;
  /** Estimated bytes held while the receiver is slow or down, for events and for metric pushes each (default 32 MiB). */
  max_queue_bytes?: number;
  /** Events held while the receiver is slow or down (default 100 000). */
  max_queue_events?: number;
  /** Backoff between attempts, ms: a random wait below a bound doubling from min to max (default 1000..30 000). */
  min_backoff_ms?: number;
  max_backoff_ms?: number;
  /** A directory for a disk spool of the log records (`<spool_dir>/otlp`); empty: memory only. */
  spool_dir?: string;
  spool_max_bytes?: number;
}

export type Signal = 'logs' | 'metrics';

export interface ResolvedOtlp {
  url: string;
  protocol: OtlpProtocol;
  compression: OtlpCompression;
  /** Names lower-cased. */
  headers: Record<string, string>;
  timeoutMs: number;
  /** PEM files from OTEL_EXPORTER_OTLP_[<SIGNAL>_]CERTIFICATE / _CLIENT_CERTIFICATE / _CLIENT_KEY. */
  tls?: TlsFiles;
  /** Metrics: export interval from `interval_seconds` or OTEL_METRIC_EXPORT_INTERVAL, when either is set. */
  intervalMs?: number;
}

export interface TlsFiles { caFile?: string; certFile?: string; keyFile?: string }

type Env = Readonly<Record<string, string | undefined>>;

/** A variable whose value cannot be used; the resolver then carries on as if it were unset. */
export interface OtlpEnvProblem {
  variable: string;
  /** As found in the environment. */
  value: string;
  setting: 'endpoint' | 'protocol' | 'compression' | 'headers' | 'timeout' | 'interval';
  /** One line: `<variable>: <what is expected>, got "<value>"`. */
  message: string;
}

export type OtlpProblemHandler = (p: OtlpEnvProblem) => void;

const DEFAULT_ENDPOINT = 'http://localhost:4318';
const DEFAULT_TIMEOUT_MS = 10_000;
const PROTOCOLS = ['http/protobuf', 'http/json'] as const;
const COMPRESSIONS = ['gzip', 'none'] as const;

const throwProblem: OtlpProblemHandler = (p) => { throw new Error(p.message); };

/** Keys of a normalized section that its config file set (see normalizeOtlpSection). */
const fileKeys = new WeakMap<object, OtlpSinkConfig>();

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** `k1=v1,k2=v2` with percent-encoded values (W3C baggage-like); undefined when malformed. */
export function parseHeaderList(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) return undefined;
    const key = item.slice(0, eq).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) return undefined;
    try {
      out[key] = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return out;
}

function signalUrl(base: string, signal: Signal): string {
  return `${base.replace(/\/+$/, '')}/v1/${signal}`;
}

function oneOf<T extends string>(allowed: readonly T[]) {
  return (v: string): T | undefined => {
    const s = v.toLowerCase() as T;
    return allowed.includes(s) ? s : undefined;
  };
}

/** A config file value: checked too, since sinks may be built without the loader's schema. */
function fileValue<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined || value === '') return undefined;
  const v = oneOf(allowed)(value.trim());
  if (!v) throw new Error(`${name}: must be one of ${allowed.join(', ')}, got "${value}"`);
  return v;
}

/** Settings of one level: a signal's, or the generic ones (headers keep their spelling). */
interface Settings {
  /** The signal's full URL, or for the generic level the base endpoint. */
  url: string;
  protocol: OtlpProtocol;
  compression: OtlpCompression;
  /** Lower-cased name → [name as written, value]. */
  headers: Map<string, [string, string]>;
  timeoutMs: number;
  tls?: TlsFiles;
  intervalMs?: number;
}

function resolveSettings(cfg: OtlpSinkConfig, signal: Signal | undefined, env: Env, report: OtlpProblemHandler): Settings {
  /** The variable's trimmed value, or undefined when unset, empty or invalid (reported). */
  const variable = <T>(name: string, setting: OtlpEnvProblem['setting'], parse: (v: string) => T | undefined, expected: string): T | undefined => {
    const raw = env[name];
    const v = raw?.trim();
    if (!v) return undefined;
    const parsed = parse(v);
    if (parsed === undefined) report({ variable: name, value: raw!, setting, message: `${name}: ${expected}, got ${JSON.stringify(raw)}` });
    return parsed;
  };
  // Most specific first: OTEL_EXPORTER_OTLP_<SIGNAL>_<KEY>, then OTEL_EXPORTER_OTLP_<KEY>.
  const names = (key: string) => [...(signal ? [`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_${key}`] : []), `OTEL_EXPORTER_OTLP_${key}`];
  const first = <T>(key: string, setting: OtlpEnvProblem['setting'], parse: (v: string) => T | undefined, expected: string): T | undefined => {
    for (const name of names(key)) {
      const v = variable(name, setting, parse, expected);
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const endpointVar = (name: string) => variable(name, 'endpoint', (v) => (isHttpUrl(v) ? v : undefined), 'must be an http(s):// URL');

  let url: string;
  if (signal) {
    // The signal's variable is a full URL, used as is; the generic one is a base.
    const generic = () => {
      const base = endpointVar('OTEL_EXPORTER_OTLP_ENDPOINT');
      return base === undefined ? undefined : signalUrl(base, signal);
    };
    url = (cfg[`${signal}_endpoint`] || undefined)
      ?? (cfg.endpoint ? signalUrl(cfg.endpoint, signal) : undefined)
      ?? endpointVar(`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`)
      ?? generic()
      ?? signalUrl(DEFAULT_ENDPOINT, signal);
    try { new URL(url); } catch { throw new Error(`otlp ${signal} endpoint: not a URL: "${url}"`); }
  } else {
    url = cfg.endpoint || (endpointVar('OTEL_EXPORTER_OTLP_ENDPOINT') ?? DEFAULT_ENDPOINT);
  }

  const protocol = fileValue('protocol', cfg.protocol, PROTOCOLS)
    ?? first('PROTOCOL', 'protocol', oneOf(PROTOCOLS), `must be one of ${PROTOCOLS.join(', ')}`)
    ?? 'http/protobuf';
  const compression = fileValue('compression', cfg.compression, COMPRESSIONS)
    ?? first('COMPRESSION', 'compression', oneOf(COMPRESSIONS), `must be one of ${COMPRESSIONS.join(', ')}`)
    ?? 'none';

  // Headers merge: generic variable < signal variable < config file; names are case-insensitive.
  const headers = new Map<string, [string, string]>();
  const lists = names('HEADERS').reverse().map((name) => variable(name, 'headers', parseHeaderList, 'must be a list of key=value separated by commas'));
  for (const src of [...lists, cfg.headers]) {
    for (const [k, v] of Object.entries(src ?? {})) headers.set(k.toLowerCase(), [k, v]);
  }

  const timeoutMs = first('TIMEOUT', 'timeout', (v) => (Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : undefined), 'must be a positive number of milliseconds')
    ?? DEFAULT_TIMEOUT_MS;

  const path = (key: string) => names(key).map((n) => env[n]?.trim()).find((v) => v) || undefined;
  const tls: TlsFiles = { caFile: path('CERTIFICATE'), certFile: path('CLIENT_CERTIFICATE'), keyFile: path('CLIENT_KEY') };

  const settings: Settings = { url, protocol, compression, headers, timeoutMs };
  if (tls.caFile || tls.certFile || tls.keyFile) settings.tls = tls;
  if (signal !== 'logs') {
    const ms = cfg.interval_seconds !== undefined ? cfg.interval_seconds * 1000
      : variable('OTEL_METRIC_EXPORT_INTERVAL', 'interval', (v) => {
        const n = Number(v);
        return Number.isInteger(n) && n >= 1000 && n <= 3_600_000 ? n : undefined;
      }, 'must be milliseconds 1000..3600000');
    if (ms !== undefined) settings.intervalMs = ms;
  }
  return settings;
}

/**
 * The settings of one signal. Invalid variables are passed to `onProblem`, which throws by
 * default with a one-line message naming the variable (e.g. OTEL_EXPORTER_OTLP_PROTOCOL grpc);
 * an invalid file value or endpoint always throws.
 */
export function resolveOtlp(cfg: OtlpSinkConfig, signal: Signal, env: Env = process.env, onProblem: OtlpProblemHandler = throwProblem): ResolvedOtlp {
  const s = resolveSettings(fileKeys.get(cfg) ?? cfg, signal, env, onProblem);
  const headers: Record<string, string> = {};
  for (const [lower, [, v]] of s.headers) headers[lower] = v;
  const resolved: ResolvedOtlp = { url: s.url, protocol: s.protocol, compression: s.compression, headers, timeoutMs: s.timeoutMs };
  if (s.tls) resolved.tls = s.tls;
  if (s.intervalMs !== undefined) resolved.intervalMs = s.intervalMs;
  return resolved;
}

/** The config loader's `event_config.sinks.otlp`: every key filled in. */
export interface OtlpSection extends OtlpSinkConfig {
  endpoint: string;
  logs_endpoint: string;
  metrics_endpoint: string;
  protocol: OtlpProtocol;
  compression: OtlpCompression;
  headers: Record<string, string>;
  interval_seconds: number;
}

/** Queue and retry bounds of the OTLP section (not OTLP settings: no variable sets them). */
export const OTLP_DELIVERY_DEFAULTS = {
  max_age_ms: 15 * 60_000, max_queue_bytes: 32 << 20, max_queue_events: 100_000, min_backoff_ms: 1000, max_backoff_ms: 30_000,
  spool_dir: '', spool_max_bytes: 256 << 20,
};

/**
 * Fills `section` (file keys as read, the others at their defaults) from the environment: the
 * endpoint, protocol, compression, headers (spelled as written) and interval every signal
 * starts from, and each signal's full URL. `isFileKey` tells which keys the file set.
 */
export function normalizeOtlpSection(section: OtlpSection, isFileKey: (key: string) => boolean, env: Env, onProblem: OtlpProblemHandler): void {
  const file: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(section)) if (isFileKey(k)) file[k] = structuredClone(v);
  const generic = resolveSettings(file, undefined, env, onProblem);
  section.endpoint = generic.url;
  section.logs_endpoint = resolveOtlp(file, 'logs', env, onProblem).url;
  section.metrics_endpoint = resolveOtlp(file, 'metrics', env, onProblem).url;
  section.protocol = generic.protocol;
  section.compression = generic.compression;
  section.headers = Object.fromEntries(generic.headers.values());
  if (generic.intervalMs !== undefined) section.interval_seconds = Math.round(generic.intervalMs / 1000);
  fileKeys.set(section, file);
}

/** event_config.sinks.otlp as the config loader leaves it: every key filled in. */
export interface OtlpSinkSection extends OtlpSection {
  enabled: boolean;
  max_age_ms: number;
  max_queue_bytes: number;
  max_queue_events: number;
  min_backoff_ms: number;
  max_backoff_ms: number;
  spool_dir: string;
  spool_max_bytes: number;
  /** Export events as log records. */
  logs: boolean;
  /** Export the metrics (the same the Prometheus endpoint serves). */
  metrics: boolean;
}

export const OTLP_SECTION: ConfigSection<OtlpSinkSection> = {
  defaults: {
    enabled: false, endpoint: DEFAULT_ENDPOINT, logs_endpoint: signalUrl(DEFAULT_ENDPOINT, 'logs'),
    metrics_endpoint: signalUrl(DEFAULT_ENDPOINT, 'metrics'), protocol: 'http/protobuf', headers: {},
    compression: 'none', logs: true, metrics: true, interval_seconds: 30, ...OTLP_DELIVERY_DEFAULTS,
  },
  schema: section('OTLP/HTTP logs and metrics; unset keys fall back to OTEL_EXPORTER_OTLP_* variables', {
    enabled: bool('Export over OTLP', false),
    endpoint: httpUrl('Base URL; /v1/logs and /v1/metrics are appended'),
    protocol: enumOf(PROTOCOLS, 'http/protobuf', 'Encoding'),
    headers: stringMap('Extra request headers'),
    compression: enumOf(COMPRESSIONS, 'none', 'Request body compression'),
    logs: bool('Export events as log records', true),
    metrics: bool('Export metrics', true),
    interval_seconds: int(1, 3600, 30, 'Metric export interval in seconds'),
    max_age_ms: int(100, 86_400_000, OTLP_DELIVERY_DEFAULTS.max_age_ms, 'How long an event or metric push may wait for delivery, retries included (ms); then dropped and counted'),
    max_queue_bytes: int(1024, 2 ** 32, OTLP_DELIVERY_DEFAULTS.max_queue_bytes, 'Estimated bytes held while the receiver is slow or down (events, and metric pushes, each); beyond, the oldest are dropped and counted'),
    max_queue_events: int(1, 10000000, OTLP_DELIVERY_DEFAULTS.max_queue_events, 'Events held while the receiver is slow or down; beyond, the oldest are dropped and counted'),
    min_backoff_ms: int(1, 3_600_000, OTLP_DELIVERY_DEFAULTS.min_backoff_ms, 'Least bound of the wait between attempts (ms)'),
    max_backoff_ms: int(1, 3_600_000, OTLP_DELIVERY_DEFAULTS.max_backoff_ms, 'Greatest bound of the wait between attempts (ms)'),
    spool_dir: str('Directory of a disk spool that keeps queued log records across restarts and long outages; empty: none'),
    spool_max_bytes: int(65536, 2 ** 40, OTLP_DELIVERY_DEFAULTS.spool_max_bytes, 'Bytes the disk spool may take; beyond, new records are dropped and counted'),
  }),
  validate(o) {
    return o.min_backoff_ms > o.max_backoff_ms ? [`min_backoff_ms: ${o.min_backoff_ms} is above max_backoff_ms ${o.max_backoff_ms}`] : [];
  },
};

/** Whether the signal is on: `logs`/`metrics` default to true when the sink is enabled. */
export function signalEnabled(cfg: OtlpSinkConfig, signal: Signal): boolean {
  return cfg.enabled !== false && cfg[signal] !== false;
}

/** OTLP/HTTP says: retry 429, 502, 503, 504 only; every other status is final. */
export const OTLP_RETRYABLE = (status: number) => status === 429 || status === 502 || status === 503 || status === 504;
