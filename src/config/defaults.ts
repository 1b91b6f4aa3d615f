// The normalized configuration every other module consumes, and its defaults. Whatever
// spelling the file used (ACK ConfigMap keys, KCE/ACK installer values), it ends up here.

import { DEFAULT_EVENT_PROBES, DEFAULT_METRIC_PROBES, probeOptions } from '../catalogue/index.js';
import type { ChecksConfig } from '../checks/config.js';
import { SERVER_SECTION, type ServerConfig } from '../exporters/server-config.js';
import { LOKI_SECTION, type LokiSection as LokiSinkConfig } from '../sinks/loki/config.js';
import { OTLP_SECTION, type OtlpSinkSection as OtlpSinkConfig } from '../sinks/otlp/config.js';
import { REMOTE_WRITE_SECTION, type RemoteWriteSection as RemoteWriteSinkConfig } from '../sinks/remote-write/config.js';
import { STDOUT_SECTION, type StdoutSinkConfig } from '../sinks/stdout.js';
import { STREAM_SECTION, type StreamSinkConfig } from '../sinks/stream.js';
import type { ConfigSection } from '../util/schema.js';

export type { ChecksConfig } from '../checks/config.js';
export type { LokiSinkConfig, OtlpSinkConfig, RemoteWriteSinkConfig, ServerConfig, StdoutSinkConfig, StreamSinkConfig };
export { SERVER_SECTION };

export type MetricNaming = 'netexporter' | 'inspector';

export interface MetricConfig {
  enabled: boolean;
  /** Collection interval in seconds. */
  interval: number;
  port: number;
  /**
   * Canonical names, catalogue order, never empty (an empty list in the file means all). The
   * default leaves out the opt-in probes (the latency probes, which cost every packet).
   */
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

/** Where events go; each sink owns its section (type, defaults, schema) in its own module. */
export interface EventSinksConfig {
  stdout: StdoutSinkConfig;
  loki: LokiSinkConfig;
  otlp: OtlpSinkConfig;
  remote_write: RemoteWriteSinkConfig;
  stream: StreamSinkConfig;
}

/** Each sink's section, by key of event_config.sinks. */
export const SINK_SECTIONS: { [K in keyof EventSinksConfig]: ConfigSection<EventSinksConfig[K]> } = {
  stdout: STDOUT_SECTION,
  loki: LOKI_SECTION,
  otlp: OTLP_SECTION,
  remote_write: REMOTE_WRITE_SECTION,
  stream: STREAM_SECTION,
};

export interface AgentConfig {
  debugmode: boolean;
  metric_config: MetricConfig;
  event_config: EventConfig;
  /** TLS, authentication and limits of both HTTP servers (owned by src/exporters/server-config.ts). */
  server: ServerConfig;
}

function sinkDefaults(): EventSinksConfig {
  return Object.fromEntries(Object.entries(SINK_SECTIONS).map(([k, s]) => [k, structuredClone(s.defaults)])) as unknown as EventSinksConfig;
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
    probes: [...DEFAULT_METRIC_PROBES],
    verbose: false,
    naming: 'netexporter',
    ...optionDefaults('metric_config'),
  },
  event_config: {
    enabled: true,
    port: 19102,
    probes: [...DEFAULT_EVENT_PROBES],
    events_per_second: 100,
    ...optionDefaults('event_config'),
    loki_enable: false,
    loki_address: '',
    sinks: sinkDefaults(),
    checks: {},
  },
  server: structuredClone(SERVER_SECTION.defaults),
});
