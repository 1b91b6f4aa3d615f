// Events: what event probes (eBPF tracepoints, configuration checks, kernel log) report,
// one record per finding, on their way to the sinks (stdout, Loki, OTLP, the live stream).
import type { NetEvent, Severity } from '../model.js';

// What a probe hands over (an event, where it publishes it) is in the base contracts beside the
// probe's context (src/model.ts); this module adds what the pipeline and the sinks make of it.
export { nowUnixNano, type EventPublisher, type NetEvent, type Severity } from '../model.js';

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

/** What the pipeline tells a sink about one send. */
export interface SendOptions {
  /**
   * Retry retryable failures until this time (ms since the epoch), then drop the batch
   * (`retries_exhausted`): when its oldest event reaches the sink's max age.
   */
  deadline: number;
}

/** A destination of events (stdout, Loki, OTLP, the live stream). */
export interface EventSink {
  readonly name: string;
  /**
   * Delivers one batch, retrying what is worth retrying; resolves once every record is
   * delivered or dropped (never rejects). The pipeline waits for it before sending the next
   * batch to this sink, buffering new events in the sink's bounded queue meanwhile. Without
   * options (a sink used on its own) the sink applies a retry budget of its own.
   */
  send(batch: readonly EventRecord[], options?: SendOptions): Promise<SendResult>;
  close(): Promise<void>;
  /** What /status shows of the sink besides its counters (e.g. Loki's version and where fields go). */
  status?(): Record<string, unknown>;
}
