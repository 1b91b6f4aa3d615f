// Configuration checks: what a check finds, what it is given, and its options. A finding is
// a condition that holds now (rp_filter=1 on cali123, no default route in a pod); the
// scheduler turns the appearance, change, reminder and disappearance of findings into events.

import type { Entity } from '../model.js';

export interface Finding {
  /** The event type, e.g. RPFilterKernelParam. */
  type: string;
  /**
   * What the finding is about, unique within its type and stable across runs: the gauge's
   * `subject` label and the identity the scheduler tracks, e.g. `net.ipv4.conf.eth0.rp_filter`
   * or `default/web-1:net.ipv4.conf.eth0.rp_filter` for a pod's namespace.
   */
  subject: string;
  /** The KCE `msg`, e.g. `net.ipv4.conf.eth0.rp_filter:current_value=1,expect_value=0`. */
  msg: string;
  /**
   * What counts as a change worth a new event; defaults to `msg`. The kernel-log check keys
   * on the pattern only, so a burst of matching lines is one event, not one per line.
   */
  state?: string;
  /** Network namespace inode the finding is in (the event's pod attribution); undefined: the node. */
  netns?: number;
  attrs?: Record<string, string | number>;
}

export interface CheckContext {
  /** Every network namespace of the node this run, the host's included. */
  readonly entities: readonly Entity[];
  /** Where the node's network namespace is opened (null: the agent's own, which it is under hostNetwork). */
  readonly hostNetns: string | null;
  readonly options: CheckOptions;
  /** Milliseconds, from the scheduler's clock. */
  readonly now: number;
  /** Runs `read` once per run for `key` (routes, links of a namespace) and shares the result between checks. */
  shared<T>(key: string, read: () => Promise<T>): Promise<T>;
}

/** The kinds of configuration change the kernel announces on route netlink. */
export type ConfigChange = 'netconf' | 'link' | 'address' | 'route' | 'rule';

export interface Check {
  /** Name in status and errors, e.g. `rp_filter`. */
  readonly name: string;
  /** The event probe (catalogue) the check belongs to; enabling that probe enables the check. */
  readonly probe: string;
  /** Run on the fast cadence (kernel log, `kernelLog.pollSeconds`) too; node-wide: `entities` may be empty then. */
  readonly fast?: boolean;
  /** Kernel notifications of changes to what the check reads: a run follows within seconds (checks/changes.ts). */
  readonly rerunOn?: readonly ConfigChange[];
  /** A reason the check cannot run on this node (no IPVS in the kernel); asked at each run, cheap. */
  unsupported?(ctx: CheckContext): Promise<string | undefined>;
  /** Every finding that holds now. Throwing keeps the previous findings (a failed read is not a fix). */
  run(ctx: CheckContext): Promise<Finding[]>;
  close?(): void;
}

export interface ExpectedRoute {
  /** Destination prefix, e.g. `10.0.0.0/8`; `0.0.0.0/0` for a default route. */
  dst: string;
  gateway?: string;
  /** Output interface name. */
  dev?: string;
  /** Routing table id (default: main, 254). */
  table?: number;
}

export interface ExpectedRule {
  from?: string;
  to?: string;
  iif?: string;
  oif?: string;
  fwmark?: number;
  table: number;
  priority?: number;
}

export interface CheckOptions {
  /** Seconds between runs of the checks. */
  intervalSeconds: number;
  /** Seconds between reminder events of a finding that still holds. */
  reminderIntervalSeconds: number;
  /** Emit one INFO event (`finding: cleared`) when a finding stops holding. */
  emitCleared: boolean;
  /** Expected values; a check whose value is undefined is off. */
  kernelParams: {
    rpFilter?: number;
    proxyArp?: number;
    tcpSyncookies?: number;
    tcpSack?: number;
    conntrackTcpBeLiberal?: number;
    /** Interface name globs checked for rp_filter / proxy_arp (`all` is the conf.all entry); `lo` is never checked. */
    interfaces: string[];
  };
  kernelLog: {
    /** Case-insensitive substrings of kernel log lines that are network problems. */
    patterns: string[];
    /** Seconds a KernelLog finding holds after its last matching line. */
    holdSeconds: number;
    /** Seconds between reads of /dev/kmsg. */
    pollSeconds: number;
  };
  iptables: {
    /** Report more rules than this over all tables (0: off). */
    maxRules: number;
    /** Report a DROP default policy of FORWARD. */
    forwardDrop: boolean;
  };
  /** Routes the node must have (VpcRoute); empty: the check is off. */
  vpcRoutes: ExpectedRoute[];
  /** Policy rules the node must have (PolicyRoute); empty: the check is off. */
  policyRules: ExpectedRule[];
  /** Name of this node in messages (node routes) and in Kubernetes lookups (its kube-proxy pod, its podCIDRs). */
  nodeName: string;
  /** CIDRs for CIDRConflict and IPMasqAgentConf; the node's pod CIDRs are added from the API. */
  cidrs: { vpc: string[]; service: string[]; pod: string[]; docker: string[] };
  kubeProxy: {
    /** kube-proxy's health endpoint on this node ('' : not probed). */
    healthzUrl: string;
    namespace: string;
    labelSelector: string;
  };
  ipMasqAgent: { namespace: string; name: string };
  /**
   * The options the check probes own (event_config.checks.<key>, declared by the probe), by key,
   * as the file writes them; unset keys are absent and the probe applies its own defaults.
   */
  probeOptions: Readonly<Record<string, unknown>>;
}

export const DEFAULT_CHECK_OPTIONS: CheckOptions = {
  intervalSeconds: 60,
  reminderIntervalSeconds: 3600,
  emitCleared: true,
  kernelParams: {
    rpFilter: 0,
    proxyArp: 0,
    tcpSyncookies: 1,
    tcpSack: 1,
    conntrackTcpBeLiberal: 1,
    interfaces: ['*'],
  },
  kernelLog: {
    patterns: [
      'neighbor table overflow',
      'nf_conntrack: table full',
      'dropping packet',
      'nf_conntrack: expectation table full',
      'TCP: out of memory',
      'too many orphaned sockets',
      'link is not ready',
      'NETDEV WATCHDOG',
    ],
    holdSeconds: 600,
    pollSeconds: 2,
  },
  iptables: { maxRules: 20000, forwardDrop: true },
  vpcRoutes: [],
  policyRules: [],
  nodeName: process.env.NODE_NAME ?? '',
  cidrs: { vpc: [], service: [], pod: [], docker: [] },
  kubeProxy: { healthzUrl: 'http://127.0.0.1:10256/healthz', namespace: 'kube-system', labelSelector: 'k8s-app=kube-proxy' },
  ipMasqAgent: { namespace: 'kube-system', name: 'ip-masq-agent' },
  probeOptions: {},
};

/** Options with `partial` laid over the defaults, one level deep. */
export function checkOptions(partial: DeepPartial<CheckOptions> = {}): CheckOptions {
  const d = DEFAULT_CHECK_OPTIONS;
  return {
    ...d,
    ...(partial as Partial<CheckOptions>),
    kernelParams: { ...d.kernelParams, ...partial.kernelParams } as CheckOptions['kernelParams'],
    kernelLog: { ...d.kernelLog, ...partial.kernelLog } as CheckOptions['kernelLog'],
    iptables: { ...d.iptables, ...partial.iptables },
    cidrs: { ...d.cidrs, ...partial.cidrs } as CheckOptions['cidrs'],
    kubeProxy: { ...d.kubeProxy, ...partial.kubeProxy },
    ipMasqAgent: { ...d.ipMasqAgent, ...partial.ipMasqAgent },
  };
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer _U)[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };


/** How findings name a namespace: nothing for the node, `<namespace>/<pod>:` for a pod, `ns<inode>:` otherwise. */
export function subjectPrefix(e: Entity): string {
  if (e.isHost) return '';
  return e.pod ? `${e.pod.namespace}/${e.pod.name}:` : `ns${e.netns}:`;
}

/** KCE writes pods as `name/namespace`. */
export function podLabel(e: Entity): string {
  return e.pod ? (e.pod.namespace ? `${e.pod.name}/${e.pod.namespace}` : e.pod.name) : `ns${e.netns}`;
}

/** Where to open an entity's namespace: the host's is `hostNetns`. */
export function entityNetns(e: Entity, ctx: CheckContext): string | null {
  return e.isHost ? ctx.hostNetns : `/proc/${e.pids[0]}/ns/net`;
}
