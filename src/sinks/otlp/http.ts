// One HTTP POST with retries, shared by the OTLP sinks and the remote-write pusher. Written on
// undici rather than taken from @opentelemetry/otlp-exporter-base, because that exporter bounds
// all its retries by one export timeout: measured here (0.223.0, defaults), a batch is given up
// after 5 attempts / 8.7 s of 503s and after 8 s of ECONNREFUSED, whereas the event pipeline
// expects `send()` to hold its batch while the receiver is down (it buffers new events
// meanwhile) and to tell it why a batch was dropped (`http_400`, ...). The exporter also only
// logs partial-success rejections instead of reporting them. The encoding is the same
// (otlp-transformer), so the cost is too: measured 6-9 ms CPU per 1000-event batch either way
// (sender and a loopback receiver in one process, 70-110k events/s).
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { TlsFiles } from './config.js';

export interface RetryPolicy {
  /** Whether a response status is worth another attempt (the protocols differ). */
  retryable(status: number): boolean;
  /** Give up (`retries_exhausted`) when the next attempt would start later than this after the first. */
  budgetMs: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface PostResult {
  ok: boolean;
  status?: number;
  /** Response body of the final attempt (for OTLP partial success). */
  body?: Uint8Array;
  attempts: number;
  /** Why it was given up: `http_<status>`, `retries_exhausted`, `shutdown`. */
  reason?: string;
  error?: string;
}

export interface HttpSenderOptions {
  url: string;
  /** Per-attempt timeout (connect, headers and body). */
  timeoutMs: number;
  policy: RetryPolicy;
  /** Extra trust (CA) and a client certificate for mTLS; read once, at construction. */
  tls?: TlsFiles;
}

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${what} ${path}: ${(err as Error).message}`);
  }
}

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  if (signal.aborted) return resolve();
  const t = setTimeout(done, ms);
  function done() { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); }
  signal.addEventListener('abort', done, { once: true });
});

/** Retry-After is either delta-seconds or an HTTP date. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class HttpSender {
  /** HTTP/1.1 keep-alive pool (undici never negotiates h2 unless allowH2 is set). */
  private readonly agent: Agent;
  private readonly closing = new AbortController();

  constructor(private readonly opts: HttpSenderOptions) {
    const { tls } = opts;
    this.agent = new Agent({
      connect: {
        timeout: opts.timeoutMs,
        ca: readPem(tls?.caFile, 'CA certificate'),
        cert: readPem(tls?.certFile, 'client certificate'),
        key: readPem(tls?.keyFile, 'client key'),
      },
      headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs,
    });
  }

  get url(): string { return this.opts.url; }

  /**
   * POSTs `body` until success, a non-retryable status, the retry budget (the policy's, or
   * `budgetMs` for this call) or close(). Never throws.
   */
  async post(body: Uint8Array, headers: Record<string, string>, budgetMs = this.opts.policy.budgetMs): Promise<PostResult> {
    const { policy } = this.opts;
    const start = Date.now();
    let backoff = policy.initialBackoffMs ?? 1000;
    const maxBackoff = policy.maxBackoffMs ?? 30_000;
    for (let attempts = 1; ; attempts++) {
      if (this.closing.signal.aborted) return { ok: false, attempts, reason: 'shutdown' };
      let wait: number | undefined;
      let last: PostResult;
      try {
        const res = await request(this.opts.url, {
          method: 'POST', body, headers, dispatcher: this.agent,
          signal: AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.opts.timeoutMs)]),
        });
        const data = new Uint8Array(await res.body.arrayBuffer());
        if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, status: res.statusCode, body: data, attempts };
        const error = `HTTP ${res.statusCode}: ${Buffer.from(data.subarray(0, 300)).toString().replace(/\s+/g, " ").trim()}`;
        if (!policy.retryable(res.statusCode)) return { ok: false, status: res.statusCode, attempts, reason: `http_${res.statusCode}`, error };
        last = { ok: false, status: res.statusCode, attempts, reason: 'retries_exhausted', error };
        wait = retryAfterMs(res.headers['retry-after']);
      } catch (err) {
        // Connection refused/reset, DNS failure, timeout: the receiver may come back.
        if (this.closing.signal.aborted) return { ok: false, attempts, reason: 'shutdown' };
        last = { ok: false, attempts, reason: 'retries_exhausted', error: (err as Error).message };
      }
      if (wait === undefined) {
        wait = backoff * (0.8 + Math.random() * 0.4);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
      if (Date.now() + wait - start > budgetMs) return last;
      await sleep(wait, this.closing.signal);
    }
  }

  /** Aborts the request in flight and any backoff wait; later posts resolve with `shutdown`. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.agent.destroy().catch(() => {});
  }
}
