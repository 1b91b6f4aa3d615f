// The event pipeline: probes publish NetEvents; each becomes one EventRecord (OTel log-record
// semantics, attributed to its pod) and is fanned out to every sink. Each sink has its own
// bounded queue and batching and at most one send in flight, so a slow or dead sink only
// ever fills its own queue: probes and the other sinks never wait for it. Whatever is not
// delivered is counted per sink and reason.
//
// Outages: the batch in flight is retried by its sink until its oldest event reaches the
// sink's max age (the deadline passed to send()); meanwhile new events queue up, bounded in
// events and in bytes. Past a bound the oldest queued events go first (`queue_full`), and an
// event that waited longer than the max age is not sent at all (`max_age`).
import type { PodRef } from '../model.js';
import type { EventPublisher, EventRecord, EventSink, NetEvent, SendResult } from './model.js';
import { AttributedRecord, forEachAttribute } from './record.js';
import { Spool, type SpoolStatus } from './spool.js';
import { Ring } from '../util/ring.js';

/** What a network namespace inode belongs to: a pod, the host (and its host-network pods), or unknown. */
export type NetnsAttribution = PodRef | 'host' | undefined;
export type NetnsResolver = (netns: number) => NetnsAttribution;

export interface SinkOptions {
  /** Events held for the sink at most, the batch in flight included; past it the oldest queued go (`queue_full`). */
  maxQueueEvents: number;
  /** Estimated bytes held for the sink at most (recordBytes), the batch in flight included; past it the oldest queued go (`queue_full`). */
  maxQueueBytes: number;
  /**
   * How long an event may wait for delivery, ms: the batch in flight is retried until its
   * oldest event is this old (then the sink drops it, `retries_exhausted`), and a queued event
   * older than this is dropped before sending (`max_age`).
   */
  maxAgeMs: number;
  /** Events per send at most. */
  batchMaxEvents: number;
  /** Longest an event waits for its batch to fill before it is sent anyway. */
  batchMaxWaitMs: number;
  /**
   * A disk spool for this sink: every event is also written there; when the memory queue is
   * full, newer events wait on disk only (no `queue_full`), and after a restart what was not
   * done is sent first, in order.
   */
  spool?: SpoolSettings;
}

export interface SpoolSettings {
  /** The sink's directory (e.g. `<spool_dir>/loki`). */
  dir: string;
  maxBytes: number;
  /** Size at which a segment is closed and the next begun (default: maxBytes / 8, 64 KiB..16 MiB). */
  segmentBytes?: number;
  /** Told when writes start failing (a full disk) and when they work again. */
  onState?: (ok: boolean, message: string) => void;
}

export const DEFAULT_SINK_OPTIONS: Readonly<SinkOptions> = Object.freeze({
  maxQueueEvents: 100_000, maxQueueBytes: 32 << 20, maxAgeMs: 15 * 60_000, batchMaxEvents: 500, batchMaxWaitMs: 1000,
});

export interface SinkStats {
  /** Events waiting in the queue now (a gauge). */
  queued: number;
  /** Events of the send in progress now (a gauge). */
  inFlight: number;
  /** Estimated bytes of the queued and in-flight events (a gauge). */
  bytes: number;
  /** Events the sink reported delivered (a counter). */
  sent: number;
  /** Events given up on, by reason (counters): `queue_full`, `max_age`, the sink's own reasons, `shutdown`, `send_error`, and with a spool `spool_full`, `spool_write_failed`, `spool_corrupt`. */
  dropped: Record<string, number>;
  /** The disk spool, when the sink has one. */
  spool?: SpoolStatus;
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

// What a queued event costs in memory, estimated: the queue is bounded in bytes as well as in
// events, because one event with a long drop stack weighs as much as a hundred short ones.
/** Per record: the record and event objects, the attribute table, the bigint timestamp. */
const RECORD_OVERHEAD = 200;
/** Per attribute: its slot in the table and a number's heap cell. */
const ATTRIBUTE_OVERHEAD = 16;

let bytesSum = 0;
function addAttributeBytes(k: string, v: string | number): void {
  bytesSum += ATTRIBUTE_OVERHEAD + 2 * k.length + (typeof v === 'string' ? 2 * v.length : 8);
}

/**
 * Estimated bytes an event record holds: its strings at two bytes a character (the worst
 * case of V8's string storage) plus fixed overheads. Cheap: one pass over the attributes
 * (in place for the pipeline's own records: no attribute table is built for it).
 */
export function recordBytes(r: EventRecord): number {
  bytesSum = RECORD_OVERHEAD + 2 * r.body.length;
  forEachAttribute(r, addAttributeBytes, undefined);
  return bytesSum;
}

export class EventPipeline implements EventPublisher {
  private readonly lanes = new Map<string, SinkLane>();
  /** The lanes as an array, for publish() (no iterator per event); rebuilt when a sink comes or goes. */
  private laneList: SinkLane[] = [];
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
    const lanes = this.laneList;
    if (lanes.length === 0) return;
    const bytes = recordBytes(record);
    for (let i = 0; i < lanes.length; i++) lanes[i]!.push(record, bytes);
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
  toRecord(event: NetEvent): AttributedRecord {
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
    const own = event.attrs;
    if (own === null || typeof own !== 'object') throw new TypeError('attrs must be an object'); // refused by publish()
    // The attribute table is left to the sinks that want one (see AttributedRecord).
    return new AttributedRecord(event, pod, host, event.netns === undefined ? undefined : this.netnsName(event.netns), this.opts.nodeName);
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
    // The same spool directory: the new lane takes over the open spool (one writer per directory).
    const spool = old && opts.spool && old.spool?.dir === opts.spool.dir ? old.detachSpool() : undefined;
    const lane = new SinkLane(sink, opts, old?.counters ?? { sent: 0, dropped: {} }, this.opts.onError, spool);
    this.lanes.set(sink.name, lane);
    this.laneList = [...this.lanes.values()];
    if (old) {
      lane.adopt(old.takeAll(), spool !== undefined);
      void old.retire(this.opts.replaceDeadlineMs ?? 30_000).then(() => closeQuietly(old.sink, this.opts.onError)).then(() => old.closeSpool());
    }
  }

  /** Removes a sink: it gets until the deadline to deliver its queue, then it is closed and forgotten. */
  async removeSink(name: string, deadlineMs = 5000): Promise<void> {
    const lane = this.lanes.get(name);
    if (!lane) return;
    this.lanes.delete(name);
    this.laneList = [...this.lanes.values()];
    await lane.retire(deadlineMs);
    await withDeadline(closeQuietly(lane.sink, this.opts.onError), deadlineMs);
    await lane.closeSpool();
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
    await Promise.all(lanes.map((l) => l.closeSpool()));
  }
}

interface Counters {
  sent: number;
  dropped: Record<string, number>;
}

/** Queued events as taken from one lane and given to its successor: when each was queued, its size. */
interface Queued {
  records: EventRecord[];
  at: number[];
  sizes: number[];
  /** Spool sequence numbers (-1: not in the spool). */
  seqs: number[];
}

/** One sink's queue, batching and in-flight send, and its disk spool when it has one. */
class SinkLane {
  /** The queue: each record with when it was queued, its estimated bytes, its spool sequence (-1: not in the spool). */
  private queue = new Ring<EventRecord>();
  private queuedBytes = 0;
  private inFlight = 0;
  private inFlightBytes = 0;
  /** Spool sequence of the oldest spooled event in flight (-1: none). */
  private inFlightSeq = -1;
  private timer: NodeJS.Timeout | undefined;
  /** While retiring: send whatever is queued without waiting for batches to fill. */
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  /** With a spool: newer events wait on disk only, from `diskNext` on (the memory queue was full, or a restart left some). */
  private spilled = false;
  private diskNext = 0;
  private reading = false;
  /** Closing with a spool: what is left stays on disk for the next start, so nothing more is acknowledged. */
  private frozen = false;
  spool?: Spool;

  constructor(
    readonly sink: EventSink,
    private opts: SinkOptions,
    readonly counters: Counters,
    private readonly onError?: (sink: string, error: unknown) => void,
    spool?: Spool,
  ) {
    this.spool = spool ?? (opts.spool ? new Spool(opts.spool) : undefined);
    if (this.spool) this.spool.onLoss = () => { if (!this.reading) this.countSpoolLoss(); };
    if (this.spool && !spool && this.spool.acked < this.spool.next) {
      // Left by the previous run: sent first, in order, before anything new.
      this.spilled = true;
      this.diskNext = this.spool.acked;
      queueMicrotask(() => this.schedule());
    }
  }

  private get queued(): number {
    return this.queue.length;
  }

  private hasRoom(bytes: number): boolean {
    return this.queued + this.inFlight < this.opts.maxQueueEvents && this.queuedBytes + this.inFlightBytes + bytes <= this.opts.maxQueueBytes;
  }

  push(record: EventRecord, bytes: number, at = Date.now()): void {
    if (this.spool) return this.pushSpooled(this.spool, record, bytes, at);
    if (!this.hasRoom(bytes)) {
      // (With room, makeRoom would drop nothing: checked first, as nearly every push has room.)
      this.makeRoom(1, bytes);
      if (!this.hasRoom(bytes)) {
        // Nothing queued is left to give up for it: the batch in flight alone fills the bounds.
        this.drop('queue_full', 1);
        return;
      }
    }
    this.enqueue(record, bytes, at, -1);
    this.schedule();
  }

  /** With a spool, memory is the disk's read-ahead: a full memory queue sends newer events to disk only. */
  private pushSpooled(spool: Spool, record: EventRecord, bytes: number, at: number): void {
    const seq = spool.append(record, at);
    if (seq === undefined) {
      // The spool is full: memory alone, while it has room and nothing older waits on disk.
      if (!this.spilled && this.hasRoom(bytes)) this.enqueue(record, bytes, at, -1);
      else this.drop('spool_full', 1);
    } else if (!this.spilled && this.hasRoom(bytes)) {
      this.enqueue(record, bytes, at, seq);
    } else if (!this.spilled) {
      this.spilled = true;
      this.diskNext = seq;
    }
    this.schedule();
  }

  private enqueue(record: EventRecord, bytes: number, at: number, seq: number): void {
    this.queue.push(record, at, bytes, seq);
    this.queuedBytes += bytes;
  }

  /** Takes over a predecessor's queue (hot reload), keeping when each event was queued. */
  adopt(q: Queued, sameSpool: boolean): void {
    for (let i = 0; i < q.records.length; i++) {
      if (sameSpool && q.seqs[i]! >= 0) this.enqueue(q.records[i]!, q.sizes[i]!, q.at[i]!, q.seqs[i]!);
      else this.push(q.records[i]!, q.sizes[i]!, q.at[i]!);
    }
    this.schedule();
  }

  /** Hands the spool to a successor (the same directory); this lane no longer touches it. */
  detachSpool(): Spool | undefined {
    const s = this.spool;
    this.spool = undefined;
    return s;
  }

  async closeSpool(): Promise<void> {
    this.ackSpool();
    this.frozen = true;
    await this.spool?.close();
  }

  setOptions(opts: SinkOptions): void {
    this.opts = opts;
    if (!this.spool) this.makeRoom(0, 0);
    this.clearTimer();
    this.schedule();
  }

  /** Removes and returns the queued (not in-flight) records, oldest first. */
  takeAll(): Queued {
    const q = this.queue;
    const n = q.length;
    const out: Queued = { records: [], at: new Array<number>(n), sizes: new Array<number>(n), seqs: new Array<number>(n) };
    for (let k = 0; k < n; k++) {
      out.at[k] = q.atOf(k);
      out.sizes[k] = q.sizeOf(k);
      out.seqs[k] = q.seqOf(k);
    }
    out.records = q.shift(n);
    this.queuedBytes = 0;
    this.clearTimer();
    return out;
  }

  /**
   * Sends everything queued as fast as batches allow; resolves when the lane is idle or at
   * the deadline, when what is still queued is counted as `shutdown` (a send in flight is
   * left to finish and counts itself). With a spool, what is on disk stays for the next start.
   */
  async retire(deadlineMs: number): Promise<void> {
    this.draining = true;
    this.clearTimer();
    this.schedule();
    if (this.queued + this.inFlight > 0) {
      await withDeadline(new Promise<void>((resolve) => this.idleWaiters.push(resolve)), deadlineMs);
    }
    this.ackSpool();
    if (this.spool) this.frozen = true;
    const left = this.takeAll();
    const kept = this.spool ? left.seqs.filter((q) => q >= 0).length : 0;
    this.drop('shutdown', left.records.length - kept);
  }

  stats(): SinkStats {
    const s: SinkStats = { queued: this.queued, inFlight: this.inFlight, bytes: this.queuedBytes + this.inFlightBytes, sent: this.counters.sent, dropped: { ...this.counters.dropped } };
    if (this.spool) s.spool = this.spool.status();
    return s;
  }

  private drop(reason: string, n: number): void {
    if (n > 0) this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + n;
  }

  /** Drops the oldest queued events until `events` more of `bytes` fit the bounds (or nothing queued is left). */
  private makeRoom(events: number, bytes: number): void {
    let n = 0;
    while (this.queued > 0 && (this.queued + this.inFlight + events > this.opts.maxQueueEvents || this.queuedBytes + this.inFlightBytes + bytes > this.opts.maxQueueBytes)) {
      this.shift();
      n++;
    }
    this.drop('queue_full', n);
  }

  /** Drops the queued events that waited longer than the max age. */
  private expire(now: number): void {
    let n = 0;
    while (this.queued > 0 && now - this.queue.atOf(0) >= this.opts.maxAgeMs) {
      this.shift();
      n++;
    }
    this.drop('max_age', n);
  }

  /** Removes the oldest queued record. */
  private shift(): void {
    this.queuedBytes -= this.queue.sizeOf(0);
    this.queue.drop();
  }

  /** Tells the spool the oldest event still held; everything before it is done. */
  private ackSpool(): void {
    const spool = this.spool;
    if (!spool || this.frozen) return;
    let oldest = this.inFlightSeq;
    for (let k = 0; oldest < 0 && k < this.queue.length; k++) if (this.queue.seqOf(k) >= 0) oldest = this.queue.seqOf(k);
    if (oldest < 0) oldest = this.spilled ? this.diskNext : spool.next;
    spool.ack(oldest);
  }

  /**
   * Counts what the spool lost: damaged segments, and failed writes of events that were on disk
   * only (from `diskNext` on while spilled; the others are in memory and still delivered).
   */
  private countSpoolLoss(): void {
    const loss = this.spool?.takeLoss();
    if (!loss) return;
    for (const [first, count] of loss.writeFailed) {
      if (this.spilled) this.drop('spool_write_failed', Math.max(0, first + count - Math.max(first, this.diskNext)));
    }
    this.drop('spool_corrupt', loss.corrupt);
  }

  /** Fills the memory queue from the spool (events waiting on disk only), oldest first. */
  private async readSpool(spool: Spool): Promise<void> {
    this.reading = true;
    try {
      const { records, end } = await spool.read(this.diskNext, Math.max(1, Math.min(this.opts.maxQueueEvents, 4 * this.opts.batchMaxEvents)));
      if (this.spool !== spool) return; // handed over meanwhile
      this.countSpoolLoss(); // against diskNext before it moves past what was lost
      for (const r of records) this.enqueue(r.record, recordBytes(r.record), r.at, r.seq);
      this.diskNext = Math.max(this.diskNext, end);
      if (this.diskNext >= spool.next) this.spilled = false;
    } catch (err) {
      this.onError?.(this.sink.name, err);
      // Unreadable now: try again after a pause rather than in a loop.
      await new Promise((r) => setTimeout(r, 1000).unref());
    } finally {
      this.reading = false;
    }
    this.countSpoolLoss();
    this.ackSpool();
    this.schedule();
  }

  /** Starts a send now if one is due, else arms the timer for when the oldest event's wait ends. */
  private schedule(): void {
    if (this.inFlight > 0 || this.queued === 0) {
      if (this.inFlight > 0) return;
      if (this.spool && this.spilled && !this.draining) {
        if (!this.reading) void this.readSpool(this.spool);
        return;
      }
      this.wakeIdle();
      return;
    }
    const waited = Date.now() - this.queue.atOf(0);
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
    const now = Date.now();
    this.expire(now);
    if (this.queued === 0) {
      this.ackSpool();
      return this.schedule();
    }
    const n = Math.min(this.queued, this.opts.batchMaxEvents);
    const q = this.queue;
    // The sink retries until the oldest event of the batch reaches the max age.
    const deadline = q.atOf(0) + this.opts.maxAgeMs;
    let bytes = 0;
    let durable = 0;
    this.inFlightSeq = -1;
    for (let k = 0; k < n; k++) {
      bytes += q.sizeOf(k);
      const seq = q.seqOf(k);
      if (seq >= 0) {
        durable++;
        if (this.inFlightSeq < 0) this.inFlightSeq = seq;
      }
    }
    const batch = q.shift(n);
    this.queuedBytes -= bytes;
    this.inFlight = n;
    this.inFlightBytes = bytes;
    // Start the send after the publisher's synchronous work: publish() only ever queues.
    await null;
    let result: SendResult;
    try {
      result = await this.sink.send(batch, { deadline });
    } catch (err) {
      // The contract says send never rejects; count the batch rather than lose track of it.
      this.onError?.(this.sink.name, err);
      result = { delivered: 0, dropped: { send_error: n } };
    }
    this.inFlight = 0;
    this.inFlightBytes = 0;
    const delivered = Math.max(0, Math.min(n, result?.delivered ?? 0));
    this.counters.sent += delivered;
    let accounted = delivered;
    const dropped = { ...result?.dropped };
    if (this.spool && (dropped.shutdown ?? 0) > 0) {
      // Cut off by closing: the spooled events of the batch are sent after the next start.
      const kept = Math.min(durable, dropped.shutdown!);
      dropped.shutdown! -= kept;
      accounted += kept;
      this.frozen = true;
    }
    for (const [reason, count] of Object.entries(dropped)) {
      if (count > 0) {
        this.drop(reason, count);
        accounted += count;
      }
    }
    // A sink that reports fewer records than it was given lost the rest without saying why.
    if (accounted < n) this.drop('unreported', n - accounted);
    this.inFlightSeq = -1;
    this.ackSpool();
    this.countSpoolLoss();
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
