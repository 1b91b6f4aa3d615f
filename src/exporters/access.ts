// Who may read an endpoint of the agent: each endpoint (metrics, status, events) has its mode
// (server.auth): none, loopback (connections from this node's loopback only), bearer (the
// token in server.bearer_token_file, re-read when it changes) or kubernetes (the client's
// bearer token goes to a TokenReview, its user to a SubjectAccessReview of `get` on the
// request path, as kube-rbac-proxy does; verdicts are cached per token and path, briefly and
// boundedly). A refusal is the status and one line to send: 401 without (or with an unknown)
// token, 403 for a token that is not allowed, 503 when the API server gives no verdict.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { KubeClient, reviewAccess, reviewToken } from '../k8s/index.js';
import type { Logger } from '../log.js';
import { FileCache } from '../transport/files.js';
import { TtlCache } from '../util/ttl-cache.js';
import { resolveAuthMode, type AuthMode, type Endpoint, type ServerConfig } from './server-config.js';

export type ResolvedMode = Exclude<AuthMode, 'auto'>;

export interface Refusal {
  status: 401 | 403 | 503;
  message: string;
  /** For the /status counters: why, in one word. */
  reason: 'no_token' | 'bad_token' | 'forbidden' | 'not_loopback' | 'unavailable';
}

export interface AccessDeps {
  log: Logger;
  /** The API client for kubernetes mode (default: the pod's in-cluster configuration). */
  kube?: () => Promise<KubeClient>;
  /** Where `auto` looks for KUBERNETES_SERVICE_HOST (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

const CHALLENGE = 'Bearer realm="kubesonar"';

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (a dual-stack socket's view of 127.0.0.1). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

export class EndpointAccess {
  readonly modes: Readonly<Partial<Record<Endpoint, ResolvedMode>>>;
  private readonly files = new FileCache();
  private readonly cache: TtlCache<Refusal | 'allowed'>;
  private readonly pending = new Map<string, Promise<Refusal | undefined>>();
  private lastApiError?: string;

  private constructor(
    private readonly config: ServerConfig,
    modes: Partial<Record<Endpoint, ResolvedMode>>,
    private readonly kube: KubeClient | undefined,
    private readonly log: Logger,
  ) {
    this.modes = modes;
    this.cache = new TtlCache(config.kubernetes.cache_entries);
  }

  /**
   * The access rules of a server with `endpoints`. Throws a one-line error when a mode cannot
   * work (an unreadable or empty token file, no Kubernetes configuration), so the reconciler
   * keeps the previous server rather than starting one that refuses everyone.
   */
  static async create(config: ServerConfig, endpoints: readonly Endpoint[], deps: AccessDeps): Promise<EndpointAccess> {
    const env = deps.env ?? process.env;
    const modes = Object.fromEntries(endpoints.map((e) => [e, resolveAuthMode(config.auth[e], config, env)])) as Record<Endpoint, ResolvedMode>;
    const used = new Set(Object.values(modes));
    let kube: KubeClient | undefined;
    if (used.has('kubernetes')) {
      kube = await (deps.kube ?? (() => KubeClient.inCluster()))().catch((err: Error) => {
        const which = endpoints.filter((e) => modes[e] === 'kubernetes').map((e) => `server.auth.${e}`).join(', ');
        throw new Error(`${which}: kubernetes mode needs the API server: ${err.message}`);
      });
    }
    const access = new EndpointAccess(config, modes, kube, deps.log);
    if (used.has('bearer')) {
      const token = await access.expectedToken().catch(async (err: Error) => {
        await access.close();
        throw new Error(`server.bearer_token_file ${config.bearer_token_file}: ${err.message}`);
      });
      if (!token) {
        await access.close();
        throw new Error(`server.bearer_token_file ${config.bearer_token_file}: the file is empty`);
      }
    }
    return access;
  }

  /** Undefined when the request may proceed; otherwise what to answer. */
  check(req: IncomingMessage, endpoint: Endpoint, path: string): Promise<Refusal | undefined> {
    return this.decide(req, this.modes[endpoint] ?? 'none', path);
  }

  /** Headers that go with a refusal (401 carries the challenge). */
  static headers(r: Refusal): Record<string, string> {
    return r.status === 401 ? { 'www-authenticate': CHALLENGE } : r.status === 503 ? { 'retry-after': '5' } : {};
  }

  status(): Record<string, unknown> {
    return {
      modes: this.modes,
      ...(this.kube ? { cachedVerdicts: this.cache.size, pendingReviews: this.pending.size, apiError: this.lastApiError ?? null } : {}),
    };
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.kube?.close();
  }

  private async decide(req: IncomingMessage, mode: ResolvedMode, path: string): Promise<Refusal | undefined> {
    switch (mode) {
      case 'none':
        return undefined;
      case 'loopback':
        return isLoopback(req.socket.remoteAddress) ? undefined
          : { status: 403, reason: 'not_loopback', message: 'forbidden: this endpoint answers loopback clients only (server.auth)' };
      case 'bearer':
        return this.checkBearer(bearerToken(req));
      case 'kubernetes':
        return this.checkKubernetes(bearerToken(req), path);
    }
  }

  private async expectedToken(): Promise<string> {
    return (await this.files.read(this.config.bearer_token_file)).toString('utf8').trim();
  }

  private async checkBearer(token: string | undefined): Promise<Refusal | undefined> {
    if (!token) return noToken();
    let expected: string;
    try {
      expected = await this.expectedToken();
    } catch (err) {
      this.apiError(`server.bearer_token_file ${this.config.bearer_token_file}: ${(err as Error).message}`);
      return { status: 503, reason: 'unavailable', message: 'the agent cannot read its token file; see its log' };
    }
    // Digests compared in constant time: neither the token nor its length leaks through timing.
    if (expected && timingSafeEqual(sha256(token), sha256(expected))) return undefined;
    return { status: 403, reason: 'bad_token', message: 'forbidden: wrong bearer token' };
  }

  private async checkKubernetes(token: string | undefined, path: string): Promise<Refusal | undefined> {
    if (!token) return noToken();
    const key = `${sha256(token).toString('base64')} ${path}`;
    const cached = this.cache.get(key);
    if (cached) return cached === 'allowed' ? undefined : cached;
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    if (this.pending.size >= this.config.kubernetes.max_pending_reviews) {
      return { status: 503, reason: 'unavailable', message: 'too many token reviews in flight; retry' };
    }
    const review = this.review(token, path).finally(() => this.pending.delete(key));
    this.pending.set(key, review);
    const verdict = await review;
    const k = this.config.kubernetes;
    if (verdict === undefined) this.cache.set(key, 'allowed', k.allow_cache_seconds * 1000);
    else if (verdict.status !== 503) this.cache.set(key, verdict, k.deny_cache_seconds * 1000);
    return verdict;
  }

  private async review(token: string, path: string): Promise<Refusal | undefined> {
    try {
      const who = await reviewToken(this.kube!, token, this.config.kubernetes.audiences);
      if (!who.authenticated) return { status: 401, reason: 'bad_token', message: `token not accepted by the Kubernetes API: ${who.error}` };
      const may = await reviewAccess(this.kube!, who.user, path, 'get');
      this.apiError(undefined);
      if (may.allowed) return undefined;
      return {
        status: 403, reason: 'forbidden',
        message: `forbidden: user "${who.user.username}" may not get ${path} (a ClusterRole with nonResourceURLs: ["${path}"] grants it)${may.reason ? `: ${may.reason}` : ''}`,
      };
    } catch (err) {
      this.apiError((err as Error).message);
      return { status: 503, reason: 'unavailable', message: `cannot review the token: ${(err as Error).message}` };
    }
  }

  /** Logs an API (or token file) failure once, and its recovery. */
  private apiError(message: string | undefined): void {
    if (message === this.lastApiError) return;
    if (message) this.log.error('endpoint authentication unavailable', { error: message });
    else if (this.lastApiError) this.log.info('endpoint authentication available again');
    this.lastApiError = message;
  }
}

const noToken = (): Refusal => ({ status: 401, reason: 'no_token', message: 'authentication required: send Authorization: Bearer <token>' });
