// The HTTP client of every push sink (Loki, OTLP logs and metrics, remote write). A sink is its
// encoding plus a retry policy; this is the rest: where to send (a fixed URL or one found by
// discovery), the pinned and re-resolved connection, TLS and auth read from files at every
// push, a timeout per attempt, retries with Retry-After and jittered backoff until the
// caller's deadline, and a reachability signal for the sink's log. post() never throws.
//
// Written on undici rather than taken from @opentelemetry/otlp-exporter-base, because that
// exporter bounds all its retries by one export timeout (measured, 0.223.0 defaults: a batch
// given up after 5 attempts / 8.7 s of 503s and after 8 s of ECONNREFUSED), whereas the event
// pipeline expects a sink to hold its batch while the receiver is down and to say why a
// batch was dropped.
import type { Dispatcher } from 'undici'; // types only: the code comes through ./undici.js
import { authHeaders, CredentialsError, lowerCaseNames, type AuthOptions } from './auth.js';
import { ConnectFailure, osResolver, PinnedConnection, type Lookup, type TlsOptions } from './connection.js';
import { FileCache } from './files.js';
import { Reachability, type ReachabilityChange } from './reachability.js';
import { backoffMs, parseRetryAfter, type RetryPolicy } from './retry.js';
import { oneLine } from '../util/one-line.js';

/**
 * The current URL when it is not fixed (Loki's Service discovery): may wait for one until
 * `deadline` (ms since the epoch) or until `signal` aborts; undefined when there is none.
 */
export type TargetProvider = (deadline: number, signal: AbortSignal) => Promise<string | URL | undefined>;

export interface HttpTransportOptions {
  target: string | URL | TargetProvider;
  retry: RetryPolicy;
  /** Per attempt (connect, send, answer), ms; default 10 000. */
  timeoutMs?: number;
  tls?: TlsOptions;
  auth?: AuthOptions;
  /** Name resolution (default: the OS resolver, all addresses). */
  lookup?: Lookup;
  /** How long a resolved address is trusted, ms (default 10 000); a connection error ends it at once. */
  refreshAddressMs?: number;
  /** Response bytes kept for the caller (OTLP partial success, error text); default 1 MiB. */
  maxResponseBytes?: number;
  /** A new host or address is in use (the first connection and every change). */
  onAddress?: (e: { url: string; address: string }) => void;
  /** An attempt failed and another follows in `waitMs`. */
  onRetry?: (e: RetryEvent) => void;
  /** An attempt starts now (ms since the epoch): for debug logs, and what the deadline bounds. */
  onAttempt?: (e: { url: string; attempt: number; at: number }) => void;
  /** Unreachable at the first failed attempt after a success (or at start), reachable at the next final answer. */
  onReachability?: (c: ReachabilityChange) => void;
}

export interface RetryEvent {
  url?: string;
  attempts: number;
  reason: string;
  error: string;
  waitMs: number;
}

export interface PostOptions {
  /** Give up (`retries_exhausted`, `no_address`) rather than start waiting beyond this time, ms since the epoch. */
  deadline: number;
}

export interface PostResult {
  ok: boolean;
  /** Status of the last answer, if any. */
  status?: number;
  /** Body of the final answer (up to maxResponseBytes). */
  body?: Uint8Array;
  /** Requests sent. */
  attempts: number;
  /**
   * Why it was given up: `http_<status>` (a status the policy does not retry),
   * `retries_exhausted`, `no_address`, `credentials` (policy without retryCredentials),
   * `shutdown`, `internal_error`.
   */
  reason?: string;
  /** The last failure, one line. */
  error?: string;
  /** The URL of the last attempt. */
  url?: string;
}

/** Why an attempt did not deliver, when another one may. */
interface Failure {
  reason: string;
  error: string;
  status?: number;
  retryAfterMs?: number;
}

/** One request's outcome: an HTTP answer, or why there was none. */
type Outcome = { status: number; body: Uint8Array; retryAfter?: string | string[] } | Failure;

const MAX_ERROR_TEXT = 300;

function describe(status: number, body: Uint8Array): string {
  const text = oneLine(Buffer.from(body.subarray(0, 4 * MAX_ERROR_TEXT)).toString('utf8')).slice(0, MAX_ERROR_TEXT);
  return text ? `HTTP ${status}: ${text}` : `HTTP ${status}`;
}

/** Bytes read and dropped past maxResponseBytes so that the connection can be reused; beyond, the answer is cut off. */
const DRAIN_BYTES = 1 << 20;

/**
 * The body, of which at most `max` bytes are kept. Up to DRAIN_BYTES more are read and dropped
 * so the socket stays reusable; a longer (or endless) answer is abandoned there and its
 * connection closed, so a backend cannot keep an attempt busy until its timeout.
 */
async function readBody(body: Dispatcher.ResponseData['body'], max: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let seen = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (kept < max) {
      const part = chunk.subarray(0, max - kept);
      chunks.push(part);
      kept += part.length;
    }
    if (seen > max + DRAIN_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks);
}

/** `p`, or a rejection when `signal` aborts first (a name lookup cannot be cancelled). */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The least time a retry gets for its answer, ms (when the per-attempt timeout is longer). */
const MIN_ATTEMPT_MS = 100;

export class HttpTransport {
  private readonly files = new FileCache();
  private readonly connection: PinnedConnection;
  private readonly reachability: Reachability;
  private readonly closing = new AbortController();
  private readonly fixed?: URL;
  private readonly timeoutMs: number;

  /** Throws on a fixed target that is not an http(s) URL. */
  constructor(private readonly opts: HttpTransportOptions) {
    if (typeof opts.target !== 'function') this.fixed = HttpTransport.url(opts.target);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.connection = new PinnedConnection({
      lookup: opts.lookup ?? osResolver,
      refreshMs: opts.refreshAddressMs ?? 10_000,
      tls: opts.tls,
      files: this.files,
      connectTimeoutMs: this.timeoutMs,
      onAddress: (url, address) => this.hook(() => opts.onAddress?.({ url: url.href, address })),
    });
    this.reachability = new Reachability(opts.onReachability);
  }

  private static url(target: string | URL): URL {
    const u = new URL(target);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`not an http(s) URL: "${u.href}"`);
    return u;
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /**
   * POSTs `body` until an answer the policy does not retry, the deadline, or close().
   * The first attempt is always made, with the full timeout (a caller splitting a batch may
   * find its deadline already spent); later ones never run past the deadline.
   */
  async post(body: Uint8Array, headers: Record<string, string>, { deadline }: PostOptions): Promise<PostResult> {
    const count = { attempts: 0 };
    try {
      const extra = lowerCaseNames(headers);
      for (let retry = 0; ; retry++) {
        if (this.closed) return { ok: false, attempts: count.attempts, reason: 'shutdown' };
        const url = await this.target(deadline);
        if (this.closed) return { ok: false, attempts: count.attempts, reason: 'shutdown' };
        if (!url) {
          this.reachability.failed(undefined, 'no_address', 'no address to push to');
          return { ok: false, attempts: count.attempts, reason: 'no_address', error: 'no address to push to' };
        }
        const step = await this.once(url, body, extra, count, deadline);
        if ('ok' in step) return step;
        const wait = step.retryAfterMs ?? backoffMs(retry, this.opts.retry);
        if (Date.now() + wait > deadline) {
          return { ok: false, status: step.status, attempts: count.attempts, reason: 'retries_exhausted', error: step.error, url: url.href };
        }
        this.hook(() => this.opts.onRetry?.({ url: url.href, attempts: count.attempts, reason: step.reason, error: step.error, waitMs: wait }));
        await this.sleep(wait);
        // A timer that fired late (a busy process) must not start an attempt past the deadline.
        if (Date.now() > deadline) return { ok: false, status: step.status, attempts: count.attempts, reason: 'retries_exhausted', error: step.error, url: url.href };
      }
    } catch (err) {
      return { ok: false, attempts: count.attempts, reason: 'internal_error', error: (err as Error).message };
    }
  }

  /** One attempt: a final result, or the failure to retry after. */
  private async once(url: URL, body: Uint8Array, extra: Record<string, string>, count: { attempts: number }, deadline: number): Promise<PostResult | Failure> {
    let auth: Record<string, string>;
    try {
      auth = await authHeaders(this.opts.auth ?? {}, this.files);
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err;
      if (this.opts.retry.retryCredentials === false) return { ok: false, attempts: count.attempts, reason: 'credentials', error: err.message, url: url.href };
      return { reason: 'credentials', error: err.message };
    }
    const first = ++count.attempts === 1;
    this.hook(() => this.opts.onAttempt?.({ url: url.href, attempt: count.attempts, at: Date.now() }));
    // A retry runs to the deadline, but never with less than MIN_ATTEMPT_MS: an attempt cut to a
    // sliver could only time out, and that timeout would hide the backend's real answer.
    const timeout = first ? this.timeoutMs : Math.min(this.timeoutMs, Math.max(MIN_ATTEMPT_MS, deadline - Date.now()));
    const out = await this.attempt(url, 'POST', body, { ...auth, ...extra }, timeout);
    let failure: Failure;
    if ('body' in out) {
      const ok = out.status >= 200 && out.status < 300;
      if (ok || !this.opts.retry.retryable(out.status)) {
        this.reachability.answered(url.href);
        const r: PostResult = { ok, status: out.status, body: out.body, attempts: count.attempts, url: url.href };
        return ok ? r : { ...r, reason: `http_${out.status}`, error: describe(out.status, out.body) };
      }
      failure = { reason: `http_${out.status}`, error: describe(out.status, out.body), status: out.status, retryAfterMs: parseRetryAfter(out.retryAfter) };
    } else {
      if (this.closed) return { ok: false, attempts: count.attempts, reason: 'shutdown', url: url.href };
      failure = out;
    }
    this.reachability.failed(url.href, failure.reason, failure.error);
    return failure;
  }

  /**
   * One GET of `path` on the origin of `url` (the current target's when omitted), over the same
   * connection, TLS and auth: for what a sink asks its backend besides pushing (Loki's version).
   * No retries; undefined when there is no answer.
   */
  async get(path: string, url?: URL): Promise<{ status: number; body: Uint8Array } | undefined> {
    try {
      const base = url ?? (await this.target(Date.now()));
      if (!base || this.closed) return undefined;
      const auth = await authHeaders(this.opts.auth ?? {}, this.files);
      const out = await this.attempt(new URL(path, base), 'GET', undefined, auth, this.timeoutMs);
      return 'body' in out ? { status: out.status, body: out.body } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Aborts the request in flight and any wait; later posts resolve with `shutdown`. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.connection.close();
  }

  private async target(deadline: number): Promise<URL | undefined> {
    if (this.fixed) return this.fixed;
    const t = await (this.opts.target as TargetProvider)(deadline, this.closing.signal);
    return t === undefined ? undefined : HttpTransport.url(t);
  }

  private async attempt(url: URL, method: 'GET' | 'POST', body: Uint8Array | undefined, headers: Record<string, string>, timeoutMs: number): Promise<Outcome> {
    // Our own timer for the whole exchange: undici's headersTimeout did not fire for a POST
    // whose body was already sent (measured: a 250 ms timeout waited 800 ms for the answer).
    // One controller per attempt (AbortSignal.any on the long-lived close signal would leave
    // a little behind on it at every call in Node 20).
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => ((timedOut = true), ac.abort()), timeoutMs);
    const onClose = () => ac.abort();
    this.closing.signal.addEventListener('abort', onClose, { once: true });
    let conn;
    try {
      conn = await unlessAborted(this.connection.get(url), ac.signal);
      const res = await conn.client.request({ path: url.pathname + url.search, method, headers, body, signal: ac.signal });
      const data = await readBody(res.body, this.opts.maxResponseBytes ?? 1 << 20);
      return { status: res.statusCode, body: data, retryAfter: res.headers['retry-after'] };
    } catch (err) {
      if (err instanceof ConnectFailure && !timedOut) return { reason: err.reason, error: err.message };
      if (conn) this.connection.distrust(conn);
      if (timedOut) return { reason: 'timeout', error: `no answer within ${timeoutMs} ms` };
      const e = err as Error & { code?: string };
      // One line: undici's own assertion messages (a 101 answer to a POST) span several.
      return { reason: 'connection', error: oneLine(`${e.code ?? e.name}: ${e.message}`) };
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener('abort', onClose);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.closing.signal;
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }

  private hook(f: () => void): void {
    try {
      f();
    } catch {
      // A logging hook must not break delivery.
    }
  }
}
