// The Grafana Loki sink: POST /loki/api/v1/push, protobuf + snappy (or gzip JSON). The sink is
// the encoding (encode.ts), the choice of target (a URL, or the Service discovery finds) and
// Loki's retry rule; the shared push transport does the rest (src/transport).
//
// Delivery rules: a batch is retried with exponential backoff and jitter only on 429
// (Retry-After honoured), 5xx, timeouts and connection errors, until the deadline the
// pipeline gives (its oldest event reaching `max_age_ms`; alone, `maxRetryTimeMs`); any other
// status drops the batch, counted as `http_<code>`. The pipeline's queue, bounded in events
// and bytes, holds newer events meanwhile, so memory stays bounded.
//
// Name resolution: the host name is resolved again every `dnsRefreshMs` and after every
// connection error; when the address changes, the connection to the old one is closed and
// requests go to the new one (the predecessor resolved it once).
import type { EventRecord, EventSink, SendOptions, SendResult } from '../../events/model.js';
import type { Logger } from '../../log.js';
import { KubeClient } from '../../k8s/index.js';
import { HttpTransport, logReachability, type Lookup, type PostResult, type ReachabilityChange } from '../../transport/index.js';
import { oneLine } from '../../util/one-line.js';
import type { LokiSection } from './config.js';
import { LokiDiscovery } from './discovery.js';
import { pushBody, validateStaticLabels, type FieldStorage, type LokiEncoding } from './encode.js';

export { parseRetryAfter, type Lookup, type ResolvedAddress } from '../../transport/index.js';

export const PUSH_PATH = '/loki/api/v1/push';

/** `event_config.sinks.loki` (names as in the config file); unset keys take their defaults. */
export type LokiSinkConfig = Partial<LokiSection>;

export interface LokiSinkDeps {
  /** This node's name: the `k8s_node` label when a record has no `k8s.node.name`. */
  node: string;
  logger?: Logger;
  /** Told once when Loki stops answering and once when it answers again (default: logged). */
  onReachability?: (change: ReachabilityChange) => void;
  /** For auto-discovery (no `url`): the client or a factory (default `KubeClient.inCluster`). */
  kube?: KubeClient | (() => Promise<KubeClient>);
  /** Name resolution (default: the OS resolver); injectable for tests. */
  lookup?: Lookup;
  /** How long a resolved address is trusted before resolving again, ms (default 10 000). */
  dnsRefreshMs?: number;
  /** Per request: connect and response timeout, ms (default 10 000). */
  requestTimeoutMs?: number;
  /** Without a deadline from the pipeline: total time one batch may spend in retries (and waiting for a discovered address), ms (default 60 000). */
  maxRetryTimeMs?: number;
  /** Discovery's list/watch backoff while the API is unreachable, ms (default 500..30 000). */
  discoveryMinBackoffMs?: number;
  discoveryMaxBackoffMs?: number;
}

const USER_AGENT = 'kubesonar-loki-sink';

/** Loki answers 429 while a tenant is over its limits and 5xx while ingesters are unavailable: worth another attempt. */
export const LOKI_RETRYABLE = (status: number) => status === 429 || (status >= 500 && status < 600);

function pushUrl(url: string): URL {
  const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = PUSH_PATH;
  return u;
}

/** Loki's build information, beside the push path (a gateway's prefix kept). */
function buildinfoPath(pushUrl: string): string {
  const path = new URL(pushUrl).pathname;
  return path.endsWith(PUSH_PATH) ? `${path.slice(0, -PUSH_PATH.length)}/loki/api/v1/status/buildinfo` : '/loki/api/v1/status/buildinfo';
}

export class LokiSink implements EventSink {
  /** What the Loki in use keeps, once asked. */
  private fields?: { url: string; storage: FieldStorage; version: string; why: string };
  readonly name = 'loki';
  private readonly encoding: LokiEncoding;
  private readonly staticLabels: Record<string, string>;
  private readonly staticUrl?: URL;
  private readonly discovery?: LokiDiscovery;
  private readonly transport: HttpTransport;

  constructor(
    private readonly config: LokiSinkConfig,
    private readonly deps: LokiSinkDeps,
  ) {
    this.encoding = config.encoding ?? 'protobuf';
    if (this.encoding !== 'protobuf' && this.encoding !== 'json') throw new Error(`loki encoding: "${String(this.encoding)}" is not protobuf or json`);
    this.staticLabels = { ...(config.static_labels ?? {}) };
    validateStaticLabels(this.staticLabels);
    if (config.url) {
      this.staticUrl = pushUrl(config.url);
    } else {
      const kube = deps.kube ?? (() => KubeClient.inCluster());
      this.discovery = new LokiDiscovery({
        client: kube, serviceName: config.service_name, namespace: config.discovery_namespace, logger: deps.logger,
        minBackoffMs: deps.discoveryMinBackoffMs, maxBackoffMs: deps.discoveryMaxBackoffMs,
      }).start();
    }
    const log = deps.logger;
    const discovery = this.discovery;
    this.transport = new HttpTransport({
      // Without a URL: the discovered Service's, waiting for one until the batch's deadline.
      target: this.staticUrl ?? (async (deadline, signal) => {
        const d = await discovery!.address(deadline - Date.now(), signal);
        return d ? pushUrl(d.url) : undefined;
      }),
      tls: { caFile: config.ca_file || undefined, insecureSkipVerify: config.insecure_skip_verify },
      auth: {
        tenant: config.tenant || undefined,
        bearerTokenFile: config.bearer_token_file || undefined,
        basic: config.username ? { username: config.username, passwordFile: config.password_file || undefined } : undefined,
      },
      timeoutMs: deps.requestTimeoutMs ?? 10_000,
      lookup: deps.lookup,
      refreshAddressMs: deps.dnsRefreshMs ?? 10_000,
      retry: { retryable: LOKI_RETRYABLE, minBackoffMs: config.min_backoff_ms ?? 250, maxBackoffMs: config.max_backoff_ms ?? 10_000 },
      onAddress: (e) => log?.info('loki: pushing to', { url: e.url, address: e.address }),
      onRetry: (e) => log?.debug('loki: push failed, retrying', { url: e.url, error: e.error, retry_in_ms: e.waitMs }),
      onReachability: deps.onReachability ?? (log && logReachability(log, 'loki')),
    });
  }

  /** The push URL in use right now (undefined while discovery has found nothing). */
  get url(): string | undefined {
    if (this.staticUrl) return this.staticUrl.href;
    const d = this.discovery?.current;
    return d ? pushUrl(d.url).href : undefined;
  }

  async send(batch: readonly EventRecord[], options?: SendOptions): Promise<SendResult> {
    const result: SendResult = { delivered: 0 };
    if (batch.length === 0) return result;
    const deadline = options?.deadline ?? Date.now() + (this.deps.maxRetryTimeMs ?? 60_000);
    const max = Math.max(1, this.config.batch_max_events ?? 1000);
    for (let i = 0; i < batch.length; i += max) {
      const part = batch.length <= max ? batch : batch.slice(i, i + max); // one part: no copy
      const r = await this.push(part, deadline);
      if (r.ok) result.delivered += part.length;
      else (result.dropped ??= {})[r.reason] = (result.dropped?.[r.reason] ?? 0) + part.length;
    }
    return result;
  }

  async close(): Promise<void> {
    await this.transport.close();
    await this.discovery?.stop();
  }

  /** For /status: where the events' fields go and why. */
  status(): Record<string, unknown> {
    return { url: this.url ?? null, fields: this.fields ?? null };
  }

  /**
   * Where the fields go for the Loki the sink pushes to: structured metadata only when it is
   * Loki 3.0 or later (2.x accepts the field with 204 and drops it; from 3.0 it is on by
   * default). Asked once per URL (GET buildinfo); a version it cannot tell means the line.
   */
  private async storage(): Promise<FieldStorage> {
    if (this.encoding === 'json') return 'line';
    const url = this.url;
    if (!url) return 'line'; // no address yet: the safe choice, and ask again next time
    if (this.fields?.url === url) return this.fields.storage;
    const res = await this.transport.get(buildinfoPath(url), new URL(url));
    if (!res) return 'line'; // no answer: Loki is down and this push waits anyway; ask again next time
    let version = '';
    try {
      // One line in /status and the log whatever the answer holds ("\n" is no version).
      version = oneLine(String(JSON.parse(Buffer.from(res.body).toString()).version ?? ''));
    } catch {
      // not JSON: an unknown version
    }
    const major = Number(/^v?(\d+)\./.exec(version)?.[1] ?? NaN);
    const storage: FieldStorage = major >= 3 ? 'metadata' : 'line';
    const why = res.status !== 200 ? `GET buildinfo answered ${res.status}: version unknown, so in the line`
      : !version ? 'Loki did not say its version (a build without release flags): in the line'
      : storage === 'metadata' ? `Loki ${version} keeps structured metadata` : `Loki ${version} drops structured metadata (before 3.0): in the line`;
    this.fields = { url, storage, version, why };
    this.deps.logger?.info('loki: where event fields go', { url, fields: storage, version, why });
    return storage;
  }

  private async push(records: readonly EventRecord[], deadline: number): Promise<{ ok: true } | { ok: false; reason: string }> {
    let res: PostResult;
    try {
      const { body, headers } = await pushBody(records, this.deps.node, this.staticLabels, await this.storage(), this.encoding);
      res = await this.transport.post(body, { ...headers, 'user-agent': USER_AGENT }, { deadline });
    } catch (err) {
      res = { ok: false, attempts: 0, reason: 'internal_error', error: (err as Error).message };
    }
    if (res.ok) return { ok: true };
    const reason = res.reason ?? 'internal_error';
    const log = this.deps.logger;
    const events = records.length;
    if (reason === 'retries_exhausted') log?.warn('loki: retries exhausted, batch dropped', { url: res.url, last_error: res.error, attempts: res.attempts, events });
    else if (reason === 'no_address') log?.warn('loki: no address found in time, batch dropped', { events });
    else if (reason === 'internal_error') log?.error('loki: batch dropped on an internal error', { error: res.error, events });
    else if (reason !== 'shutdown') log?.warn('loki: push rejected, batch dropped', { url: res.url, reason, error: res.error, events });
    return { ok: false, reason };
  }
}
