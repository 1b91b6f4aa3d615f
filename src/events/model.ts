// Events: what event probes (eBPF tracepoints, configuration checks, kernel log) report,
// one record per finding, on their way to the sinks (stdout, Loki, OTLP, the live stream).
import type { PodRef } from '../model.js';
import type { EventType } from '../catalogue/events.js';

export type Severity = 'INFO' | 'WARN' | 'ERROR';

export interface NetEvent {
  /** When the kernel (or the check) saw it, ns since the Unix epoch; never replaced by the send time. */
  timeUnixNano: bigint;
  type: EventType;
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
