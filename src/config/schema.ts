// JSON Schema (draft-07) of the config file, composed from the sections the components own
// (the checks, the probes' options) and the agent's own keys. It is a plain object so that the
// Helm chart can ship it as values.schema.json; it only checks structure (types, ranges, known
// keys). Checks that need code (probe names and aliases, comma-separated lists, two spellings of
// one setting) live in load.ts, because a schema cannot express them with readable errors.

import { EVENT_PROBES, METRIC_PROBES, PROBES, probeOptions } from '../catalogue/index.js';
import { CHECKS_SCHEMA } from '../checks/config.js';
import { bool, httpUrl, int, lokiAddress, oneOf, port, section, str, stringMap } from '../util/schema.js';
import { DEFAULT_CONFIG } from './defaults.js';

export { FORMATS, isCidr, isHttpUrl, isIpv4Prefix, isLokiAddress } from '../util/schema.js';

const D = DEFAULT_CONFIG;

const probeList = (kind: string, names: readonly string[]) => ({
  // A list, or the installer's comma-separated string; names are checked in load.ts.
  type: ['array', 'string'],
  items: { type: 'string' },
  description: `${kind} probes to enable; empty means all. Valid: ${names.join(', ')}`,
});

/** The options probes declare in a section, each with the probes that read it. */
function optionProperties(sectionName: 'metric_config' | 'event_config'): Record<string, object> {
  return Object.fromEntries(probeOptions(sectionName).map(({ option, probes }) =>
    [option.key, { ...option.schema, description: `${option.schema.description} (${probes.join(', ')})` }]));
}

const checkProbes = PROBES.filter((p) => p.event?.checks).map((p) => p.name);

/** ACK `inspector-config` ConfigMap, section metric_config. */
const metricConfig = {
  type: 'object',
  additionalProperties: false,
  properties: {
    interval: { type: 'integer', minimum: 1, maximum: 3600, default: D.metric_config.interval,
      description: 'Collection interval in seconds' },
    port: port('Port of the Prometheus /metrics endpoint', D.metric_config.port),
    probes: probeList('Metric', METRIC_PROBES),
    verbose: bool('Add pod IP and labels to metric labels', D.metric_config.verbose),
    naming: { type: 'string', enum: ['netexporter', 'inspector'], default: D.metric_config.naming,
      description: 'Metric names: netexporter_<probe>_<metric> (KCE) or inspector_pod_<probe><metric> (ACK)' },
    ...optionProperties('metric_config'),
  },
} as const;

const S = D.event_config.sinks;

/** event_config.sinks: one section per destination of events. */
const sinks = section('Destinations of events', {
  stdout: section('Events on standard output', {
    enabled: bool('Print events', S.stdout.enabled),
    format: oneOf(['json', 'text'], S.stdout.format, 'json: one KCE-style JSON object per line; text: aligned lines for humans'),
  }),
  loki: section('Grafana Loki push API', {
    enabled: bool('Push events to Loki (same as loki_enable)', S.loki.enabled),
    url: lokiAddress('Loki host[:port] or URL (same as loki_address); empty: discover service_name'),
    tenant: str('X-Scope-OrgID header; empty: none'),
    username: str('Basic auth user'),
    password_file: str('File holding the basic auth password'),
    bearer_token_file: str('File holding a bearer token'),
    ca_file: str('PEM CA bundle for https'),
    insecure_skip_verify: bool('Do not verify the server certificate', S.loki.insecure_skip_verify),
    discovery_namespace: str('Namespace searched first for the Loki Service; empty: any'),
    service_name: str('Name of the Loki Service to discover', S.loki.service_name),
    encoding: oneOf(['protobuf', 'json'], S.loki.encoding, 'Push body: protobuf+snappy or gzipped JSON'),
    batch_max_events: int(1, 100000, S.loki.batch_max_events, 'Events per push at most'),
    batch_max_wait_ms: int(1, 60000, S.loki.batch_max_wait_ms, 'Longest an event waits for a batch to fill'),
    max_queue_events: int(1, 10000000, S.loki.max_queue_events, 'Events held while Loki is slow or down; beyond, dropped and counted'),
    static_labels: stringMap('Extra stream labels'),
  }),
  otlp: section('OTLP/HTTP logs and metrics; unset keys fall back to OTEL_EXPORTER_OTLP_* variables', {
    enabled: bool('Export over OTLP', S.otlp.enabled),
    endpoint: httpUrl('Base URL; /v1/logs and /v1/metrics are appended'),
    protocol: oneOf(['http/protobuf', 'http/json'], S.otlp.protocol, 'Encoding'),
    headers: stringMap('Extra request headers'),
    compression: oneOf(['gzip', 'none'], S.otlp.compression, 'Request body compression'),
    logs: bool('Export events as log records', S.otlp.logs),
    metrics: bool('Export metrics', S.otlp.metrics),
    interval_seconds: int(1, 3600, S.otlp.interval_seconds, 'Metric export interval in seconds'),
  }),
  remote_write: section('Prometheus remote write (ARMS managed Prometheus)', {
    enabled: bool('Push metrics with remote write', S.remote_write.enabled),
    url: httpUrl('Remote write URL'),
    username: str('Basic auth user (ARMS AccessKey ID)'),
    password_file: str('File holding the basic auth password (ARMS AccessKey secret)'),
    headers: stringMap('Extra request headers'),
    interval_seconds: int(1, 3600, S.remote_write.interval_seconds, 'Push interval in seconds'),
  }),
  stream: section('Live event stream (watch) on event_config.port', {
    max_clients: int(1, 1000, S.stream.max_clients, 'Concurrent clients'),
    client_buffer_events: int(1, 1000000, S.stream.client_buffer_events, 'Events buffered per slow client before dropping'),
  }),
});

/** ACK `inspector-config` ConfigMap, section event_config. */
const eventConfig = {
  type: 'object',
  additionalProperties: false,
  properties: {
    loki_enable: bool('Push events to Grafana Loki', D.event_config.loki_enable),
    loki_address: lokiAddress('Loki host[:port] or URL; empty: discover the grafana-loki Service'),
    probes: probeList('Event', EVENT_PROBES),
    port: port('Port of the event stream service', D.event_config.port),
    events_per_second: { type: 'integer', minimum: 1, maximum: 100000, default: D.event_config.events_per_second, description: 'eBPF events: sampled events per second per probe, limited in the kernel (the counters count everything)' },
    ...optionProperties('event_config'),
    sinks,
    checks: { ...CHECKS_SCHEMA, description: `${CHECKS_SCHEMA.description} (event probes ${checkProbes.join(', ')})` },
  },
} as const;

/** KCE / ACK installer (Helm) values; accepted at the top level or under `config:`. */
const installerProperties = {
  enableMetricServer: bool('Collect and serve metrics', D.metric_config.enabled),
  enableEventServer: bool('Run event probes', D.event_config.enabled),
  metricProbes: probeList('Metric', METRIC_PROBES),
  eventProbes: probeList('Event', EVENT_PROBES),
  remoteLokiAddress: lokiAddress('Loki address to push events to; setting it enables the push'),
  // Spelling used by the ACK documentation's Loki walkthrough for the same value.
  lokiServerAddress: lokiAddress('Same as remoteLokiAddress'),
  metricLabelVerbose: bool('Same as metric_config.verbose'),
  metricServerPort: port('Same as metric_config.port', D.metric_config.port),
  eventServerPort: port('Same as event_config.port', D.event_config.port),
  // ACK's compatibility mode for kernels without BTF. Accepted so existing values files load,
  // but it has no effect: this agent detects per probe what the kernel supports.
  enableLegacyVersion: bool('Accepted for compatibility; has no effect'),
} as const;

export const INSTALLER_KEYS = Object.keys(installerProperties) as (keyof typeof installerProperties)[];

export const CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'kubesonar agent configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    debugmode: bool('Debug logging and debug endpoints', D.debugmode),
    metric_config: metricConfig,
    event_config: eventConfig,
    config: { type: 'object', additionalProperties: false, properties: installerProperties,
      description: 'Installer values, as nested in the Helm chart' },
    ...installerProperties,
  },
} as const;
