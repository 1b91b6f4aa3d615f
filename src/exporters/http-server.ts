// The agent's HTTP endpoint: /metrics (Prometheus text through the OTel pull reader), /status
// (JSON) and /healthz (for kubelet probes: always open, says nothing but ok). Debug routes exist
// only while debug mode is on and are guarded like /status; nothing else is served. TLS, who
// may read what, and the limits come from the `server` section (AgentHttpServer).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeClient } from '../k8s/index.js';
import type { Logger } from '../log.js';
import type { PullMetricReader, SelfMetric } from './telemetry.js';
import { writePrometheusText, type NamingProfile } from './prometheus.js';
import { AgentHttpServer } from './agent-server.js';
import { SERVER_SECTION, type ServerConfig } from './server-config.js';

export interface EndpointSource {
  reader: PullMetricReader;
  naming(): NamingProfile;
  status(): unknown;
  debugMode(): boolean;
  /** Debug routes: path → JSON body. */
  debugRoutes(): Record<string, () => unknown>;
}

export interface MetricsServerDeps {
  log: Logger;
  /** The API client for kubernetes auth mode (default: in-cluster). */
  kube?: () => Promise<KubeClient>;
  env?: Readonly<Record<string, string | undefined>>;
}

export class MetricsServer {
  private readonly http: AgentHttpServer;
  private readonly log: Logger;

  constructor(private readonly source: EndpointSource, deps: MetricsServerDeps) {
    this.log = deps.log;
    this.http = new AgentHttpServer('metrics endpoint', ['metrics', 'status'], (req, res) => this.handle(req, res), deps);
  }

  get address(): AddressInfo | undefined {
    return this.http.address;
  }

  /**
   * Listens on `port` (0 = any) with the `server` section's TLS, access rules and limits,
   * moving from the previous port if it changed. Callers serialize calls.
   */
  async listen(port: number, server: ServerConfig = SERVER_SECTION.defaults): Promise<void> {
    const before = this.http.address?.port;
    const wasTls = this.http.tls;
    await this.http.apply({ port, server });
    if (before !== this.http.address?.port || wasTls !== this.http.tls) {
      this.log.info('metrics endpoint listening', { port: this.address?.port, tls: this.http.tls, paths: ['/metrics', '/status', '/healthz'] });
    }
  }

  /** Port, TLS certificate and access counters, for /status. */
  status(): Record<string, unknown> {
    return this.http.status();
  }

  /** Requests to /metrics and /status by result, for netexporter_agent_endpoint_requests_total. */
  requestPoints(): SelfMetric['points'] {
    return this.http.requestPoints();
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Only the path matters; no URL parsing, which throws on requests like `GET //x:y`.
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    try {
      if (path === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
      if (path === '/') return send(res, 200, 'text/plain', 'kubesonar agent: /metrics /status /healthz\n');
      const debug = path.startsWith('/debug/') && this.source.debugMode() ? this.source.debugRoutes()[path] : undefined;
      const endpoint = path === '/metrics' ? 'metrics' : path === '/status' || debug ? 'status' : undefined;
      if (!endpoint) return send(res, 404, 'text/plain', 'not found\n');
      if (!(await this.http.admit(req, res, endpoint, path))) return;
      if (path === '/metrics') {
        const { resourceMetrics, errors } = await this.source.reader.collect();
        for (const e of errors) this.log.warn('metric collection error', { error: String(e) });
        // Written as rendered (chunked), not held as one body; a failure half way cuts the
        // response, which the scraper sees as a failed scrape.
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        try {
          writePrometheusText(resourceMetrics, this.source.naming(), (chunk) => res.write(chunk));
        } catch (e) {
          this.log.error('request failed', { path, error: (e as Error).message });
          res.destroy();
          return;
        }
        res.end();
        return;
      }
      if (path === '/status') return send(res, 200, 'application/json', JSON.stringify(this.source.status(), null, 2) + '\n');
      return send(res, 200, 'application/json', JSON.stringify(debug!(), null, 2) + '\n');
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
