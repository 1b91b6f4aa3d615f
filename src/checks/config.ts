// The section event_config.checks: its type as the YAML spells it (snake_case, seconds), its
// schema, its reading (the spellings the file has that CheckOptions does not) and its mapping
// onto CheckOptions. src/config composes it into the config file's schema.
import { bool, httpUrl, ifnameGlobs, int, isMapping, section, show, withDefault } from '../util/schema.js';
import { checkOptions, DEFAULT_CHECK_OPTIONS, type CheckOptions, type ExpectedRoute, type ExpectedRule } from './model.js';

/**
 * Section event_config.checks: the configuration checks' options as the YAML spells them
 * (snake_case, seconds). Every key is optional: an unset key keeps the checks' default
 * (DEFAULT_CHECK_OPTIONS). CHECKS_SCHEMA matches it key for key.
 */
export interface ChecksConfig {
  interval?: number;
  reminder_interval?: number;
  emit_cleared?: boolean;
  kernel_params?: {
    /** Expected values; null turns that check off (written `false` in the file, where null means unset). */
    rp_filter?: number | null;
    proxy_arp?: number | null;
    tcp_syncookies?: number | null;
    tcp_sack?: number | null;
    nf_conntrack_tcp_be_liberal?: number | null;
    interfaces?: string[];
  };
  /** `patterns` are case-insensitive substrings, not regexes. */
  kernel_log?: { patterns?: string[]; hold?: number; poll?: number };
  iptables?: { max_rules?: number; forward_drop?: boolean };
  vpc_routes?: ExpectedRoute[];
  /** `fwmark` is a number here; the file may also write it as a "0x..." string. */
  policy_rules?: ExpectedRule[];
  cidrs?: { vpc?: string[]; service?: string[]; pod?: string[]; docker?: string[] };
  kube_proxy?: { healthz_url?: string; namespace?: string; label_selector?: string };
  ip_masq_agent?: { namespace?: string; name?: string };
  /** The options the check probes own (their ProbeOption of section event_config.checks), as written. */
  [probeOption: string]: unknown;
}

// The checks' own defaults (model.ts): quoted as the schema's defaults, never copied.
const C = DEFAULT_CHECK_OPTIONS;
// Highest fwmark, route table id and rule priority: the kernel's u32.
const U32_MAX = 4294967295;
const dfltText = withDefault;
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
 * event_config.checks, the keys of ChecksConfig. Unset keys keep the checks' own defaults
 * (DEFAULT_CHECK_OPTIONS), which the `default`s here quote.
 */
export const CHECKS_SCHEMA = section('Options of the configuration checks; unset keys keep the defaults', {
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

/**
 * event_config.checks after the schema: copied through, except for the two spellings the file
 * has that ChecksConfig does not: `false` for a kernel param check that is off (null there;
 * null in the file means unset), and a "0x..." string fwmark (a number there).
 */
export function readChecks(value: Record<string, any>, path: string, problems: string[]): ChecksConfig | undefined {
  const c = structuredClone(value) as ChecksConfig & Record<string, any>;
  // A section left empty (all its keys null, as the chart renders unset keys) is not set.
  for (const [k, v] of Object.entries(c)) if (isMapping(v) && Object.keys(v).length === 0) delete c[k];
  const kp = c.kernel_params as Record<string, unknown> | undefined;
  if (kp) for (const [k, v] of Object.entries(kp)) if (v === false) kp[k] = null;
  let ok = true;
  const rules = c.policy_rules as { fwmark?: number | string }[] | undefined;
  rules?.forEach((rule, i) => {
    if (typeof rule.fwmark !== 'string') return;
    const mark = Number(rule.fwmark); // decimal or 0x hex: what the schema's pattern lets through
    if (mark <= 0xffffffff) {
      rule.fwmark = mark;
    } else {
      ok = false;
      problems.push(`${path}.policy_rules[${i}].fwmark: must be an integer 0..4294967295 or a hex string such as "0x10" (no /mask), got ${show(rule.fwmark)}`);
    }
  });
  return ok ? c : undefined;
}

const opt = <T>(v: T | undefined, key: string): Record<string, T> => (v === undefined ? {} : { [key]: v });
const expect = (v: number | null | undefined, key: string): Record<string, number | undefined> =>
  v === undefined ? {} : { [key]: v === null ? undefined : v };

/** CheckOptions from the config section; `nodeName` is the agent's. */
export function checkOptionsFromConfig(c: ChecksConfig = {}, nodeName?: string): CheckOptions {
  const kp = c.kernel_params ?? {};
  return checkOptions({
    ...opt(c.interval, 'intervalSeconds'),
    ...opt(c.reminder_interval, 'reminderIntervalSeconds'),
    ...opt(c.emit_cleared, 'emitCleared'),
    ...opt(nodeName, 'nodeName'),
    kernelParams: {
      ...expect(kp.rp_filter, 'rpFilter'),
      ...expect(kp.proxy_arp, 'proxyArp'),
      ...expect(kp.tcp_syncookies, 'tcpSyncookies'),
      ...expect(kp.tcp_sack, 'tcpSack'),
      ...expect(kp.nf_conntrack_tcp_be_liberal, 'conntrackTcpBeLiberal'),
      ...opt(kp.interfaces, 'interfaces'),
    },
    kernelLog: { ...opt(c.kernel_log?.patterns, 'patterns'), ...opt(c.kernel_log?.hold, 'holdSeconds'), ...opt(c.kernel_log?.poll, 'pollSeconds') },
    iptables: { ...opt(c.iptables?.max_rules, 'maxRules'), ...opt(c.iptables?.forward_drop, 'forwardDrop') },
    ...opt(c.vpc_routes, 'vpcRoutes'),
    ...opt(c.policy_rules, 'policyRules'),
    cidrs: { ...c.cidrs },
    kubeProxy: { ...opt(c.kube_proxy?.healthz_url, 'healthzUrl'), ...opt(c.kube_proxy?.namespace, 'namespace'), ...opt(c.kube_proxy?.label_selector, 'labelSelector') },
    ipMasqAgent: { ...c.ip_masq_agent },
    // Every other key is one a check probe declares (the composed schema lets no other through).
    probeOptions: Object.fromEntries(Object.entries(c).filter(([k]) => !(k in CHECKS_SCHEMA.properties))),
  });
}
