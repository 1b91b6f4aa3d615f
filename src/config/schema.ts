// JSON Schema (draft-07) of the config file. It is a plain object so that the Helm chart can
// ship it as values.schema.json; it only checks structure (types, ranges, known keys).
// Checks that need code (probe names and aliases, comma-separated lists, two spellings of one
// setting) live in load.ts, because a schema cannot express them with readable errors.

import { isIP } from 'node:net';
import { EVENT_PROBES, METRIC_PROBES } from '../catalogue/probes.js';
import { DEFAULT_CONFIG } from './defaults.js';

const D = DEFAULT_CONFIG;

// Custom formats. Validators that do not know them (Helm's) ignore them; ajv gets the
// implementations below through FORMATS.
export const FORMATS = {
  cidr: isCidr,
  'loki-address': isLokiAddress,
  'ifname-glob': (s: string): boolean => /^[^\s/]{1,64}$/.test(s),
} as const;

/** IPv4 or IPv6 network in CIDR notation. Host bits may be set, as Go's ParseCIDR allows. */
export function isCidr(s: string): boolean {
  const m = /^([^/%]+)\/(0|[1-9][0-9]{0,2})$/.exec(s);
  if (!m) return false;
  const family = isIP(m[1]);
  return family !== 0 && Number(m[2]) <= (family === 4 ? 32 : 128);
}

/** `host`, `host:port`, `[v6]:port` or an http(s) URL; empty means auto-discovery. */
export function isLokiAddress(s: string): boolean {
  if (s === '') return true;
  if (s.includes('://')) {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?))(?::([0-9]{1,5}))?$/.exec(s);
  if (!m) return false;
  if (m[1] !== undefined && isIP(m[1]) !== 6) return false;
  return m[3] === undefined || (Number(m[3]) >= 1 && Number(m[3]) <= 65535);
}

const bool = (description: string, dflt?: boolean) =>
  ({ type: 'boolean', description, ...(dflt === undefined ? {} : { default: dflt }) });
const port = (description: string, dflt: number) =>
  ({ type: 'integer', minimum: 1, maximum: 65535, default: dflt, description });
const probeList = (kind: string, names: readonly string[]) => ({
  // A list, or the installer's comma-separated string; names are checked in load.ts.
  type: ['array', 'string'],
  items: { type: 'string' },
  description: `${kind} probes to enable; empty means all. Valid: ${names.join(', ')}`,
});
const lokiAddress = (description: string) =>
  ({ type: 'string', format: 'loki-address', description });

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
    qdisc_devices: { type: 'array', minItems: 1, items: { type: 'string', format: 'ifname-glob' },
      default: D.metric_config.qdisc_devices, description: 'Globs of devices whose qdisc stats are summed' },
    qdisc_per_interface: bool('Report qdisc stats per interface instead of summed', D.metric_config.qdisc_per_interface),
    pod_cidrs: { type: 'array', items: { type: 'string', format: 'cidr' },
      description: 'Pod CIDRs of the node for the podip probe; empty: read from the CNI config' },
  },
} as const;

/** ACK `inspector-config` ConfigMap, section event_config. */
const eventConfig = {
  type: 'object',
  additionalProperties: false,
  properties: {
    loki_enable: bool('Push events to Grafana Loki', D.event_config.loki_enable),
    loki_address: lokiAddress('Loki host[:port] or URL; empty: discover the grafana-loki Service'),
    probes: probeList('Event', EVENT_PROBES),
    port: port('Port of the event stream service', D.event_config.port),
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
  title: 'kube-netobserv agent configuration',
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
