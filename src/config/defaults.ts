// The normalized configuration every other module consumes, and its defaults. Whatever
// spelling the file used (ACK ConfigMap keys, KCE/ACK installer values), it ends up here.

import { EVENT_PROBES, METRIC_PROBES } from '../catalogue/probes.js';
import type { EventProbeName, MetricProbeName } from '../catalogue/probes.js';

export type MetricNaming = 'netexporter' | 'inspector';

export interface MetricConfig {
  enabled: boolean;
  /** Collection interval in seconds. */
  interval: number;
  port: number;
  /** Canonical names, catalogue order, never empty (an empty list in the file means all). */
  probes: MetricProbeName[];
  /** Add pod IP and labels to metric labels. */
  verbose: boolean;
  /** Metric name prefix family: KCE `netexporter_*` or ACK `inspector_pod_*`. */
  naming: MetricNaming;
  qdisc_devices: string[];
  qdisc_per_interface: boolean;
  pod_cidrs: string[];
}

export interface EventConfig {
  enabled: boolean;
  port: number;
  /** Canonical names, catalogue order, never empty (an empty list in the file means all). */
  probes: EventProbeName[];
  loki_enable: boolean;
  /** Empty: discover a Service named grafana-loki. */
  loki_address: string;
  // Sinks (stdout / loki / otlp / remote-write) will be added here as their own keys, with a
  // matching schema section in schema.ts and a resolver in load.ts.
}

export interface AgentConfig {
  debugmode: boolean;
  metric_config: MetricConfig;
  event_config: EventConfig;
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
    qdisc_devices: ['cali*', 'eth*'],
    qdisc_per_interface: false,
    pod_cidrs: [],
  },
  event_config: {
    enabled: true,
    port: 19102,
    probes: [...EVENT_PROBES],
    loki_enable: false,
    loki_address: '',
  },
});
