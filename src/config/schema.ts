// JSON Schema (draft-07) of the config file. It is a plain object so that the Helm chart can
// ship it as values.schema.json; it only checks structure (types, ranges, known keys).
// Checks that need code (probe names and aliases, comma-separated lists, two spellings of one
// setting) live in load.ts, because a schema cannot express them with readable errors.

import { isIP } from 'node:net';
import { EVENT_PROBES, METRIC_PROBES } from '../catalogue/probes.js';
import { DEFAULT_CHECK_OPTIONS } from '../checks/model.js';
import { DEFAULT_CONFIG } from './defaults.js';

const D = DEFAULT_CONFIG;

// Custom formats. Validators that do not know them (Helm's) ignore them; ajv gets the
// implementations below through FORMATS.
export const FORMATS = {
  cidr: isCidr,
  'loki-address': isLokiAddress,
  'ifname-glob': (s: string): boolean => /^[^\s/]{1,64}$/.test(s),
  'http-url': isHttpUrl,
  ip: (s: string): boolean => isIP(s) !== 0,
  'ipv4-prefix': isIpv4Prefix,
} as const;

/** An IPv4 CIDR, or an IPv4 address (a /32); what `ip rule` from/to take for IPv4 rules. */
export function isIpv4Prefix(s: string): boolean {
  return isCidr(s) ? isIP(s.split('/')[0]!) === 4 : isIP(s) === 4;
}

export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

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
const str = (description: string, dflt?: string) =>
  ({ type: 'string', description, ...(dflt === undefined ? {} : { default: dflt }) });
const int = (min: number, max: number, dflt: number, description: string) =>
  ({ type: 'integer', minimum: min, maximum: max, default: dflt, description });
const oneOf = <T extends string>(values: readonly T[], dflt: T, description: string) =>
  ({ type: 'string', enum: values, default: dflt, description });
const httpUrl = (description: string) => ({ type: 'string', format: 'http-url', description });
// A map of strings. patternProperties (not a schema under additionalProperties) keeps every
// object node closed, and a non-string value is reported at its own key.
const stringMap = (description: string) =>
  ({ type: 'object', additionalProperties: false, patternProperties: { '^.+$': { type: 'string' } }, description });
const section = (description: string, properties: Record<string, object>) =>
  ({ type: 'object', additionalProperties: false, description, properties });

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

// The checks' own defaults (src/checks/model.ts): quoted as the schema's defaults, never copied.
const C = DEFAULT_CHECK_OPTIONS;
const list = (v: readonly string[]) => v.map((x) => JSON.stringify(x)).join(', ');
// Highest fwmark, route table id and rule priority: the kernel's u32.
const U32_MAX = 4294967295;
// The default is in the text too: the chart's ConfigMap comments are made of descriptions.
const dfltText = (description: string, dflt: unknown) =>
  `${description} (default ${Array.isArray(dflt) ? list(dflt) : String(dflt)})`;
const ifnameGlobs = (dflt: readonly string[], description: string) =>
  ({ type: 'array', items: { type: 'string', format: 'ifname-glob' }, default: dflt, description: dfltText(description, dflt) });
const cidrList = (description: string) => ({ type: 'array', items: { type: 'string', format: 'cidr' }, description });
const name = (description: string, dflt?: string) =>
  ({ type: 'string', minLength: 1, ...(dflt === undefined ? { description } : { default: dflt, description: dfltText(description, dflt) }) });
const seconds = (max: number, dflt: number, description: string) => int(1, max, dflt, dfltText(description, dflt));
// An expected sysctl value, or false for "do not check". Not null: in this file (and in the
// chart's ConfigMap) null means "not set, use the default", so it cannot also mean "off".
// load.ts turns false into the null of ChecksConfig.
const expected = (max: number, dflt: number | undefined, description: string) => ({
  type: ['integer', 'boolean'], minimum: 0, maximum: max, not: { const: true }, default: dflt ?? false,
  description: `${dfltText(description, dflt ?? false)}; false: not checked`,
});

/**
 * event_config.checks: options of the configuration-check event probes (src/checks), the
 * keys of ChecksConfig (src/config/defaults.ts). Unset keys keep the checks' own defaults
 * (DEFAULT_CHECK_OPTIONS in src/checks/model.ts), which the `default`s here quote.
 */
const checks = section('Options of the configuration checks (event probes kernelparam, mtu, nodeconfig, route, ipvs, kubeproxy, k8sconfig); unset keys keep the defaults', {
  interval: seconds(86400, C.intervalSeconds, 'Seconds between runs of the checks'),
  reminder_interval: seconds(604800, C.reminderIntervalSeconds, 'Seconds between reminder events of a finding that still holds'),
  emit_cleared: bool(dfltText('Emit an INFO event (finding: cleared) when a finding stops holding', C.emitCleared), C.emitCleared),
  kernel_params: section('Expected sysctl values (KernelParam events); false turns a check off', {
    rp_filter: expected(2, C.kernelParams.rpFilter, 'Expected net.ipv4.conf.<if>.rp_filter'),
    proxy_arp: expected(1, C.kernelParams.proxyArp, 'Expected net.ipv4.conf.<if>.proxy_arp'),
    tcp_syncookies: expected(2, C.kernelParams.tcpSyncookies, 'Expected net.ipv4.tcp_syncookies'),
    tcp_sack: expected(1, C.kernelParams.tcpSack, 'Expected net.ipv4.tcp_sack'),
    nf_conntrack_tcp_be_liberal: expected(1, C.kernelParams.conntrackTcpBeLiberal, 'Expected net.netfilter.nf_conntrack_tcp_be_liberal'),
    interfaces: ifnameGlobs(C.kernelParams.interfaces, 'Globs of interfaces whose rp_filter and proxy_arp are checked ("all": the conf.all entry; lo never)'),
  }),
  mtu: section('Interface MTU check', {
    min: int(68, 65535, C.mtu.min, dfltText('Report interfaces with a lower MTU', C.mtu.min)),
    max: int(68, 65535, C.mtu.max, dfltText('Report interfaces with a higher MTU; at least min', C.mtu.max)),
    compare_primary: oneOf(['higher', 'different', 'off'], C.mtu.comparePrimary,
      dfltText('Compared with the primary interface: higher reports a bigger MTU than its, different any difference, off nothing', C.mtu.comparePrimary)),
    ignore: ifnameGlobs(C.mtu.ignore, 'Globs of interfaces not checked (besides lo)'),
  }),
  kernel_log: section('Kernel log (/dev/kmsg) check', {
    patterns: { type: 'array', items: { type: 'string', minLength: 1 }, default: C.kernelLog.patterns,
      description: dfltText('Case-insensitive substrings (not regexes) of kernel log lines that are network problems; replaces the default list', C.kernelLog.patterns) },
    hold: seconds(86400, C.kernelLog.holdSeconds, 'Seconds a finding holds after its last matching line'),
    poll: seconds(3600, C.kernelLog.pollSeconds, 'Seconds between reads of /dev/kmsg'),
  }),
  iptables: section('iptables check', {
    max_rules: int(0, 100000000, C.iptables.maxRules, dfltText('Report more rules than this over all tables; 0: off', C.iptables.maxRules)),
    forward_drop: bool(dfltText('Report a DROP default policy of the FORWARD chain', C.iptables.forwardDrop), C.iptables.forwardDrop),
  }),
  vpc_routes: {
    type: 'array',
    description: 'Routes the node must have (VpcRoute events); empty: the check is off',
    items: {
      type: 'object', additionalProperties: false, required: ['dst'],
      properties: {
        dst: { type: 'string', format: 'cidr', description: 'Destination prefix, e.g. 10.0.0.0/8; 0.0.0.0/0 for a default route' },
        gateway: { type: 'string', format: 'ip', description: 'Expected next hop; unset: any' },
        dev: name('Expected output interface; unset: any'),
        table: { type: 'integer', minimum: 1, maximum: U32_MAX, description: 'Routing table id (default 254, main)' },
      },
    },
  },
  policy_rules: {
    type: 'array',
    description: 'IPv4 policy routing rules (ip rule) the node must have (PolicyRoute events); empty: the check is off',
    items: {
      type: 'object', additionalProperties: false, required: ['table'],
      properties: {
        from: { type: 'string', format: 'ipv4-prefix', description: 'Source prefix or address; unset: all' },
        to: { type: 'string', format: 'ipv4-prefix', description: 'Destination prefix or address; unset: any' },
        iif: name('Input interface'),
        oif: name('Output interface'),
        fwmark: { type: ['integer', 'string'], minimum: 0, maximum: U32_MAX, pattern: '^(0[xX][0-9a-fA-F]{1,8}|[0-9]{1,10})$',
          description: 'Firewall mark, an integer or a "0x..." hex string (no /mask)' },
        table: { type: 'integer', minimum: 1, maximum: U32_MAX, description: 'Table the rule looks up (required)' },
        priority: { type: 'integer', minimum: 0, maximum: U32_MAX, description: 'Rule priority; unset: any' },
      },
    },
  },
  cidrs: section('CIDRs for the CIDRConflict and IPMasqAgentConf checks; the node\'s pod CIDRs are added from the API', {
    vpc: cidrList('VPC CIDRs'),
    service: cidrList('Service CIDRs'),
    pod: cidrList('Pod CIDRs (the cluster\'s)'),
    docker: cidrList('Docker bridge CIDRs'),
  }),
  kube_proxy: section('kube-proxy check', {
    healthz_url: { ...httpUrl(dfltText('kube-proxy health endpoint on this node', C.kubeProxy.healthzUrl)), default: C.kubeProxy.healthzUrl },
    namespace: name('Namespace of the kube-proxy pods', C.kubeProxy.namespace),
    label_selector: name('Label selector of the kube-proxy pods', C.kubeProxy.labelSelector),
  }),
  ip_masq_agent: section('ip-masq-agent ConfigMap check', {
    namespace: name('Namespace of the ConfigMap', C.ipMasqAgent.namespace),
    name: name('Name of the ConfigMap', C.ipMasqAgent.name),
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
    latency_threshold_ms: { type: 'integer', minimum: 1, maximum: 60000, default: D.event_config.latency_threshold_ms, description: 'net_softirq, socketlatency, netiftxlat and kernellatency: emit an event for latencies above this many milliseconds' },
    sinks,
    checks,
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
