// JSON Schema (draft-07) of the config file, composed from the sections the components own
// (the checks, the probes' options) and the agent's own keys. It is a plain object so that the
// Helm chart can ship it as values.schema.json; it only checks structure (types, ranges, known
// keys). Checks that need code (probe names and aliases, comma-separated lists, two spellings of
// one setting) live in load.ts, because a schema cannot express them with readable errors.

import { EVENT_PROBES, METRIC_PROBES, PROBES, probeOptions } from '../catalogue/index.js';
import { CHECKS_SCHEMA } from '../checks/config.js';
import { bool, lokiAddress, port, section } from '../util/schema.js';
import { DEFAULT_CONFIG, SERVER_SECTION, SINK_SECTIONS } from './defaults.js';
import type { ProbeOptionSection } from '../probes/probe.js';

export { FORMATS, isCidr, isHttpUrl, isIpv4Prefix, isLokiAddress } from '../util/schema.js';

const D = DEFAULT_CONFIG;

/** The opt-in probes among `names`. */
const optIn = (names: readonly string[]) => PROBES.filter((p) => p.optIn && names.includes(p.name)).map((p) => p.name).join(', ');

const probeList = (kind: string, names: readonly string[]) => ({
  // A list, or the installer's comma-separated string; names are checked in load.ts.
  type: ['array', 'string'],
  items: { type: 'string' },
  description: `${kind} probes to enable; empty means all; by default all but ${optIn(names)}, which cost every packet. Valid: ${names.join(', ')}`,
});

/** The options probes declare in a section, each with the probes that read it. */
function optionProperties(sectionName: ProbeOptionSection): Record<string, object> {
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

/** event_config.sinks: one section per destination of events, each its sink's own. */
const sinks = section('Destinations of events', Object.fromEntries(Object.entries(SINK_SECTIONS).map(([k, s]) => [k, s.schema])));

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
    checks: {
      ...CHECKS_SCHEMA,
      description: `${CHECKS_SCHEMA.description} (event probes ${checkProbes.join(', ')})`,
      properties: { ...CHECKS_SCHEMA.properties, ...optionProperties('event_config.checks') },
    },
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
    server: SERVER_SECTION.schema,
    config: { type: 'object', additionalProperties: false, properties: installerProperties,
      description: 'Installer values, as nested in the Helm chart' },
    ...installerProperties,
  },
} as const;
