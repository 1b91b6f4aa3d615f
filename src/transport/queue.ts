// The request queue of the metric pushers (remote write, OTLP metrics), as Prometheus's
// remote-write queue keeps samples through an outage: every collection becomes encoded
// requests appended here; one sender posts them in order, retrying each until it is
// `maxAgeMs` old. Collections go on meanwhile, so the samples of an outage are sent, in
// order, when the receiver is back. Bounded in bytes: past the bound the oldest waiting
// request goes first (`queue_full`); a request older than the max age before its first
// attempt is dropped (`max_age`), and when a request runs out of time the others of its
// collection go with it (`retries_exhausted`).
import type { HttpTransport, PostResult } from './http.js';

export interface QueuedOutcome {
  ok: boolean;
  /** Why it was dropped: the transport's reason (`http_400`, `retries_exhausted`, ...), `queue_full`, `max_age`, `shutdown`. */
  reason?: string;
  /** Samples (or data points) the request carried. */
  count: number;
  /** The transport's result, when the request was sent. */
  result?: PostResult;
}

export interface PushQueueOptions {
  transport: HttpTransport;
  headers: Record<string, string>;
  maxBytes: number;
  maxAgeMs: number;
  /** Each request's outcome, in queue order (counters, logs). */
  onOutcome(o: QueuedOutcome): void;
}

interface Item {
  body: Uint8Array;
  /** This request's own headers (else the queue's). */
  headers?: Record<string, string>;
  count: number;
  at: number;
  settle: (ok: boolean) => void;
}

export interface PushQueueStats {
  requests: number;
  samples: number;
  bytes: number;
}

export class PushQueue {
  private items: Item[] = [];
  private bytes = 0;
  private sending = false;
  private closed = false;

  constructor(private readonly opts: PushQueueOptions) {}

  /**
   * Appends a request (never waits for the network); the promise tells whether it was
   * delivered, once it is settled.
   */
  push(body: Uint8Array, count: number, at = Date.now(), headers?: Record<string, string>): Promise<boolean> {
    return new Promise<boolean>((settle) => {
      if (this.closed) {
        this.outcome({ body, count, at, settle }, { ok: false, reason: 'shutdown', count });
        return;
      }
      // The head is in flight while sending: the oldest waiting one is next to go.
      const first = this.sending ? 1 : 0;
      while (this.items.length > first && this.bytes + body.length > this.opts.maxBytes) {
        const [old] = this.items.splice(first, 1);
        this.bytes -= old!.body.length;
        this.outcome(old!, { ok: false, reason: 'queue_full', count: old!.count });
      }
      if (this.bytes + body.length > this.opts.maxBytes && this.items.length > 0) {
        this.outcome({ body, count, at, settle }, { ok: false, reason: 'queue_full', count });
        return;
      }
      this.items.push({ body, headers, count, at, settle });
      this.bytes += body.length;
      if (!this.sending) void this.send();
    });
  }

  stats(): PushQueueStats {
    return { requests: this.items.length, samples: this.items.reduce((n, i) => n + i.count, 0), bytes: this.bytes };
  }

  /** Stops sending (close the transport to end a request in flight); what waits is dropped as `shutdown`. */
  close(): void {
    this.closed = true;
    if (!this.sending) this.dropAll();
  }

  private dropAll(): void {
    for (const item of this.items.splice(0)) this.outcome(item, { ok: false, reason: 'shutdown', count: item.count });
    this.bytes = 0;
  }

  private async send(): Promise<void> {
    this.sending = true;
    try {
      while (this.items.length > 0 && !this.closed) {
        const item = this.items[0]!;
        if (Date.now() - item.at >= this.opts.maxAgeMs) {
          this.shift();
          this.outcome(item, { ok: false, reason: 'max_age', count: item.count });
          continue;
        }
        let result: PostResult;
        try {
          result = await this.opts.transport.post(item.body, item.headers ?? this.opts.headers, { deadline: item.at + this.opts.maxAgeMs });
        } catch (err) {
          result = { ok: false, attempts: 0, reason: 'internal_error', error: (err as Error).message };
        }
        if (this.items[0] === item) this.shift(); // not already dropped by push()
        this.outcome(item, { ok: result.ok, reason: result.ok ? undefined : result.reason ?? 'error', count: item.count, result });
        // The other requests of the same collection share its deadline: they would fare no better.
        while (result.reason === 'retries_exhausted' && this.items[0]?.at === item.at) {
          const next = this.items[0]!;
          this.shift();
          this.outcome(next, { ok: false, reason: 'retries_exhausted', count: next.count });
        }
      }
    } finally {
      this.sending = false;
      if (this.closed) this.dropAll();
    }
  }

  private shift(): void {
    const item = this.items.shift();
    if (item) this.bytes -= item.body.length;
  }

  private outcome(item: Item, o: QueuedOutcome): void {
    try {
      this.opts.onOutcome(o);
    } finally {
      item.settle(o.ok);
    }
  }
}
