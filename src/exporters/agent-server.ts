// One of the agent's HTTP servers (the metrics server, the event stream) as the `server` config
// section shapes it: plain HTTP or TLS with a certificate re-read when it changes, who may read
// each endpoint (EndpointAccess), and limits that bound what a client can hold: header and
// request timeouts (a slowloris client is cut off with 408), a TLS handshake timeout, an idle
// timeout for connections silent both ways (keep-alive, a stream reader that stopped reading),
// header and body sizes, and open connections.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { EndpointAccess, type AccessDeps } from './access.js';
import { listen } from './listen.js';
import { tlsEnabled, type Endpoint, type ServerConfig } from './server-config.js';
import type { SelfMetric } from './telemetry.js';
import { ReloadingCertificate } from './tls.js';

export interface ServeSettings {
  port: number;
  /** Bind address; undefined: every address (dual stack where the node has IPv6). */
  host?: string;
  server: ServerConfig;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** How often Node checks header and request timeouts: a tenth of the header timeout, 100 ms..1 s. */
const checkInterval = (headerTimeoutMs: number) => Math.max(100, Math.min(1000, Math.floor(headerTimeoutMs / 10)));

/** Settings that shape the server object itself: a change means a new server (and a rebind). */
const shapeOf = (s: ServeSettings) => ({ port: s.port, host: s.host, tls: tlsEnabled(s.server), limits: s.server.limits });
/** Settings of the access rules. */
const accessOf = (c: ServerConfig) => ({ auth: c.auth, bearer: c.bearer_token_file, kubernetes: c.kubernetes });

export class AgentHttpServer {
  private server?: Server;
  private settings?: ServeSettings;
  private access?: EndpointAccess;
  private cert?: ReloadingCertificate;
  /** Requests per endpoint and result (`allowed` or a refusal's reason); kept across config changes. */
  private readonly requests = new Map<Endpoint, Record<string, number>>();

  constructor(
    /** For messages: `metrics endpoint`, `event stream`. */
    private readonly what: string,
    private readonly endpoints: readonly Endpoint[],
    private readonly handler: RequestHandler,
    private readonly deps: AccessDeps,
  ) {}

  get address(): AddressInfo | undefined {
    return this.server?.address() as AddressInfo | undefined;
  }

  get tls(): boolean {
    return this.cert !== undefined;
  }

  /**
   * Brings the server in line with `s`. Everything new is prepared first (access rules, the
   * certificate, the socket on a new port), so a failure leaves the running server as it was.
   * Only a change of TLS or limits on the same port closes the old server before binding again.
   */
  async apply(s: ServeSettings): Promise<void> {
    const prev = this.settings;
    const newAccess = !prev || !this.access || !isDeepStrictEqual(accessOf(prev.server), accessOf(s.server));
    const access = newAccess ? await EndpointAccess.create(s.server, this.endpoints, this.deps) : this.access!;
    const prevCert = this.cert;
    let cert = prevCert;
    try {
      const t = s.server.tls;
      if (!tlsEnabled(s.server)) cert = undefined;
      else if (!prev || prev.server.tls.cert_file !== t.cert_file || prev.server.tls.key_file !== t.key_file || !cert) {
        cert = new ReloadingCertificate(t.cert_file, t.key_file, this.deps.log);
      }
      // Before any new socket exists: the connection hook checks the files of this.cert.
      this.cert = cert;
      if (!this.server || !prev || !isDeepStrictEqual(shapeOf(prev), shapeOf(s))) {
        await this.rebind(s, cert);
      } else if (cert !== prevCert && cert) {
        (this.server as HttpsServer).setSecureContext(cert.options);
      }
    } catch (err) {
      this.cert = prevCert;
      if (newAccess) await access.close();
      throw err;
    }
    if (newAccess && this.access) await this.access.close();
    this.access = access;
    this.settings = s;
  }

  /**
   * Whether the request may reach `endpoint` (the SubjectAccessReview checks `path`). When
   * not, the refusal is answered here.
   */
  async admit(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, path: string): Promise<boolean> {
    const access = this.access;
    if (!access) return false;
    const refusal = await access.check(req, endpoint, path);
    const counts = this.requests.get(endpoint) ?? {};
    this.requests.set(endpoint, counts);
    const result = refusal?.reason ?? 'allowed';
    counts[result] = (counts[result] ?? 0) + 1;
    if (!refusal) return true;
    if (!res.headersSent) {
      const body = `${refusal.message}\n`;
      res.writeHead(refusal.status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...EndpointAccess.headers(refusal) });
      res.end(body);
    }
    return false;
  }

  status(): Record<string, unknown> {
    return {
      port: this.address?.port ?? null,
      tls: this.cert?.status() ?? null,
      auth: this.access?.status() ?? null,
      requests: Object.fromEntries(this.requests),
    };
  }

  /** netexporter_agent_endpoint_requests_total points of this server's endpoints. */
  requestPoints(): SelfMetric['points'] {
    return [...this.requests].flatMap(([endpoint, counts]) => Object.entries(counts).map(([result, value]) => ({ attributes: { endpoint, result }, value })));
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.settings = undefined;
    await this.access?.close();
    this.access = undefined;
    this.cert = undefined;
    if (s) await closeServer(s);
  }

  private async rebind(s: ServeSettings, cert: ReloadingCertificate | undefined): Promise<void> {
    const next = this.create(s.server, cert);
    const old = this.server;
    // The same port cannot be held twice: let go first (a TLS or limits change), bind, and say so if that fails.
    const samePort = old !== undefined && this.address?.port === s.port;
    if (samePort) {
      this.server = undefined;
      await closeServer(old);
    }
    try {
      await listen(next, s.port, this.what, s.host);
    } catch (err) {
      if (samePort) this.deps.log.error(`${this.what} closed: it could not listen again with the new settings`, { error: (err as Error).message });
      throw err;
    }
    next.on('error', (e) => this.deps.log.error(`${this.what} error`, { error: e.message })); // e.g. EMFILE on accept
    this.server = next;
    if (old && !samePort) await closeServer(old);
  }

  private create(c: ServerConfig, cert: ReloadingCertificate | undefined): Server {
    const l = c.limits;
    const options = {
      maxHeaderSize: l.max_header_bytes,
      headersTimeout: l.header_timeout_ms,
      requestTimeout: l.request_timeout_ms,
      connectionsCheckingInterval: checkInterval(l.header_timeout_ms),
    };
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      if (!this.bodyAcceptable(req, res, l.max_body_bytes)) return;
      Promise.resolve(this.handler(req, res)).catch((e) => this.deps.log.error(`${this.what}: request failed`, { error: (e as Error).message }));
    };
    const server: Server = cert
      ? createHttpsServer({ ...options, ...cert.options, handshakeTimeout: l.header_timeout_ms }, listener) as unknown as Server
      : createServer(options, listener);
    if (cert) server.prependListener('connection', () => this.cert?.refresh(server as unknown as HttpsServer));
    // Node closes an idle keep-alive connection a second after keepAliveTimeout (its margin for races).
    server.keepAliveTimeout = Math.max(1000, l.idle_timeout_ms - 1000);
    // Without a 'timeout' listener, Node destroys a socket silent both ways for this long.
    server.setTimeout(l.idle_timeout_ms);
    server.maxConnections = l.max_connections;
    return server;
  }

  /** The endpoints take no body: a declared one over the limit is 413, an undeclared (chunked) one 411; the connection closes. */
  private bodyAcceptable(req: IncomingMessage, res: ServerResponse, max: number): boolean {
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const length = Number(req.headers['content-length'] ?? 0);
    if (!chunked && length <= max) return true;
    const body = chunked ? 'request bodies must declare their length\n' : `request body over ${max} bytes\n`;
    res.writeHead(chunked ? 411 : 413, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
    return false;
  }
}

function closeServer(s: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}
