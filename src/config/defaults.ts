// The normalized configuration every other module consumes, and its defaults. Whatever
// spelling the file used (ACK ConfigMap keys, KCE/ACK installer values), it ends up here.

import { EVENT_PROBES, METRIC_PROBES, probeOptions } from '../catalogue/index.js';
import type { ChecksConfig } from '../checks/config.js';

export type { ChecksConfig } from '../checks/config.js';

export type MetricNaming = 'netexporter' | 'inspector';

export interface MetricConfig {
  enabled: boolean;
  /** Collection interval in seconds. */
  interval: number;
  port: number;
  /** Canonical names, catalogue order, never empty (an empty list in the file means all). */
  probes: string[];
  /** Add pod IP and labels to metric labels. */
  verbose: boolean;
  /** Metric name prefix family: KCE `netexporter_*` or ACK `inspector_pod_*`. */
  naming: MetricNaming;
  /** The options metric probes declare (e.g. `qdisc_devices`), by key. */
  [probeOption: string]: unknown;
}

export interface EventConfig {
  enabled: boolean;
  port: number;
  /** Canonical names, catalogue order, never empty (an empty list in the file means all). */
  probes: string[];
  /** eBPF events: sampled events per second per probe (a kernel-side rate limit). */
  events_per_second: number;
  /** Same as `sinks.loki.enabled` (the ACK key; kept for code written against it). */
  loki_enable: boolean;
  /** The Loki address as written (ACK `loki_address`, installer `remoteLokiAddress`); `sinks.loki.url` is its URL form. */
  loki_address: string;
  /** Where events go; each sink is created, replaced or removed when its section changes. */
  sinks: EventSinksConfig;
  /**
   * Options of the configuration checks as given (validated, otherwise unchanged); `{}` by
   * default. The checks lay it over their own defaults (checkOptionsFromConfig in src/checks).
   */
  checks: ChecksConfig;
  /** The options event probes declare (e.g. `latency_threshold_ms`), by key. */
  [probeOption: string]: unknown;
}

export interface EventSinksConfig {
  stdout: StdoutSinkConfig;
  loki: LokiSinkConfig;
  otlp: OtlpSinkConfig;
  remote_write: RemoteWriteSinkConfig;
  stream: StreamSinkConfig;
}

export interface StdoutSinkConfig {
  enabled: boolean;
  /** `json`: one KCE-style JSON object per line; `text`: one aligned line for humans. */
  format: 'json' | 'text';
}

export interface LokiSinkConfig {
  /** Also set by `loki_enable`, or by `remoteLokiAddress` alone (installer values). */
  enabled: boolean;
  /**
   * Empty: discover the Service `service_name` through the Kubernetes API. Otherwise an
   * http(s) URL: `host[:port]` forms are normalized to `http://host:port` (port 3100 when
   * omitted). A URL whose path is `/` (or empty) gets `/loki/api/v1/push` appended by the
   * sink; any other path is the full push URL.
   */
  url: string;
  /** X-Scope-OrgID; empty: no header. */
  tenant: string;
  /** Basic auth user; the password is read from `password_file` (re-read on every push, so Secret rotations apply). */
  username: string;
  password_file: string;
  /** Bearer token file (mutually exclusive with basic auth); re-read on every push. */
  bearer_token_file: string;
  /** PEM CA bundle for https; empty: the system roots. */
  ca_file: string;
  insecure_skip_verify: boolean;
  /** Namespace searched first for the Service; empty: any namespace. */
  discovery_namespace: string;
  service_name: string;
  /** Push body: protobuf + snappy, or JSON (gzip). */
  encoding: 'protobuf' | 'json';
  /** Pipeline options of this sink (see SinkOptions in src/events/pipeline.ts). */
  batch_max_events: number;
  batch_max_wait_ms: number;
  max_queue_events: number;
  /** Extra stream labels on every push (label names: [A-Za-z_][A-Za-z0-9_]*). */
  static_labels: Record<string, string>;
}

/**
 * OTLP/HTTP logs and metrics. Precedence for every field: the config file key, then the
 * standard OTEL_EXPORTER_OTLP_* environment variable, then the default (see load.ts).
 */
export interface OtlpSinkConfig {
  enabled: boolean;
  /** Base URL; the signal paths /v1/logs and /v1/metrics are appended (Loki 3.x: http://loki:3100/otlp). */
  endpoint: string;
  /** Full URLs actually used: from `endpoint`, or OTEL_EXPORTER_OTLP_{LOGS,METRICS}_ENDPOINT as given. */
  logs_endpoint: string;
  metrics_endpoint: string;
  protocol: 'http/protobuf' | 'http/json';
  /** OTEL_EXPORTER_OTLP_HEADERS merged with the file's `headers` (the file wins per header). */
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  /** Export events as log records. */
  logs: boolean;
  /** Export the metrics (the same the Prometheus endpoint serves). */
  metrics: boolean;
  /** Metric export interval. */
  interval_seconds: number;
}

/** Prometheus remote write 1.0 (e.g. ARMS managed Prometheus). */
export interface RemoteWriteSinkConfig {
  enabled: boolean;
  /** Required when enabled. */
  url: string;
  /** Basic auth (ARMS AccessKey ID); the password (AccessKey secret) is read from `password_file`. */
  username: string;
  password_file: string;
  headers: Record<string, string>;
  interval_seconds: number;
}

/** The live event stream server on event_config.port (see src/sinks/stream.ts). */
export interface StreamSinkConfig {
  /** Concurrent watch clients; more are refused with 503. */
  max_clients: number;
  /** Events buffered per slow client before its events are dropped (and counted). */
  client_buffer_events: number;
}

export interface AgentConfig {
  debugmode: boolean;
  metric_config: MetricConfig;
  event_config: EventConfig;
}

/** The probes' options of a section at their defaults. */
function optionDefaults(section: 'metric_config' | 'event_config'): Record<string, unknown> {
  return Object.fromEntries(probeOptions(section).map(({ option }) => [option.key, structuredClone(option.schema.default)]));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Frozen: callers that want to modify it must clone it (parseConfig always returns a fresh object). */
export const DEFAULT_CONFIG: AgentConfig = deepFreeze({
  debugmode: false,
  metric_config: {
    enabled: true,
    interval: 5,
    port: 9102,
    probes: [...METRIC_PROBES],
    verbose: false,
    naming: 'netexporter',
    ...optionDefaults('metric_config'),
  },
  event_config: {
    enabled: true,
    port: 19102,
    probes: [...EVENT_PROBES],
    events_per_second: 100,
    ...optionDefaults('event_config'),
    loki_enable: false,
    loki_address: '',
    sinks: {
      stdout: { enabled: true, format: 'json' },
      loki: {
        enabled: false, url: '', tenant: '', username: '', password_file: '', bearer_token_file: '',
        ca_file: '', insecure_skip_verify: false, discovery_namespace: '', service_name: 'grafana-loki',
        encoding: 'protobuf', batch_max_events: 1000, batch_max_wait_ms: 1000, max_queue_events: 10000,
        static_labels: {},
      },
      otlp: {
        enabled: false, endpoint: 'http://localhost:4318', logs_endpoint: 'http://localhost:4318/v1/logs',
        metrics_endpoint: 'http://localhost:4318/v1/metrics', protocol: 'http/protobuf', headers: {},
        compression: 'none', logs: true, metrics: true, interval_seconds: 30,
      },
      remote_write: { enabled: false, url: '', username: '', password_file: '', headers: {}, interval_seconds: 30 },
      stream: { max_clients: 16, client_buffer_events: 1000 },
    },
    checks: {},
  },
});
