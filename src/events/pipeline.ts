// The event pipeline: probes publish NetEvents; each becomes one EventRecord (OTel log-record
// semantics, attributed to its pod) and is fanned out to every sink. Each sink has its own
// bounded queue and batching and at most one send in flight, so a slow or dead sink only
// ever fills its own queue: probes and the other sinks never wait for it. Whatever is not
// delivered is counted per sink and reason.
import type { PodRef } from '../model.js';
import { SEVERITY_NUMBER } from './model.js';
import type { EventPublisher, EventRecord, EventSink, NetEvent, SendResult } from './model.js';

/** What a network namespace inode belongs to: a pod, the host (and its host-network pods), or unknown. */
export type NetnsAttribution = PodRef | 'host' | undefined;
export type NetnsResolver = (netns: number) => NetnsAttribution;

export interface SinkOptions {
  /** Events held for the sink at most, the batch in flight included; newer ones are dropped (`queue_full`). */
  maxQueueEvents: number;
  /** Events per send at most. */
  batchMaxEvents: number;
  /** Longest an event waits for its batch to fill before it is sent anyway. */
  batchMaxWaitMs: number;
}

export const DEFAULT_SINK_OPTIONS: Readonly<SinkOptions> = Object.freeze({ maxQueueEvents: 10_000, batchMaxEvents: 500, batchMaxWaitMs: 1000 });

export interface SinkStats {
  /** Events waiting in the queue now (a gauge). */
  queued: number;
  /** Events of the send in progress now (a gauge). */
  inFlight: number;
  /** Events the sink reported delivered (a counter). */
  sent: number;
  /** Events given up on, by reason (counters): `queue_full`, the sink's own reasons, `shutdown`, `send_error`. */
  dropped: Record<string, number>;
}

export interface EventPipelineOptions {
  /** `k8s.node.name` of every record. */
  nodeName: string;
  /** Maps an event's netns inode to its pod; called once per event, must be cheap (a map lookup). */
  resolve: NetnsResolver;
  /** Told about sinks that broke their contract (a rejected send); never about normal drops. */
  onError?: (sink: string, error: unknown) => void;
  /** How long a replaced sink may take to finish its send in flight before it is closed anyway. Default 30 s. */
  replaceDeadlineMs?: number;
}

// Standard attribute keys; an event's own attrs cannot override them.
// (event.type, event.probe and k8s.node.name are written literally in toRecord.)
const NAMESPACE = 'k8s.namespace.name';
const POD = 'k8s.pod.name';
const NETNS = 'netns';
/** Set to "true" on events of the node's own network namespace (where host-network pods live). */
export const HOST_NETNS_ATTR = 'netns.host';
const STANDARD_ATTRS = new Set(['event.type', 'event.probe', 'k8s.node.name', NAMESPACE, POD, NETNS, HOST_NETNS_ATTR]);

export class EventPipeline implements EventPublisher {
  private readonly lanes = new Map<string, SinkLane>();
  private closed = false;
  private publishedCount = 0;
  private rejectedCount = 0;
  private readonly netnsNames = new Map<number, string>();

  constructor(private readonly opts: EventPipelineOptions) {}

  /** Never blocks, never throws: conversion and queueing are synchronous and bounded. */
  publish(event: NetEvent): void {
    if (this.closed) {
      this.rejectedCount++;
      return;
    }
    let record: EventRecord;
    try {
      record = this.toRecord(event);
    } catch {
      this.rejectedCount++; // a malformed event from a probe must not take the probe down
      return;
    }
    this.publishedCount++;
    for (const lane of this.lanes.values()) lane.push(record);
  }

  /** `ns<inode>`, remembered: a node has a few hundred namespaces, and the number-to-text conversion is most of an event's attribution. */
  private netnsName(netns: number): string {
    let name = this.netnsNames.get(netns);
    if (name === undefined) {
      if (this.netnsNames.size >= 4096) this.netnsNames.clear(); // namespaces come and go: stay bounded
      name = `ns${netns}`;
      this.netnsNames.set(netns, name);
    }
    return name;
  }

  /** Events accepted since start, and events refused (after close(), or malformed). */
  get published(): number { return this.publishedCount; }
  get rejected(): number { return this.rejectedCount; }

  /** Throws on a malformed event (publish() then refuses and counts it). */
  toRecord(event: NetEvent): EventRecord {
    // The event's own time is the point of the record; there is no sensible stand-in for it.
    if (typeof event.timeUnixNano !== 'bigint') throw new TypeError('timeUnixNano must be a bigint');
    let host = false;
    let pod = event.pod;
    if (!pod && event.netns !== undefined) {
      let found: NetnsAttribution;
      try {
        found = this.opts.resolve(event.netns);
      } catch {
        found = undefined;
      }
      if (found === 'host') host = true;
      else pod = found;
    }
    // Literal keys (not computed ones) and for-in (not Object.entries): this runs for every
    // event, and both keep it to the record's own objects.
    const attributes: Record<string, string | number> = {
      'event.type': event.type,
      'event.probe': event.probe,
      'k8s.node.name': this.opts.nodeName,
    };
    if (pod) {
      attributes[NAMESPACE] = pod.namespace;
      attributes[POD] = pod.name;
    }
    if (event.netns !== undefined) attributes[NETNS] = this.netnsName(event.netns);
    if (host) attributes[HOST_NETNS_ATTR] = 'true';
    const own = event.attrs;
    if (own === null || typeof own !== 'object') throw new TypeError('attrs must be an object'); // refused by publish()
    for (const k in own) {
      if (STANDARD_ATTRS.has(k) && k in attributes) continue;
      if (Object.hasOwn(own, k)) attributes[k] = own[k];
    }
    return {
      // The copy with the pod filled in names NetEvent's fields: a spread costs V8 a
      // microsecond or more per event here (a slow path for objects with a bigint field).
      event: pod === event.pod ? event : {
        timeUnixNano: event.timeUnixNano, type: event.type, probe: event.probe, severity: event.severity,
        msg: event.msg, netns: event.netns, pod, attrs: event.attrs,
      },
      timeUnixNano: event.timeUnixNano,
      severityNumber: SEVERITY_NUMBER[event.severity] ?? 0,
      severityText: event.severity,
      body: event.msg,
      attributes,
    };
  }

  /**
   * Adds a sink, or replaces the sink of the same name (hot reload): the events queued for the
   * old one move to the new one, the old one finishes its send in flight and is closed. The
   * counters of a name survive replacement. Same instance again: only the options change.
   */
  setSink(sink: EventSink, options: Partial<SinkOptions> = {}): void {
    const opts = { ...DEFAULT_SINK_OPTIONS, ...options };
    const old = this.lanes.get(sink.name);
    if (old && old.sink === sink) {
      old.setOptions(opts);
      return;
    }
    const lane = new SinkLane(sink, opts, old?.counters ?? { sent: 0, dropped: {} }, this.opts.onError);
    this.lanes.set(sink.name, lane);
    if (old) {
      for (const record of old.takeAll()) lane.push(record);
      void old.retire(this.opts.replaceDeadlineMs ?? 30_000).then(() => closeQuietly(old.sink, this.opts.onError));
    }
  }

  /** Removes a sink: it gets until the deadline to deliver its queue, then it is closed and forgotten. */
  async removeSink(name: string, deadlineMs = 5000): Promise<void> {
    const lane = this.lanes.get(name);
    if (!lane) return;
    this.lanes.delete(name);
    await lane.retire(deadlineMs);
    await withDeadline(closeQuietly(lane.sink, this.opts.onError), deadlineMs);
  }

  sinkNames(): string[] {
    return [...this.lanes.keys()];
  }

  /** Per-sink counters for the agent's own metrics, keyed by sink name. */
  stats(): Record<string, SinkStats> {
    const out: Record<string, SinkStats> = {};
    for (const [name, lane] of this.lanes) out[name] = lane.stats();
    return out;
  }

  /**
   * Stops accepting events, gives every sink until the deadline to deliver its queue (what
   * remains is counted as `shutdown`), then closes the sinks (also bounded by the deadline).
   */
  async close(deadlineMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const started = Date.now();
    const lanes = [...this.lanes.values()];
    await Promise.all(lanes.map((l) => l.retire(deadlineMs)));
    const left = Math.max(0, deadlineMs - (Date.now() - started));
    await withDeadline(Promise.all(lanes.map((l) => closeQuietly(l.sink, this.opts.onError))), left);
  }
}

interface Counters {
  sent: number;
  dropped: Record<string, number>;
}

/** One sink's queue, batching and in-flight send. */
class SinkLane {
  // A FIFO as an array with a moving head: push and batch-take are O(1) amortized.
  private records: EventRecord[] = [];
  private enqueuedAt: number[] = [];
  private head = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  /** While retiring: send whatever is queued without waiting for batches to fill. */
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly sink: EventSink,
    private opts: SinkOptions,
    readonly counters: Counters,
    private readonly onError?: (sink: string, error: unknown) => void,
  ) {}

  private get queued(): number {
    return this.records.length - this.head;
  }

  push(record: EventRecord): void {
    if (this.queued + this.inFlight >= this.opts.maxQueueEvents) {
      this.drop('queue_full', 1);
      return;
    }
    this.records.push(record);
    this.enqueuedAt.push(Date.now());
    this.schedule();
  }

  setOptions(opts: SinkOptions): void {
    this.opts = opts;
    const excess = this.queued + this.inFlight - opts.maxQueueEvents;
    if (excess > 0) this.drop('queue_full', this.dropNewest(excess));
    this.clearTimer();
    this.schedule();
  }

  /** Removes and returns the queued (not in-flight) records, oldest first. */
  takeAll(): EventRecord[] {
    const out = this.records.slice(this.head);
    this.records = [];
    this.enqueuedAt = [];
    this.head = 0;
    this.clearTimer();
    return out;
  }

  /**
   * Sends everything queued as fast as batches allow; resolves when the lane is idle or at
   * the deadline, when what is still queued is counted as `shutdown` (a send in flight is
   * left to finish and counts itself).
   */
  async retire(deadlineMs: number): Promise<void> {
    this.draining = true;
    this.clearTimer();
    this.schedule();
    if (this.queued + this.inFlight > 0) {
      await withDeadline(new Promise<void>((resolve) => this.idleWaiters.push(resolve)), deadlineMs);
    }
    const left = this.takeAll().length;
    if (left > 0) this.drop('shutdown', left);
  }

  stats(): SinkStats {
    return { queued: this.queued, inFlight: this.inFlight, sent: this.counters.sent, dropped: { ...this.counters.dropped } };
  }

  private drop(reason: string, n: number): void {
    if (n > 0) this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + n;
  }

  private dropNewest(n: number): number {
    const k = Math.min(n, this.queued);
    this.records.length -= k;
    this.enqueuedAt.length -= k;
    return k;
  }

  /** Starts a send now if one is due, else arms the timer for when the oldest event's wait ends. */
  private schedule(): void {
    if (this.inFlight > 0 || this.queued === 0) {
      if (this.inFlight === 0) this.wakeIdle();
      return;
    }
    const waited = Date.now() - this.enqueuedAt[this.head];
    if (this.draining || this.queued >= this.opts.batchMaxEvents || waited >= this.opts.batchMaxWaitMs) {
      this.clearTimer();
      void this.sendBatch();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, this.opts.batchMaxWaitMs - waited);
      this.timer.unref(); // a pending batch alone does not keep the process alive
    }
  }

  private async sendBatch(): Promise<void> {
    const n = Math.min(this.queued, this.opts.batchMaxEvents);
    const batch = this.records.slice(this.head, this.head + n);
    this.head += n;
    if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.enqueuedAt = this.enqueuedAt.slice(this.head);
      this.head = 0;
    }
    this.inFlight = n;
    // Start the send after the publisher's synchronous work: publish() only ever queues.
    await null;
    let result: SendResult;
    try {
      result = await this.sink.send(batch);
    } catch (err) {
      // The contract says send never rejects; count the batch rather than lose track of it.
      this.onError?.(this.sink.name, err);
      result = { delivered: 0, dropped: { send_error: n } };
    }
    this.inFlight = 0;
    const delivered = Math.max(0, Math.min(n, result?.delivered ?? 0));
    this.counters.sent += delivered;
    let accounted = delivered;
    for (const [reason, count] of Object.entries(result?.dropped ?? {})) {
      if (count > 0) {
        this.drop(reason, count);
        accounted += count;
      }
    }
    // A sink that reports fewer records than it was given lost the rest without saying why.
    if (accounted < n) this.drop('unreported', n - accounted);
    this.schedule();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

async function closeQuietly(sink: EventSink, onError?: (sink: string, error: unknown) => void): Promise<void> {
  try {
    await sink.close();
  } catch (err) {
    onError?.(sink.name, err);
  }
}

/** Waits for `p` at most `ms` (the timer is referenced: whoever awaits this does get an answer). */
async function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}
