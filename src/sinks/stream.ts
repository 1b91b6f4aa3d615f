// The live event stream (event_config.port, default 19102), for `kubesonar watch` and curl.
//
//   GET /events[?type=A,B][&namespace=N[,M]][&pod=P[,Q]][&node=X]
//
// answers 200 and keeps the response open; every matching event is one line of JSON, the
// same object the stdout sink prints (KCE `{"timestamp":<ns>,"type":...,"msg":...}` plus
// node, namespace, pod, netns and the event's attributes; the timestamp an exact integer).
// `Accept: text/event-stream` (or `?format=sse`) gets the same objects as server-sent events
// (`data: {...}`). Filters are exact and case-sensitive; several values mean any of them;
// different filters must all match. An unknown event type is a 400. A blank line (NDJSON)
// or an SSE comment every 15 s keeps idle connections alive through proxies.
//
// Each client has its own bounded buffer: a client that reads slower than events come loses
// events beyond the buffer (never blocking the agent or other clients); it is then told how
// many with a line `{"dropped":<n>}` (SSE: `event: dropped`), and they are counted in the
// sink's `slow_client` drops. More than max_clients clients get 503.
//
// Who may connect is the `server` section's auth.events (by default loopback clients only, or
// a Kubernetes identity allowed to get /events when the agent runs in a pod; outside a pod in
// loopback mode the server also binds 127.0.0.1 only); TLS and limits come from there too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EVENTS } from '../catalogue/index.js';
import type { EventRecord, EventSink, SendResult } from '../events/model.js';
import { toJsonLine } from '../events/format.js';
import { attributeOf, podOf, publishedEvent } from '../events/record.js';
import { AgentHttpServer } from '../exporters/agent-server.js';
import { resolveAuthMode, SERVER_SECTION, type ServerConfig } from '../exporters/server-config.js';
import type { SelfMetric } from '../exporters/telemetry.js';
import type { KubeClient } from '../k8s/index.js';
import { createLogger, type Logger } from '../log.js';
import { int, section, type ConfigSection } from '../util/schema.js';

/** event_config.sinks.stream: the server on event_config.port. */
export interface StreamSinkConfig {
  /** Concurrent watch clients; more are refused with 503. */
  max_clients: number;
  /** Events buffered per slow client before its events are dropped (and counted). */
  client_buffer_events: number;
}

export const STREAM_SECTION: ConfigSection<StreamSinkConfig> = {
  defaults: { max_clients: 16, client_buffer_events: 1000 },
  schema: section('Live event stream (watch) on event_config.port', {
    max_clients: int(1, 1000, 16, 'Concurrent clients'),
    client_buffer_events: int(1, 1000000, 1000, 'Events buffered per slow client before dropping'),
  }),
};

export interface StreamSinkOptions {
  /** Concurrent clients (event_config.sinks.stream.max_clients). */
  maxClients?: number;
  /** Events buffered per slow client (event_config.sinks.stream.client_buffer_events). */
  clientBufferEvents?: number;
  heartbeatMs?: number;
  /** For server errors and authentication problems (default: the agent's log format on stderr). */
  log?: Logger;
  /** The API client for kubernetes auth mode (default: in-cluster). */
  kube?: () => Promise<KubeClient>;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface StreamFilter {
  types?: Set<string>;
  namespaces?: Set<string>;
  pods?: Set<string>;
  nodes?: Set<string>;
}

export interface StreamClientInfo {
  remote: string;
  filter: Record<string, string[]>;
  buffered: number;
  sent: number;
  dropped: number;
}

export const STREAM_USAGE = `kubesonar event stream
GET /events[?type=A,B][&namespace=N][&pod=P][&node=X]
  one JSON object per line (application/x-ndjson), or server-sent events with
  "Accept: text/event-stream" or ?format=sse; {"dropped":N} tells a slow client what it lost
`;

const KNOWN_TYPES = new Set<string>(EVENTS.map((e) => e.type));

export class StreamSink implements EventSink {
  readonly name = 'stream';
  private readonly http: AgentHttpServer;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly clients = new Set<StreamClient>();
  private maxClients: number;
  private bufferEvents: number;
  private heartbeat: NodeJS.Timeout;
  private heartbeatMs: number;
  private readonly maxHeartbeatMs: number;

  constructor(opts: StreamSinkOptions = {}) {
    this.maxClients = opts.maxClients ?? 16;
    this.bufferEvents = opts.clientBufferEvents ?? 1000;
    this.maxHeartbeatMs = this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.heartbeat = this.startHeartbeat();
    this.env = opts.env ?? process.env;
    this.http = new AgentHttpServer('event stream', ['events'], (req, res) => this.handle(req, res), { log: opts.log ?? createLogger(), kube: opts.kube, env: this.env });
  }

  get address(): AddressInfo | undefined {
    return this.http.address;
  }

  /**
   * Listens on `port` (0: any free port) at `host` (default: every address, or 127.0.0.1 when
   * /events is loopback-only), with the `server` section's TLS, access rules and limits. Called
   * again, it applies new settings (a TLS or limits change reconnects the clients).
   */
  async listen(port: number, host?: string, server: ServerConfig = SERVER_SECTION.defaults): Promise<void> {
    const loopbackOnly = resolveAuthMode(server.auth.events, server, this.env) === 'loopback';
    await this.http.apply({ port, host: host ?? (loopbackOnly ? '127.0.0.1' : undefined), server });
    // A reader's connection must never look idle to the server's idle timeout: ping well within it.
    const every = Math.min(this.maxHeartbeatMs, Math.floor(server.limits.idle_timeout_ms / 3));
    if (every !== this.heartbeatMs) {
      this.heartbeatMs = every;
      clearInterval(this.heartbeat);
      this.heartbeat = this.startHeartbeat();
    }
  }

  private startHeartbeat(): NodeJS.Timeout {
    const t = setInterval(() => { for (const c of this.clients) c.ping(); }, this.heartbeatMs);
    t.unref();
    return t;
  }

  /** Port, TLS certificate and access counters, for /status. */
  serverStatus(): Record<string, unknown> {
    return this.http.status();
  }

  /** Requests to /events by result, for netexporter_agent_endpoint_requests_total. */
  requestPoints(): SelfMetric['points'] {
    return this.http.requestPoints();
  }

  /** Applies new limits to new clients (and the buffer bound to existing ones) without dropping anyone. */
  configure(opts: Pick<StreamSinkOptions, 'maxClients' | 'clientBufferEvents'>): void {
    if (opts.maxClients !== undefined) this.maxClients = opts.maxClients;
    if (opts.clientBufferEvents !== undefined) {
      this.bufferEvents = opts.clientBufferEvents;
      for (const c of this.clients) c.limit = opts.clientBufferEvents;
    }
  }

  async send(batch: readonly EventRecord[]): Promise<SendResult> {
    let dropped = 0;
    if (this.clients.size > 0) {
      for (const record of batch) {
        let line: string | undefined; // serialized once, for the first client that wants it
        for (const c of this.clients) {
          if (!matches(c.filter, record)) continue;
          line ??= toJsonLine(record);
          if (!c.offer(line)) dropped++;
        }
      }
    }
    // Let the sockets drain before the pipeline hands over the next batch: without this turn of
    // the event loop a burst of batches would all land in the per-client buffers at once.
    await new Promise((resolve) => setImmediate(resolve));
    // Delivered to the stream; per-client losses are counted as slow_client (one per client and event).
    return dropped > 0 ? { delivered: batch.length, dropped: { slow_client: dropped } } : { delivered: batch.length };
  }

  clientInfo(): StreamClientInfo[] {
    return [...this.clients].map((c) => c.info());
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.end();
    this.clients.clear();
    await this.http.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://agent');
    } catch {
      return plain(res, 400, 'bad request target\n');
    }
    if (req.method !== 'GET') return plain(res, 405, 'method not allowed\n');
    if (url.pathname === '/') return plain(res, 200, STREAM_USAGE);
    if (url.pathname !== '/events') return plain(res, 404, 'not found; the stream is GET /events\n');
    if (!(await this.http.admit(req, res, 'events', '/events'))) return;
    if (res.destroyed) return; // gone while its token was reviewed
    const parsed = parseFilter(url.searchParams);
    if (typeof parsed === 'string') return plain(res, 400, `${parsed}\n`);
    if (this.clients.size >= this.maxClients) return plain(res, 503, `too many stream clients (max_clients ${this.maxClients})\n`);
    const sse = url.searchParams.get('format') === 'sse' || (req.headers.accept ?? '').includes('text/event-stream');
    res.writeHead(200, {
      'content-type': sse ? 'text/event-stream' : 'application/x-ndjson',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    res.flushHeaders(); // the client knows it is connected before the first event
    const client = new StreamClient(res, parsed, sse, this.bufferEvents, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
  }
}

class StreamClient {
  private pending: string[] = [];
  private blocked = false;
  private droppedSinceNotice = 0;
  private sentTotal = 0;
  private droppedTotal = 0;

  constructor(
    private readonly res: ServerResponse,
    readonly filter: StreamFilter,
    private readonly sse: boolean,
    public limit: number,
    private readonly remote: string,
  ) {
    res.on('drain', () => this.flush());
  }

  /** Queues or writes one event line; false when this client's buffer is full (the event is dropped). */
  offer(line: string): boolean {
    if (!this.blocked) {
      this.write(line);
      return true;
    }
    if (this.pending.length >= this.limit) {
      this.droppedSinceNotice++;
      this.droppedTotal++;
      return false;
    }
    this.pending.push(line);
    return true;
  }

  ping(): void {
    if (!this.blocked) this.res.write(this.sse ? ':\n\n' : '\n');
  }

  end(): void {
    this.res.end();
  }

  info(): StreamClientInfo {
    const f: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(this.filter)) if (v) f[k] = [...(v as Set<string>)];
    return { remote: this.remote, filter: f, buffered: this.pending.length, sent: this.sentTotal, dropped: this.droppedTotal };
  }

  private write(line: string): void {
    if (this.res.destroyed) return; // gone; 'close' removes it from the server's set
    this.sentTotal++;
    // write() returning false means the socket is backed up: buffer here, bounded, until 'drain'.
    if (!this.res.write(this.sse ? `data: ${line}\n\n` : `${line}\n`)) this.blocked = true;
  }

  private flush(): void {
    this.blocked = false;
    if (this.droppedSinceNotice > 0) {
      const notice = `{"dropped":${this.droppedSinceNotice}}`;
      this.droppedSinceNotice = 0;
      if (!this.res.write(this.sse ? `event: dropped\ndata: ${notice}\n\n` : `${notice}\n`)) this.blocked = true;
    }
    let i = 0;
    while (!this.blocked && i < this.pending.length) this.write(this.pending[i++]);
    this.pending = this.pending.slice(i);
  }
}

function parseFilter(q: URLSearchParams): StreamFilter | string {
  const list = (key: string): Set<string> | undefined => {
    const values = q.getAll(key).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
    return values.length > 0 ? new Set(values) : undefined;
  };
  const types = list('type');
  for (const t of types ?? []) {
    if (!KNOWN_TYPES.has(t)) return `unknown event type "${t}" (valid: ${[...KNOWN_TYPES].join(', ')})`;
  }
  for (const key of q.keys()) {
    if (!['type', 'namespace', 'pod', 'node', 'format'].includes(key)) return `unknown parameter "${key}" (valid: type, namespace, pod, node, format)`;
  }
  return { types, namespaces: list('namespace'), pods: list('pod'), nodes: list('node') };
}

/** Through record.ts's readers: filtering a pipeline record builds neither its event copy nor its attribute table. */
function matches(f: StreamFilter, r: EventRecord): boolean {
  if (f.types && !f.types.has(publishedEvent(r).type)) return false;
  if (f.namespaces && !f.namespaces.has(podOf(r)?.namespace ?? '')) return false;
  if (f.pods && !f.pods.has(podOf(r)?.name ?? '')) return false;
  if (f.nodes && !f.nodes.has(String(attributeOf(r, 'k8s.node.name') ?? ''))) return false;
  return true;
}

function plain(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
