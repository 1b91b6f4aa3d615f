// The agent's HTTP endpoint: /metrics (Prometheus text through the OTel pull reader) and
// /status (JSON). Debug routes exist only while debug mode is on; nothing else is served.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { PullMetricReader } from './telemetry.js';
import { toPrometheusText, type NamingProfile } from './prometheus.js';
import { listen } from './listen.js';

export interface EndpointSource {
  reader: PullMetricReader;
  naming(): NamingProfile;
  status(): unknown;
  debugMode(): boolean;
  /** Debug routes: path → JSON body. */
  debugRoutes(): Record<string, () => unknown>;
}

export class MetricsServer {
  private server?: Server;
  private port?: number;

  constructor(private readonly source: EndpointSource, private readonly log: Logger) {}

  get address(): AddressInfo | undefined {
    return this.server?.address() as AddressInfo | undefined;
  }

  /** Listens on `port` (0 = any), moving from the previous port if it changed. Callers serialize calls. */
  async listen(port: number): Promise<void> {
    if (this.server && this.port === port) return;
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e) => this.log.error('request failed', { error: (e as Error).message }));
    });
    await listen(server, port, 'metrics endpoint');
    server.on('error', (e) => this.log.error('metrics endpoint error', { error: e.message })); // e.g. EMFILE on accept
    await this.close(); // only once the new port is held: a failed move keeps the old one serving
    this.server = server;
    this.port = port;
    this.log.info('metrics endpoint listening', { port: this.address?.port, paths: ['/metrics', '/status'] });
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections(); });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Only the path matters; no URL parsing, which throws on requests like `GET //x:y`.
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    try {
      if (path === '/metrics') {
        const { resourceMetrics, errors } = await this.source.reader.collect();
        for (const e of errors) this.log.warn('metric collection error', { error: String(e) });
        return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', toPrometheusText(resourceMetrics, this.source.naming()));
      }
      if (path === '/status') return send(res, 200, 'application/json', JSON.stringify(this.source.status(), null, 2) + '\n');
      if (path === '/') return send(res, 200, 'text/plain', 'kubesonar agent: /metrics /status\n');
      const debug = this.source.debugMode() ? this.source.debugRoutes()[path] : undefined;
      if (debug) return send(res, 200, 'application/json', JSON.stringify(debug(), null, 2) + '\n');
      return send(res, 404, 'text/plain', 'not found\n');
    } catch (e) {
      this.log.error('request failed', { path, error: (e as Error).message });
      return send(res, 500, 'text/plain', `internal error: ${(e as Error).message}\n`);
    }
  }
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
