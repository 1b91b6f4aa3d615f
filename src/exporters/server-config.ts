// `server`: the config section of the agent's two HTTP servers (metric_config.port with /metrics
// and /status, event_config.port with /events): TLS, who may read each endpoint, and the limits
// that keep slow or hostile clients from holding sockets.
import { int, oneOf, section, str, type ConfigSection } from '../util/schema.js';

/** How an endpoint admits a request. `auto` is resolved when the server is built (resolveAuthMode). */
export type AuthMode = 'none' | 'loopback' | 'bearer' | 'kubernetes' | 'auto';
export const AUTH_MODES: readonly AuthMode[] = ['none', 'loopback', 'bearer', 'kubernetes', 'auto'];

/** The endpoints that can be protected; each is also the nonResourceURL checked in kubernetes mode. */
export type Endpoint = 'metrics' | 'status' | 'events';

export interface ServerConfig {
  auth: Record<Endpoint, AuthMode>;
  /** bearer mode: the file holding the token clients must send; re-read when it changes. */
  bearer_token_file: string;
  /** PEM certificate chain and key; both set: both ports speak only TLS. Re-read when they change on disk. */
  tls: { cert_file: string; key_file: string };
  kubernetes: {
    /** TokenReview audiences; empty: the API server's own. */
    audiences: string[];
    /** How long a granted or refused token is remembered, per token and path. */
    allow_cache_seconds: number;
    deny_cache_seconds: number;
    cache_entries: number;
    /** Reviews waiting for the API at once; beyond, requests get 503 (a flood of new tokens cannot queue without bound). */
    max_pending_reviews: number;
  };
  limits: {
    /** Time to receive a request's headers (and the TLS handshake); a slower client is cut off with 408. */
    header_timeout_ms: number;
    /** Time to receive a whole request. */
    request_timeout_ms: number;
    /** A connection with no traffic either way for this long is closed (keep-alive idle, stalled readers). */
    idle_timeout_ms: number;
    max_header_bytes: number;
    /** Declared request body size accepted (the endpoints take none); larger is 413, chunked bodies 411. */
    max_body_bytes: number;
    /** Open connections per server; more are refused at accept. */
    max_connections: number;
  };
}

const D: ServerConfig = {
  // The event stream carries connection tuples: never open by default (see resolveAuthMode).
  auth: { metrics: 'none', status: 'none', events: 'auto' },
  bearer_token_file: '',
  tls: { cert_file: '', key_file: '' },
  kubernetes: { audiences: [], allow_cache_seconds: 60, deny_cache_seconds: 10, cache_entries: 4096, max_pending_reviews: 64 },
  limits: {
    header_timeout_ms: 10_000, request_timeout_ms: 30_000, idle_timeout_ms: 60_000,
    max_header_bytes: 16_384, max_body_bytes: 4096, max_connections: 256,
  },
};

const mode = (what: string, dflt: AuthMode) => oneOf(AUTH_MODES, dflt,
  `Who may GET ${what}: none (anyone), loopback (this node only), bearer (server.bearer_token_file), kubernetes (TokenReview + SubjectAccessReview), auto (bearer with a token file, else kubernetes in a pod, else loopback)`);

export const SERVER_SECTION: ConfigSection<ServerConfig> = {
  defaults: D,
  schema: section('TLS, authentication and limits of the metrics and event stream servers', {
    auth: section('Authentication per endpoint', {
      metrics: mode('/metrics', D.auth.metrics),
      status: mode('/status (and the debug routes)', D.auth.status),
      events: mode('/events (the live stream; it shows connection tuples)', D.auth.events),
    }),
    bearer_token_file: str('bearer mode: file holding the token clients must send (re-read when it changes)'),
    tls: section('TLS on both ports when cert_file and key_file are set; the files are re-read when they change', {
      cert_file: str('PEM certificate chain'),
      key_file: str('PEM private key'),
    }),
    kubernetes: section('kubernetes mode: the bearer token is checked with a TokenReview, then a SubjectAccessReview of verb get on the request path (a nonResourceURL)', {
      audiences: { type: 'array', items: { type: 'string', minLength: 1 }, default: D.kubernetes.audiences, description: 'TokenReview audiences; empty: the API server\'s' },
      allow_cache_seconds: int(0, 3600, D.kubernetes.allow_cache_seconds, 'Seconds a granted token is remembered per path'),
      deny_cache_seconds: int(0, 3600, D.kubernetes.deny_cache_seconds, 'Seconds a refused token is remembered per path'),
      cache_entries: int(1, 1_000_000, D.kubernetes.cache_entries, 'Remembered token and path pairs at most'),
      max_pending_reviews: int(1, 10_000, D.kubernetes.max_pending_reviews, 'Reviews in flight at most; beyond, 503'),
    }),
    limits: section('Limits of both servers', {
      header_timeout_ms: int(100, 600_000, D.limits.header_timeout_ms, 'Time to receive the headers (and finish the TLS handshake)'),
      request_timeout_ms: int(100, 600_000, D.limits.request_timeout_ms, 'Time to receive a whole request'),
      idle_timeout_ms: int(2000, 3_600_000, D.limits.idle_timeout_ms, 'A connection silent both ways this long is closed'),
      max_header_bytes: int(1024, 1_048_576, D.limits.max_header_bytes, 'Request header bytes at most'),
      max_body_bytes: int(0, 1_048_576, D.limits.max_body_bytes, 'Request body bytes at most (the endpoints take none)'),
      max_connections: int(1, 100_000, D.limits.max_connections, 'Open connections per server at most'),
    }),
  }),
  validate(s, isBad) {
    const problems: string[] = [];
    const bearer = (Object.entries(s.auth) as [Endpoint, AuthMode][]).filter(([, m]) => m === 'bearer').map(([e]) => e);
    if (bearer.length > 0 && s.bearer_token_file === '' && !isBad('bearer_token_file')) {
      problems.push(`bearer_token_file: required with auth.${bearer[0]}: bearer`);
    }
    if ((s.tls.cert_file === '') !== (s.tls.key_file === '')) {
      problems.push(s.tls.cert_file === '' ? 'tls.cert_file: required with tls.key_file' : 'tls.key_file: required with tls.cert_file');
    }
    if (s.limits.header_timeout_ms > s.limits.request_timeout_ms) {
      problems.push(`limits.header_timeout_ms: ${s.limits.header_timeout_ms} is longer than limits.request_timeout_ms (${s.limits.request_timeout_ms})`);
    }
    return problems;
  },
};

export const tlsEnabled = (s: ServerConfig): boolean => s.tls.cert_file !== '' && s.tls.key_file !== '';

/**
 * `auto` made concrete: bearer when a token file is configured, kubernetes inside a pod
 * (KUBERNETES_SERVICE_HOST is set, as kubelet does for every pod), loopback otherwise. Nothing
 * it chooses lets an unauthenticated client on the network in.
 */
export function resolveAuthMode(m: AuthMode, s: ServerConfig, env: Readonly<Record<string, string | undefined>>): Exclude<AuthMode, 'auto'> {
  if (m !== 'auto') return m;
  if (s.bearer_token_file !== '') return 'bearer';
  return env.KUBERNETES_SERVICE_HOST ? 'kubernetes' : 'loopback';
}
