// The shapes every part of the agent agrees on: entities (what is observed), metric probes
// (how it is measured), their catalogue entries, samples (what a measurement yields), and the
// events probes report (what the event pipeline takes).

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
/**
 * The entity's namespace for the collection loop's netlink queries: a path that opens it and
 * its inode, under which the native side keeps its sockets (released when the namespace goes).
 */
export function netnsRef(entity: Entity): { path: string; inode: number } {
  return { path: netnsPath(entity), inode: entity.netns };
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

/**
 * Bucket upper bounds in ns, 1-2-5 from 1 µs to 1 s (plus a +Inf bucket): the only copy, written
 * into each latency object's hist_bounds before load (bpf/contract.ts) and read by the catalogue.
 */
export const LATENCY_BUCKETS_NS = [
  1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8, 2e8, 5e8, 1e9,
] as const;
/** The same bounds in seconds, for the catalogue (written out, so the `le` labels stay exact). */
export const LATENCY_BUCKETS_S = [
  0.000001, 0.000002, 0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005,
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1,
] as const;

/** One value a probe measured. `metric` is the catalogue name within the probe (e.g. `attemptfails`). */
export interface Sample {
  metric: string;
  /** A number, or a histogram for catalogue entries of type `histogram`. */
  value: number | HistogramValue;
  /** Extra labels the catalogue declares for this metric (e.g. `if_name`). */
  labels?: Record<string, string>;
}

/** Kernel-wide probes (softirq and slab statistics) measure once, for the host entity only. */
export type ProbeScope = 'netns' | 'host';

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One metric of the catalogue, as its probe declares it. */
export interface MetricDef {
  probe: string;
  name: string;
  type: MetricType;
  /** UCUM unit as OpenTelemetry uses it ('1' for a plain count). */
  unit: string;
  help: string;
  /** Where the kernel exposes the value; for snmp-style files `<Section>:<Field>`. */
  source: string;
  /** ACK inspector name when it does not follow `inspector_pod_<probe><name>`. */
  ack?: string;
  /** Labels beyond the entity labels. */
  labels?: readonly string[];
  /** Bucket upper bounds of a histogram, in `unit`. */
  buckets?: readonly number[];
  /**
   * 'host': the kernel keeps one value for the whole machine even where a namespace's view
   * shows it; exported on the host entity only, so sums over pods do not multiply it.
   */
  scope?: 'host';
  /** How the value is estimated when it is not an exact count (e.g. in-kernel sampling); in the catalogue, not in HELP. */
  sampled?: string;
}

export interface ProbeContext {
  /** The probe options of the config (`metric_config.<key>` of the options probes declare), by key. */
  readonly options: ProbeOptions;
  /** Every entity of this cycle, for node-wide probes that relate pods to each other. */
  readonly entities: readonly Entity[];
  /** Why pods could not be listed from the container runtime this cycle (names and IPs unknown). */
  readonly runtimeError?: string;
  /** Reports something the probe could not measure (a counter this kernel lacks); shown in /status. */
  note(message: string): void;
  /**
   * Publishes an event, for a metric probe that is also an enabled event probe (its events come
   * from what it collects); undefined otherwise.
   */
  publish?(event: NetEvent): void;
  /**
   * Runs `read` once per cycle for `key` and shares the result between probes, so that
   * e.g. tcp, udp and ip read /proc/<pid>/net/snmp of a namespace once. Keys include the netns.
   */
  shared<T>(key: string, read: () => Promise<T>): Promise<T>;
}

/** Values of the probe options, by key; each probe reads its own (validated by the config schema). */
export type ProbeOptions = Readonly<Record<string, unknown>>;

/**
 * Thrown by collect() when the probe does not apply to this node as it is now (e.g. no
 * host-local IPAM for pod IP usage): the probe is reported unsupported with the message, not
 * failed, and comes back by itself when it applies again.
 */
export class NotApplicable extends Error {
  override readonly name = 'NotApplicable';
}

export interface MetricProbe {
  readonly name: string;
  readonly scope: ProbeScope;
  /** Its catalogue entries. */
  readonly metrics: readonly MetricDef[];
  /**
   * Returns a reason when the probe cannot work on this node (missing file, missing addon),
   * checked once at start; the probe is then reported unsupported instead of exporting zeros.
   */
  unsupported?(): Promise<string | undefined>;
  collect(entity: Entity, ctx: ProbeContext): Promise<Sample[]>;
}

export type Severity = 'INFO' | 'WARN' | 'ERROR';

// A new field here must also be copied where EventPipeline.toRecord fills in the pod.
export interface NetEvent {
  /** When the kernel (or the check) saw it, ns since the Unix epoch; never replaced by the send time. */
  timeUnixNano: bigint;
  /** The event type (catalogue name, e.g. PACKETLOSS). */
  type: string;
  /** The event probe that produced it (catalogue name). */
  probe: string;
  severity: Severity;
  /** One human-readable line: the KCE `msg`. */
  msg: string;
  /** Network namespace inode where it happened (read in the kernel for eBPF events). */
  netns?: number;
  /** Filled by the pipeline from `netns` (undefined: host or unattributed). */
  pod?: PodRef;
  /**
   * Details as flat attributes: protocol, saddr, sport, daddr, dport, state, reason, stack,
   * cpu, latency_ms, sysctl, current_value, expect_value, interface, ... (low cardinality
   * ones may become Loki labels; the rest stay in the line or structured metadata).
   */
  attrs: Record<string, string | number>;
}

/** Where event probes hand their events; never blocks, never throws. */
export interface EventPublisher {
  publish(event: NetEvent): void;
}

/** Nanoseconds since the epoch, now (for checks; eBPF events convert the kernel clock instead). */
export function nowUnixNano(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}
