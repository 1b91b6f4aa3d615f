// The Grafana Loki sink: POST /loki/api/v1/push, protobuf + snappy (or gzip JSON), on undici.
//
// Delivery rules: a batch is retried with exponential backoff and jitter only on 429
// (Retry-After honoured), 5xx, timeouts and connection errors, for at most
// `maxRetryTimeMs` in total; any other status drops the batch, counted as `http_<code>`.
// The pipeline's bounded queue holds newer events meanwhile, so memory stays bounded.
//
// DNS: the host name is resolved again every `dnsRefreshMs` and after every connection
// error; when the address changes, the connection to the old one is closed and requests
// go to the new one. (undici alone would keep a keep-alive socket to the old address for
// as long as traffic flows, which is the predecessor's "resolved once" fault.)
import { lookup as dnsLookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP, type LookupFunction } from 'node:net';
import { Client } from 'undici';
import type { EventRecord, EventSink, SendResult } from '../../events/model.js';
import type { Logger } from '../../log.js';
import { KubeClient } from '../../k8s/index.js';
import { LokiDiscovery } from './discovery.js';
import { pushBody, toStreams, validateStaticLabels, type LokiEncoding } from './encode.js';

export const PUSH_PATH = '/loki/api/v1/push';

/** `event_config.sinks.loki` (names as in the config file). */
export interface LokiSinkConfig {
  /** Base URL (`http://loki:3100`), full push URL, or `host:port`; empty: auto-discovery. */
  url?: string;
  /** X-Scope-OrgID. */
  tenant?: string;
  username?: string;
  password_file?: string;
  bearer_token_file?: string;
  ca_file?: string;
  insecure_skip_verify?: boolean;
  /** Discovery: namespace looked in first (default: any) and Service name (default grafana-loki). */
  discovery_namespace?: string;
  service_name?: string;
  encoding?: LokiEncoding;
  /** Largest push request, in events: a bigger batch is split (default 1000). */
  batch_max_events?: number;
  /** Pipeline settings (batching and queue), accepted here so one object configures the sink. */
  batch_max_wait_ms?: number;
  max_queue_events?: number;
  static_labels?: Record<string, string>;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}
export type Lookup = (hostname: string) => Promise<ResolvedAddress>;

export interface LokiSinkDeps {
  /** This node's name: the `k8s_node` label when a record has no `k8s.node.name`. */
  node: string;
  logger?: Logger;
  /** For auto-discovery (no `url`): the client or a factory (default `KubeClient.inCluster`). */
  kube?: KubeClient | (() => Promise<KubeClient>);
  /** Name resolution (default: the OS resolver); injectable for tests. */
  lookup?: Lookup;
  /** How long a resolved address is trusted before resolving again, ms (default 10 000). */
  dnsRefreshMs?: number;
  /** Per request: connect and response timeout, ms (default 10 000). */
  requestTimeoutMs?: number;
  /** Total time one batch may spend in retries (and waiting for a discovered address), ms (default 60 000). */
  maxRetryTimeMs?: number;
  /** Backoff between attempts, ms: doubles from min up to max, full jitter in [d/2, d] (default 250..10 000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Discovery's list/watch backoff while the API is unreachable, ms (default 500..30 000). */
  discoveryMinBackoffMs?: number;
  discoveryMaxBackoffMs?: number;
}

/** Why an attempt failed, and whether trying again makes sense. */
interface Failure {
  retry: boolean;
  reason: string;
  retryAfterMs?: number;
  message: string;
}

interface Connection {
  origin: string;
  address?: string;
  resolvedAt: number;
  client: Client;
}

const defaultLookup: Lookup = async (host) => {
  const r = await dnsLookup(host);
  return { address: r.address, family: r.family === 6 ? 6 : 4 };
};

/** `Retry-After` in ms: delta-seconds or an HTTP date. */
export function parseRetryAfter(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\s*\d+\s*$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

function pushUrl(url: string): URL {
  const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = PUSH_PATH;
  return u;
}

export class LokiSink implements EventSink {
  readonly name = 'loki';
  private readonly encoding: LokiEncoding;
  private readonly staticLabels: Record<string, string>;
  private readonly staticUrl?: URL;
  private readonly discovery?: LokiDiscovery;
  private readonly lookup: Lookup;
  private conn?: Connection;
  private readonly closing = new AbortController();
  private ca?: Buffer;
  /** Last URL in use, to log each change once. */
  private lastUrl = '';

  constructor(
    private readonly config: LokiSinkConfig,
    private readonly deps: LokiSinkDeps,
  ) {
    this.encoding = config.encoding ?? 'protobuf';
    if (this.encoding !== 'protobuf' && this.encoding !== 'json') throw new Error(`loki encoding: "${String(this.encoding)}" is not protobuf or json`);
    this.staticLabels = { ...(config.static_labels ?? {}) };
    validateStaticLabels(this.staticLabels);
    this.lookup = deps.lookup ?? defaultLookup;
    if (config.url) {
      this.staticUrl = pushUrl(config.url);
    } else {
      const kube = deps.kube ?? (() => KubeClient.inCluster());
      this.discovery = new LokiDiscovery({
        client: kube, serviceName: config.service_name, namespace: config.discovery_namespace, logger: deps.logger,
        minBackoffMs: deps.discoveryMinBackoffMs, maxBackoffMs: deps.discoveryMaxBackoffMs,
      }).start();
    }
  }

  /** The push URL in use right now (undefined while discovery has found nothing). */
  get url(): string | undefined {
    if (this.staticUrl) return this.staticUrl.href;
    const d = this.discovery?.current;
    return d ? pushUrl(d.url).href : undefined;
  }

  async send(batch: readonly EventRecord[]): Promise<SendResult> {
    const result: SendResult = { delivered: 0 };
    if (batch.length === 0) return result;
    const deadline = Date.now() + (this.deps.maxRetryTimeMs ?? 60_000);
    const max = Math.max(1, this.config.batch_max_events ?? 1000);
    for (let i = 0; i < batch.length; i += max) {
      const part = batch.slice(i, i + max);
      // send() never rejects (the contract): an unexpected error drops the part, counted.
      const r = await this.push(part, deadline).catch((err: Error) => {
        this.deps.logger?.error('loki: batch dropped on an internal error', { error: err.message, events: part.length });
        return { ok: false as const, reason: 'internal_error' };
      });
      if (r.ok) result.delivered += part.length;
      else (result.dropped ??= {})[r.reason] = (result.dropped?.[r.reason] ?? 0) + part.length;
    }
    return result;
  }

  async close(): Promise<void> {
    this.closing.abort();
    await this.discovery?.stop();
    const c = this.conn;
    this.conn = undefined;
    await c?.client.destroy().catch(() => {});
  }

  private async push(records: readonly EventRecord[], deadline: number): Promise<{ ok: true } | { ok: false; reason: string }> {
    const log = this.deps.logger;
    const streams = toStreams(records, this.deps.node, this.staticLabels, this.encoding);
    const { body, headers } = await pushBody(streams, this.encoding);
    for (let attempt = 0; ; attempt++) {
      if (this.closing.signal.aborted) return { ok: false, reason: 'shutdown' };
      const url = await this.target(deadline);
      if (!url) {
        if (this.closing.signal.aborted) return { ok: false, reason: 'shutdown' };
        log?.warn('loki: no address found in time, batch dropped', { events: records.length });
        return { ok: false, reason: 'no_address' };
      }
      let f: Failure | undefined;
      try {
        f = await this.attempt(url, body, { ...headers, ...(await this.authHeaders()) }, attempt === 0 ? undefined : deadline);
      } catch (err) {
        // A credentials file missing for a moment (Secret being remounted): worth retrying.
        f = { retry: true, reason: 'credentials', message: (err as Error).message };
      }
      if (!f) return { ok: true };
      if (!f.retry) {
        log?.warn('loki: push rejected, batch dropped', { url: url.href, reason: f.reason, error: f.message, events: records.length });
        return { ok: false, reason: f.reason };
      }
      const base = Math.min(this.deps.maxBackoffMs ?? 10_000, (this.deps.minBackoffMs ?? 250) * 2 ** attempt);
      const wait = f.retryAfterMs ?? Math.round(base / 2 + (Math.random() * base) / 2);
      if (Date.now() + wait > deadline) {
        log?.warn('loki: retries exhausted, batch dropped', { url: url.href, last_error: f.message, attempts: attempt + 1, events: records.length });
        return { ok: false, reason: 'retries_exhausted' };
      }
      log?.debug('loki: push failed, retrying', { url: url.href, error: f.message, retry_in_ms: wait });
      await this.sleep(wait);
    }
  }

  /**
   * One POST; undefined on success. A first attempt always gets the full request timeout
   * (later parts of a split batch may find the budget already spent); retries stop at the deadline.
   */
  private async attempt(url: URL, body: Uint8Array, headers: Record<string, string>, deadline?: number): Promise<Failure | undefined> {
    const full = this.deps.requestTimeoutMs ?? 10_000;
    const timeout = deadline === undefined ? full : Math.max(1, Math.min(full, deadline - Date.now()));
    let conn: Connection;
    try {
      conn = await this.connection(url, timeout);
    } catch (err) {
      return { retry: true, reason: 'dns', message: `resolve ${url.hostname}: ${(err as Error).message}` };
    }
    // Our own timer for the whole exchange: undici's headersTimeout did not fire for a POST
    // whose body was already sent (measured: a 250 ms timeout waited 800 ms for the answer).
    // One controller per attempt (AbortSignal.any on the long-lived close signal would
    // leave a little behind on it every call in Node 20).
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => ((timedOut = true), ac.abort()), timeout);
    const onClose = () => ac.abort();
    this.closing.signal.addEventListener('abort', onClose, { once: true });
    try {
      const res = await conn.client.request({
        path: url.pathname + url.search,
        method: 'POST',
        headers: { ...headers, 'user-agent': 'kubesonar-loki-sink' },
        body,
        signal: ac.signal,
      });
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const text = ok ? (await res.body.dump(), '') : await res.body.text().catch(() => '');
      if (ok) return undefined;
      const message = `HTTP ${res.statusCode}: ${text.trim().slice(0, 300)}`;
      const reason = `http_${res.statusCode}`;
      if (res.statusCode === 429 || res.statusCode >= 500) {
        return { retry: true, reason, message, retryAfterMs: parseRetryAfter(res.headers['retry-after']) };
      }
      return { retry: false, reason, message };
    } catch (err) {
      // The address may have moved: resolve again before the next attempt.
      conn.resolvedAt = 0;
      if (timedOut) return { retry: true, reason: 'timeout', message: `no answer within ${timeout} ms` };
      const e = err as Error & { code?: string };
      return { retry: true, reason: 'connection', message: `${e.code ?? e.name}: ${e.message}` };
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener('abort', onClose);
    }
  }

  /** The push URL: the configured one, or the discovered Service's (waiting for it until `deadline`). */
  private async target(deadline: number): Promise<URL | undefined> {
    if (this.staticUrl) return this.staticUrl;
    const d = await this.discovery!.address(deadline - Date.now(), this.closing.signal);
    return d ? pushUrl(d.url) : undefined;
  }

  /** A client bound to the address `url`'s host resolves to now; replaced when that changes. */
  private async connection(url: URL, timeoutMs: number): Promise<Connection> {
    const origin = url.origin;
    const now = Date.now();
    const cur = this.conn;
    const literal = isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0;
    if (cur && cur.origin === origin && (literal || now - cur.resolvedAt < (this.deps.dnsRefreshMs ?? 10_000))) return cur;
    let resolved: ResolvedAddress | undefined;
    if (!literal) resolved = await this.lookup(url.hostname);
    if (cur && cur.origin === origin && cur.address === resolved?.address) {
      cur.resolvedAt = now;
      return cur;
    }
    if (url.protocol === 'https:' && this.config.ca_file && !this.ca) this.ca = await readFile(this.config.ca_file);
    // Pin the connection to the address just resolved: undici's own lookup would happen
    // only when a socket is opened, outside our control.
    const pinned: LookupFunction | undefined = resolved
      ? (_host, opts, cb) => {
          if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: resolved.address, family: resolved.family }]);
          else cb(null, resolved.address, resolved.family);
        }
      : undefined;
    const client = new Client(origin, {
      connect: {
        timeout: timeoutMs,
        lookup: pinned,
        ca: this.ca,
        rejectUnauthorized: !this.config.insecure_skip_verify,
        servername: literal ? undefined : url.hostname,
      },
      // An idle socket is kept at most a minute whatever the server hints; the address
      // itself is re-checked every dnsRefreshMs regardless of keep-alive.
      keepAliveMaxTimeout: 60_000,
    });
    this.conn = { origin, address: resolved?.address, resolvedAt: now, client };
    const where = resolved ? `${url.host} (${resolved.address})` : url.host;
    if (where !== this.lastUrl) {
      this.deps.logger?.info('loki: pushing to', { url: url.href, address: resolved?.address ?? url.hostname });
      this.lastUrl = where;
    }
    // Let a request in flight on the old address finish; new ones use the new client.
    if (cur) void cur.client.close().catch(() => {});
    return this.conn;
  }

  private async authHeaders(): Promise<Record<string, string>> {
    const h: Record<string, string> = {};
    if (this.config.tenant) h['x-scope-orgid'] = this.config.tenant;
    // Secrets are read per batch: a mounted Secret that is updated takes effect without a restart.
    if (this.config.bearer_token_file) {
      h.authorization = `Bearer ${(await readFile(this.config.bearer_token_file, 'utf8')).trim()}`;
    } else if (this.config.username !== undefined && this.config.username !== '') {
      const password = this.config.password_file ? (await readFile(this.config.password_file, 'utf8')).replace(/\r?\n$/, '') : '';
      h.authorization = `Basic ${Buffer.from(`${this.config.username}:${password}`).toString('base64')}`;
    }
    return h;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.closing.signal;
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }
}
