// What every metric pusher (remote write, OTLP metrics) does around its own encoding: every
// interval, collect and queue the requests; the queue (queue.ts) sends them in order, each
// retried until it is max_age old, and reports each outcome; a receiver that is down delays
// sending, never collecting.
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { HttpTransport } from './http.js';
import { Periodic } from './periodic.js';
import { PushQueue, type QueuedOutcome } from './queue.js';
import type { ReachabilityChange } from './reachability.js';

/** What a user of a metric pusher may give besides its section of the config. */
export interface PusherHooks {
  /** How long a request is kept and retried (default: `max_age_ms`, 15 minutes). */
  retryBudgetMs?: number;
  /** Told why points were dropped, one line, for the agent's log and /status. */
  onError?: (message: string) => void;
  /** Told once when the receiver stops answering and once when it is back. */
  onReachability?: (change: ReachabilityChange) => void;
}

export interface QueuedPusherOptions {
  intervalMs: number;
  /** The agent's metrics now, e.g. `async () => (await telemetry.pull.collect()).resourceMetrics`. */
  collect: () => Promise<ResourceMetrics>;
  /** Headers of every request (the protocol's own). */
  headers: Record<string, string>;
  /** Bytes the queue may hold (`max_queue_bytes`). */
  maxBytes: number;
  /** How long a request is kept and retried (`max_age_ms`). */
  maxAgeMs: number;
}

export abstract class QueuedPusher {
  readonly intervalMs: number;
  protected readonly queue: PushQueue;
  private readonly loop: Periodic;
  /** Collections, and those of them not wholly delivered (or not collected). */
  protected readonly pushCounts = { pushes: 0, failedPushes: 0 };

  private readonly collect: () => Promise<ResourceMetrics>;

  constructor(protected readonly transport: HttpTransport, opts: QueuedPusherOptions) {
    this.intervalMs = opts.intervalMs;
    this.collect = opts.collect;
    this.queue = new PushQueue({
      transport, headers: opts.headers, maxBytes: opts.maxBytes, maxAgeMs: opts.maxAgeMs,
      onOutcome: (o) => this.outcome(o),
    });
    this.loop = new Periodic(this.intervalMs, async () => { await this.collectAndQueue(); });
  }

  /**
   * Encodes and queues one collection's requests; each promise tells, once settled, whether its
   * request was delivered. Returned in an array so that awaiting this does not wait for delivery.
   */
  protected abstract queueMetrics(rm: ResourceMetrics): Promise<Promise<boolean>[]>;

  /** Accounts for one request that was delivered or given up on. */
  protected abstract outcome(o: QueuedOutcome): void;

  /** Counts `n` points given up on for `reason` and tells the agent's log why. */
  protected abstract drop(reason: string, n: number, error: string): void;

  start(): void { this.loop.start(); }

  /** One collection, queued; resolves once its requests are settled, true when every one was delivered. Never throws. */
  async pushOnce(): Promise<boolean> {
    return (await this.collectAndQueue()).settled;
  }

  async close(): Promise<void> {
    const stopped = this.loop.stop();
    this.queue.close();
    await this.transport.close();
    await stopped;
  }

  private async collectAndQueue(): Promise<{ settled: Promise<boolean> }> {
    this.pushCounts.pushes++;
    let rm: ResourceMetrics | undefined;
    try {
      rm = await this.collect();
    } catch (err) {
      this.drop('collect_error', 0, (err as Error).message);
    }
    let requests: Promise<boolean>[] = [Promise.resolve(false)];
    if (rm) {
      try {
        requests = await this.queueMetrics(rm);
      } catch (err) {
        // Told and counted like a failed collection: the loop would otherwise swallow it unseen.
        this.drop('encode_error', 0, (err as Error).message);
      }
    }
    return {
      settled: Promise.all(requests).then((all) => {
        const ok = all.every(Boolean);
        if (!ok) this.pushCounts.failedPushes++;
        return ok;
      }),
    };
  }
}
