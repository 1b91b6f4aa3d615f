// OTLP/HTTP settings: `event_config.sinks.otlp` from the config file, then the standard
// OTEL_EXPORTER_OTLP_* environment variables for whatever the file leaves unset, then the
// spec's defaults. Signal-specific variables beat the generic ones, as in the OTLP exporter spec.
// The agent's config loader already folds the generic variables into the config it hands over;
// resolving them here again is harmless and makes the sinks usable without that loader.

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
}

export type Signal = 'logs' | 'metrics';

export interface ResolvedOtlp {
  url: string;
  protocol: OtlpProtocol;
  compression: OtlpCompression;
  headers: Record<string, string>;
  timeoutMs: number;
  /** PEM files from OTEL_EXPORTER_OTLP_[<SIGNAL>_]CERTIFICATE / _CLIENT_CERTIFICATE / _CLIENT_KEY. */
  tls?: TlsFiles;
}

export interface TlsFiles { caFile?: string; certFile?: string; keyFile?: string }

type Env = Record<string, string | undefined>;

const DEFAULT_ENDPOINT = 'http://localhost:4318';

/** `k1=v1,k2=v2` with percent-encoded values (the OTEL_EXPORTER_OTLP_HEADERS format). */
export function parseHeaderList(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    if (!key) continue;
    let value = part.slice(eq + 1).trim();
    try { value = decodeURIComponent(value); } catch { /* keep as is */ }
    out[key] = value;
  }
  return out;
}

function signalUrl(base: string, signal: Signal): string {
  return `${base.replace(/\/+$/, '')}/v1/${signal}`;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.trim().toLowerCase() as T;
  if (!allowed.includes(v)) throw new Error(`${name}: must be one of ${allowed.join(', ')}, got "${value}"`);
  return v;
}

/** Throws with a one-line message naming the setting on an invalid value (e.g. protocol grpc). */
export function resolveOtlp(cfg: OtlpSinkConfig, signal: Signal, env: Env = process.env): ResolvedOtlp {
  const S = signal.toUpperCase();
  const url = (cfg[`${signal}_endpoint`] || undefined)
    ?? (cfg.endpoint ? signalUrl(cfg.endpoint, signal) : undefined)
    ?? env[`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`]
    ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT ? signalUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT, signal) : undefined)
    ?? signalUrl(DEFAULT_ENDPOINT, signal);
  const protocols = ['http/protobuf', 'http/json'] as const;
  const protocol = oneOf('protocol', cfg.protocol, protocols)
    ?? oneOf(`OTEL_EXPORTER_OTLP_${S}_PROTOCOL`, env[`OTEL_EXPORTER_OTLP_${S}_PROTOCOL`], protocols)
    ?? oneOf('OTEL_EXPORTER_OTLP_PROTOCOL', env.OTEL_EXPORTER_OTLP_PROTOCOL, protocols)
    ?? 'http/protobuf';
  const compressions = ['gzip', 'none'] as const;
  const compression = oneOf('compression', cfg.compression, compressions)
    ?? oneOf(`OTEL_EXPORTER_OTLP_${S}_COMPRESSION`, env[`OTEL_EXPORTER_OTLP_${S}_COMPRESSION`], compressions)
    ?? oneOf('OTEL_EXPORTER_OTLP_COMPRESSION', env.OTEL_EXPORTER_OTLP_COMPRESSION, compressions)
    ?? 'none';
  // Headers merge: generic env < signal env < config file; names are case-insensitive.
  const headers: Record<string, string> = {};
  for (const src of [parseHeaderList(env.OTEL_EXPORTER_OTLP_HEADERS), parseHeaderList(env[`OTEL_EXPORTER_OTLP_${S}_HEADERS`]), cfg.headers ?? {}]) {
    for (const [k, v] of Object.entries(src)) headers[k.toLowerCase()] = v;
  }
  const timeout = Number(env[`OTEL_EXPORTER_OTLP_${S}_TIMEOUT`] ?? env.OTEL_EXPORTER_OTLP_TIMEOUT ?? 10_000);
  try { new URL(url); } catch { throw new Error(`otlp ${signal} endpoint: not a URL: "${url}"`); }
  const file = (name: string) => env[`OTEL_EXPORTER_OTLP_${S}_${name}`] || env[`OTEL_EXPORTER_OTLP_${name}`] || undefined;
  const tls: TlsFiles = { caFile: file('CERTIFICATE'), certFile: file('CLIENT_CERTIFICATE'), keyFile: file('CLIENT_KEY') };
  const resolved: ResolvedOtlp = { url, protocol, compression, headers, timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 10_000 };
  if (tls.caFile || tls.certFile || tls.keyFile) resolved.tls = tls;
  return resolved;
}

/** Whether the signal is on: `logs`/`metrics` default to true when the sink is enabled. */
export function signalEnabled(cfg: OtlpSinkConfig, signal: Signal): boolean {
  return cfg.enabled !== false && cfg[signal] !== false;
}

/** OTLP/HTTP says: retry 429, 502, 503, 504 only; every other status is final. */
export const OTLP_RETRYABLE = (status: number) => status === 429 || status === 502 || status === 503 || status === 504;
