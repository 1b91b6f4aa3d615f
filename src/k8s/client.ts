// A small Kubernetes API client: list and watch of any resource path, with in-cluster
// configuration. Only what the agent needs (read-only, JSON), so that it stays on undici and
// does not pull @kubernetes/client-node and its dependency tree into a node agent.
import { readFile, stat } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { Agent, errors as undiciErrors } from '../transport/undici.js';
import { oneLine } from '../util/one-line.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeClientOptions {
  /** Base URL of the API server, e.g. `https://10.96.0.1:443` (http:// is accepted for tests). */
  server: string;
  /** A fixed bearer token; or `tokenFile`, re-read when it changes (projected tokens rotate). */
  token?: string;
  tokenFile?: string;
  /** PEM CA bundle that signs the API server certificate (contents, not a path). */
  ca?: string | Buffer;
  insecureSkipVerify?: boolean;
  /** The pod's own namespace (from the service account), when known. */
  namespace?: string;
  /** Connect timeout and time to wait for response headers of a list/get, ms (default 10 000). */
  timeoutMs?: number;
  /** Bytes of one response body (a list page, an object, a review) or of one watch line at most (default 64 MiB). */
  maxResponseBytes?: number;
  /** Whole time of a get, a create or one list page, body included, ms (default 60 000); watches are bounded by their own timeout. */
  requestTimeoutMs?: number;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  /** The object; for ERROR a `Status` (code 410 = the resourceVersion is too old: relist). */
  object: T;
}

export interface ListOptions {
  fieldSelector?: string;
  labelSelector?: string;
  /** Page size; pages are followed with `continue` until the list is complete. */
  limit?: number;
  signal?: AbortSignal;
}

export interface WatchOptions extends ListOptions {
  /** Server-side duration of the watch, s (default 300); the caller re-watches from the last version. */
  timeoutSeconds?: number;
}

/** A failed API call. `status` is the HTTP status (0: the API server could not be reached). */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
  /** The resourceVersion asked for is no longer in the server's history: list again. */
  get gone(): boolean {
    return this.status === 410;
  }
}

const TOKEN_RECHECK_MS = 10_000;
const MAX_RESPONSE_BYTES = 64 << 20;

/** Up to `max` bytes of a body; beyond them the body is abandoned (the connection is not reused). */
async function readBounded(body: Dispatcher.ResponseData['body'], max: number): Promise<{ data: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > max) {
      chunks.push(chunk.subarray(0, max - size));
      body.destroy();
      return { data: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { data: Buffer.concat(chunks), truncated: false };
}

/** A JSON body of at most `max` bytes; a longer one is abandoned with a one-line error. */
async function readJson(body: Dispatcher.ResponseData['body'], max: number, what: string): Promise<unknown> {
  const { data, truncated } = await readBounded(body, max);
  if (truncated) throw new KubeApiError(`${what}: response larger than ${max} bytes`, 0, 'TooLarge');
  try {
    return JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new KubeApiError(`${what}: not JSON: ${oneLine((err as Error).message)}`, 0, 'BadResponse');
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const WATCH_EVENT_TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

/** Why a page is not a list the callers can use (they read kind, metadata and each item's metadata), or undefined. */
function notAList(page: unknown): string | undefined {
  if (!isObject(page)) return 'not an object';
  if (typeof page.kind !== 'string') return 'no kind';
  if (!isObject(page.metadata)) return 'no metadata';
  if (!Array.isArray(page.items)) return 'no items';
  const i = page.items.findIndex((item) => !isObject(item) || !isObject(item.metadata));
  return i < 0 ? undefined : `item ${i} is not an object with metadata`;
}

/** A watch line the informer can apply: a known type, and an object with metadata (a Status for ERROR). */
function isWatchEvent(ev: unknown): ev is WatchEvent {
  if (!isObject(ev) || typeof ev.type !== 'string' || !WATCH_EVENT_TYPES.has(ev.type) || !isObject(ev.object)) return false;
  return ev.type === 'ERROR' || isObject(ev.object.metadata);
}

export class KubeClient {
  readonly server: string;
  readonly namespace?: string;
  private readonly dispatcher: Agent;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly requestTimeoutMs: number;
  private token?: string;
  private tokenCheckedAt = 0;
  private tokenMtime = 0;

  constructor(private readonly opts: KubeClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.namespace = opts.namespace;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.token = opts.token;
    this.dispatcher = new Agent({
      connect: { ca: opts.ca, rejectUnauthorized: !opts.insecureSkipVerify, timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /**
   * The configuration of a pod: KUBERNETES_SERVICE_HOST/PORT and the mounted service
   * account (token, ca.crt, namespace). Throws a one-line error outside a cluster.
   */
  static async inCluster(opts: { dir?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<KubeClient> {
    const env = opts.env ?? process.env;
    const dir = opts.dir ?? SERVICE_ACCOUNT_DIR;
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) throw new Error('not in a Kubernetes pod: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set');
    const read = (f: string) => readFile(`${dir}/${f}`, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`service account ${dir}/${f}: ${err.code ?? err.message}`);
    });
    // One after the other, so a missing mount always names the same first file.
    const ca = await read('ca.crt');
    const namespace = await read('namespace');
    await read('token'); // fail now, with the path, rather than on the first request
    const h = host.includes(':') ? `[${host}]` : host; // IPv6 service host
    return new KubeClient({ server: `https://${h}:${port}`, tokenFile: `${dir}/token`, ca, namespace: namespace.trim(), timeoutMs: opts.timeoutMs });
  }

  /** GET of one object or any JSON path. */
  async get<T = KubeObject>(path: string): Promise<T> {
    return this.bounded('GET', path, undefined, async (signal) => {
      const res = await this.request(path, {}, this.timeoutMs, signal);
      return (await readJson(res.body, this.maxBytes, `GET ${path}`)) as T;
    });
  }

  /** POST of `body` as JSON (a create); resolves with the object the server answers (reviews are answered, not stored). */
  async create<T = KubeObject>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.bounded('POST', path, signal, async (s) => {
      const res = await this.request(path, {}, this.timeoutMs, s, false, JSON.stringify(body));
      return (await readJson(res.body, this.maxBytes, `POST ${path}`)) as T;
    });
  }

  /** Runs one exchange under requestTimeoutMs (and the caller's signal); running out is a Timeout error. */
  private async bounded<T>(method: string, path: string, signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const limit = AbortSignal.timeout(this.requestTimeoutMs);
    try {
      return await run(signal ? AbortSignal.any([signal, limit]) : limit);
    } catch (err) {
      if (limit.aborted && !signal?.aborted) throw new KubeApiError(`Kubernetes API ${this.server}: ${method} ${path}: no complete answer within ${this.requestTimeoutMs} ms`, 0, 'Timeout');
      throw err;
    }
  }

  /** Every object at `path` (e.g. `/api/v1/services`, `/api/v1/namespaces/ns/pods`), all pages. */
  async list<T extends KubeObject = KubeObject>(path: string, opts: ListOptions = {}): Promise<KubeList<T>> {
    const query: Record<string, string> = {};
    if (opts.fieldSelector) query.fieldSelector = opts.fieldSelector;
    if (opts.labelSelector) query.labelSelector = opts.labelSelector;
    if (opts.limit) query.limit = String(opts.limit);
    let result: KubeList<T> | undefined;
    for (;;) {
      const { page, status } = await this.bounded('GET', path, opts.signal, async (signal) => {
        const res = await this.request(path, query, this.timeoutMs, signal);
        return { page: (await readJson(res.body, this.maxBytes, `GET ${path}`)) as KubeList<T>, status: res.statusCode };
      });
      const bad = notAList(page);
      if (bad) throw new KubeApiError(`GET ${path}: not a list: ${bad}`, status, 'BadResponse');
      if (result) result.items.push(...page.items);
      result ??= page;
      result.metadata = page.metadata;
      if (!page.metadata.continue) break;
      query.continue = page.metadata.continue;
    }
    // Items of a list carry no kind/apiVersion on the wire; fill them for consumers.
    const kind = result.kind.replace(/List$/, '');
    for (const item of result.items) {
      item.kind ??= kind;
      item.apiVersion ??= result.apiVersion;
    }
    delete result.metadata.continue;
    return result;
  }

  /**
   * Watch events after `resourceVersion` (from a list), as they come. Ends when the server
   * closes the watch (timeoutSeconds) or `signal` aborts; throws a KubeApiError with status
   * 410 when the version is too old (relist), whether the server says so in the response
   * or in an ERROR event. Bookmarks are asked for, so the last version seen stays recent.
   */
  async *watch<T extends KubeObject = KubeObject>(path: string, resourceVersion: string, opts: WatchOptions = {}): AsyncGenerator<WatchEvent<T>> {
    const timeoutSeconds = opts.timeoutSeconds ?? 300;
    const query: Record<string, string> = { watch: 'true', allowWatchBookmarks: 'true', resourceVersion, timeoutSeconds: String(timeoutSeconds) };
    if (opts.fieldSelector) query.fieldSelector = opts.fieldSelector;
    if (opts.labelSelector) query.labelSelector = opts.labelSelector;
    // Silence longer than the server-side timeout means a dead connection.
    const res = await this.request(path, query, (timeoutSeconds + 30) * 1000, opts.signal);
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
        if (buf.length > this.maxBytes && buf.indexOf('\n') < 0) throw new KubeApiError(`watch ${path}: an event longer than ${this.maxBytes} bytes`, 0, 'TooLarge');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line) as WatchEvent<T>;
          if (!isWatchEvent(ev)) throw new KubeApiError(`watch ${path}: not a watch event: ${JSON.stringify(line.slice(0, 100))}`, 0, 'BadResponse');
          if (ev.type === 'ERROR') {
            const s = ev.object as unknown as { code?: unknown; reason?: unknown; message?: unknown };
            const message = typeof s.message === 'string' ? oneLine(s.message) : 'error';
            throw new KubeApiError(`watch ${path}: ${message}`, typeof s.code === 'number' ? s.code : 500, typeof s.reason === 'string' ? s.reason : undefined);
          }
          yield ev;
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw err instanceof KubeApiError || err instanceof SyntaxError ? err : this.wrap(path, err);
    } finally {
      if (!res.body.destroyed) res.body.destroy();
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async bearer(force = false): Promise<string | undefined> {
    const file = this.opts.tokenFile;
    if (!file) return this.token;
    const now = Date.now();
    // Kubelet rewrites projected tokens well before expiry; a stat every few seconds catches it.
    if (force || !this.token || now - this.tokenCheckedAt > TOKEN_RECHECK_MS) {
      this.tokenCheckedAt = now;
      const st = await stat(file);
      if (force || !this.token || st.mtimeMs !== this.tokenMtime) {
        this.token = (await readFile(file, 'utf8')).trim();
        this.tokenMtime = st.mtimeMs;
      }
    }
    return this.token;
  }

  private async request(path: string, query: Record<string, string>, timeoutMs: number, signal?: AbortSignal, retried = false, body?: string): Promise<Dispatcher.ResponseData> {
    const qs = new URLSearchParams(query).toString();
    const token = await this.bearer(retried);
    const method = body === undefined ? 'GET' : 'POST';
    let res: Dispatcher.ResponseData;
    try {
      res = await this.dispatcher.request({
        origin: this.server,
        path: qs ? `${path}?${qs}` : path,
        method,
        headers: {
          accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
    } catch (err) {
      throw this.wrap(path, err, method);
    }
    // A create answers 201 (reviews may answer 200).
    if (res.statusCode === 200 || (method === 'POST' && res.statusCode === 201)) return res;
    const text = (await readBounded(res.body, 64 << 10).catch(() => ({ data: Buffer.alloc(0) }))).data.toString('utf8');
    // A 401 right after rotation: the cached token is stale; re-read it once.
    if (res.statusCode === 401 && this.opts.tokenFile && !retried) return this.request(path, query, timeoutMs, signal, true, body);
    let message = oneLine(text.slice(0, 200));
    let reason: string | undefined;
    try {
      const s = JSON.parse(text) as { message?: unknown; reason?: unknown };
      if (typeof s.message === 'string') message = oneLine(s.message);
      if (typeof s.reason === 'string') reason = oneLine(s.reason);
    } catch { /* not a Status */ }
    throw new KubeApiError(`${method} ${path}: HTTP ${res.statusCode}${reason ? ` ${reason}` : ''}: ${message}`, res.statusCode, reason);
  }

  private wrap(path: string, err: unknown, method = 'GET'): KubeApiError {
    if (err instanceof KubeApiError) return err;
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    const code = e.code ?? e.cause?.code;
    const timeout = err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError;
    const why = timeout ? `timed out (${e.message})` : `${code ?? ''} ${e.message}`.trim();
    return new KubeApiError(`Kubernetes API ${this.server} unreachable: ${method} ${path}: ${why}`, 0, timeout ? 'Timeout' : code);
  }
}
