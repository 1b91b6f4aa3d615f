// Events: what event probes (eBPF tracepoints, configuration checks, kernel log) report,
// one record per finding, on their way to the sinks (stdout, Loki, OTLP, the live stream).
import type { PodRef } from '../model.js';

export type Severity = 'INFO' | 'WARN' | 'ERROR';

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

/** OTel SeverityNumber of each severity (INFO, WARN, ERROR). */
export const SEVERITY_NUMBER: Record<Severity, number> = { INFO: 9, WARN: 13, ERROR: 17 };

/**
 * An event as sinks receive it: attributed to its pod, with OpenTelemetry log-record
 * semantics. Attribute keys: `event.type`, `event.probe`, `k8s.node.name`,
 * `k8s.namespace.name`, `k8s.pod.name`, `netns`, then the event's own attrs (tuple fields,
 * reason, stack, ...).
 */
export interface EventRecord {
  event: NetEvent;
  timeUnixNano: bigint;
  severityNumber: number;
  severityText: Severity;
  body: string;
  attributes: Record<string, string | number>;
}

/** Outcome of one delivery attempt of a batch, for the pipeline's counters. */
export interface SendResult {
  delivered: number;
  /** Records given up on, by reason (e.g. `http_400`, `retries_exhausted`). */
  dropped?: Record<string, number>;
}

/** A destination of events (stdout, Loki, OTLP, the live stream). */
export interface EventSink {
  readonly name: string;
  /**
   * Delivers one batch, retrying what is worth retrying; resolves once every record is
   * delivered or dropped (never rejects). The pipeline waits for it before sending the next
   * batch to this sink, buffering new events in the sink's bounded queue meanwhile.
   */
  send(batch: readonly EventRecord[]): Promise<SendResult>;
  close(): Promise<void>;
}
