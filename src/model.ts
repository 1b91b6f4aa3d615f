// The shapes every part of the agent agrees on: entities (what is observed),
// metric probes (how it is measured) and samples (what a measurement yields).

/** A Kubernetes pod as far as the node can tell. */
export interface PodRef {
  name: string;
  namespace: string;
  uid: string;
  ip?: string;
  labels?: Record<string, string>;
  /** Where the attribution came from: the CRI runtime or the cgroup path (UID only). */
  source: 'cri' | 'cgroup';
}

/** One network namespace on the node: the host's, or a pod's. */
export interface Entity {
  /** Inode number of the network namespace (the `netns` label). */
  netns: number;
  /** True for the node's own network namespace (host-network pods live here too). */
  isHost: boolean;
  /** Processes whose /proc/<pid>/ns/net is this namespace, ascending. */
  pids: number[];
  /** The pod that owns the namespace; undefined for the host and for unattributed namespaces. */
  pod?: PodRef;
  /** Host-network pods, which share the host entity; informational. */
  hostNetworkPods?: PodRef[];
}

/** A path that opens this entity's network namespace (for setns) or its /proc/<pid>/net view. */
export function netnsPath(entity: Entity): string {
  return `/proc/${entity.pids[0]}/ns/net`;
}
export function procNet(entity: Entity, file: string): string {
  return `/proc/${entity.pids[0]}/net/${file}`;
}

/**
 * A distribution measured in the kernel: `counts[i]` observations in bucket i of the catalogue's
 * boundaries (one more bucket than boundaries: the last is +Inf), not cumulative.
 */
export interface HistogramValue {
  counts: number[];
  sum: number;
  count: number;
}

/** One value a probe measured. `metric` is the catalogue name within the probe (e.g. `attemptfails`). */
export interface Sample {
  metric: string;
  /** A number, or a histogram for catalogue entries of type `histogram`. */
  value: number | HistogramValue;
  /** Extra labels the catalogue declares for this metric (e.g. `if_name`). */
  labels?: Record<string, string>;
}

/** Kernel-wide probes (softnet, slab) measure once, for the host entity only. */
export type ProbeScope = 'netns' | 'host';

export interface ProbeContext {
  /** Options the config passes to probes (e.g. qdisc device patterns). */
  readonly options: ProbeOptions;
  /** Every entity of this cycle, for node-wide probes that relate pods to each other (podip). */
  readonly entities: readonly Entity[];
  /** Why pods could not be listed from the container runtime this cycle (names and IPs unknown). */
  readonly runtimeError?: string;
  /** Reports something the probe could not measure (a counter this kernel lacks); shown in /status. */
  note(message: string): void;
  /**
   * Runs `read` once per cycle for `key` and shares the result between probes, so that
   * e.g. tcp, udp and ip read /proc/<pid>/net/snmp of a namespace once. Keys include the netns.
   */
  shared<T>(key: string, read: () => Promise<T>): Promise<T>;
}

export interface ProbeOptions {
  /** Glob patterns of devices whose qdiscs are summed (KCE default: cali*, eth*). */
  qdiscDevices: string[];
  /** Report qdisc per interface (if_name label) instead of the KCE sum. */
  qdiscPerInterface: boolean;
  /** Pod CIDRs of this node for the podip probe (empty: the host-local IPAM ranges). */
  podCIDRs: string[];
  /** CNI network config and host-local IPAM state, read by the podip probe. */
  cniConfDir: string;
  cniDataDir: string;
}

export interface MetricProbe {
  readonly name: string;
  readonly scope: ProbeScope;
  /**
   * Returns a reason when the probe cannot work on this node (missing file, missing addon),
   * checked once at start; the probe is then reported unsupported instead of exporting zeros.
   */
  unsupported?(): Promise<string | undefined>;
  collect(entity: Entity, ctx: ProbeContext): Promise<Sample[]>;
}
