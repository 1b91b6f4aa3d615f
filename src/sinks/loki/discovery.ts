// Auto-discovery of Loki: a Service named `grafana-loki` (configurable), in the configured
// namespace first, else in any namespace, followed live through a watch.
//
// The address used is the Service's clusterIP, not `<name>.<namespace>.svc`: the agent runs
// with hostNetwork, so it has the node's resolv.conf, which usually cannot resolve cluster
// names (unless dnsPolicy is ClusterFirstWithHostNet), while a clusterIP is reachable from
// the host network namespace through kube-proxy. The watch delivers a new clusterIP or port
// the moment the Service changes, so nothing is pinned. Headless Services (clusterIP None)
// have no clusterIP: then the DNS name is used, re-resolved like any configured URL.
import type { Logger } from '../../log.js';
import { Informer, type KubeClient, type KubeObject } from '../../k8s/index.js';

export const DEFAULT_SERVICE_NAME = 'grafana-loki';
export const LOKI_PORT = 3100;
const PORT_NAMES = ['http', 'http-metrics'];

interface ServiceSpec {
  clusterIP?: string;
  ports?: Array<{ name?: string; port: number; protocol?: string }>;
}

export interface DiscoveredLoki {
  /** Base URL, e.g. `http://10.96.12.7:3100`. */
  url: string;
  namespace: string;
  name: string;
  port: number;
}

/** The Service to push to among `services` (all named alike), or why there is none. */
export function pickLokiService(services: readonly KubeObject[], preferredNamespace?: string): DiscoveredLoki | string {
  if (services.length === 0) return 'no such Service';
  const sorted = [...services].sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? ''));
  const svc = sorted.find((s) => s.metadata.namespace === preferredNamespace) ?? sorted[0];
  const spec = (svc.spec ?? {}) as ServiceSpec;
  const ports = (spec.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
  const port = ports.find((p) => p.port === LOKI_PORT) ?? ports.find((p) => PORT_NAMES.includes(p.name ?? ''));
  const where = `${svc.metadata.namespace}/${svc.metadata.name}`;
  if (!port) return `Service ${where} has neither port ${LOKI_PORT} nor a port named ${PORT_NAMES.join(' or ')}`;
  const ip = spec.clusterIP && spec.clusterIP !== 'None' ? spec.clusterIP : undefined;
  const host = ip ? (ip.includes(':') ? `[${ip}]` : ip) : `${svc.metadata.name}.${svc.metadata.namespace}.svc`;
  return { url: `http://${host}:${port.port}`, namespace: svc.metadata.namespace ?? '', name: svc.metadata.name, port: port.port };
}

export interface LokiDiscoveryOptions {
  /** The API client, or a factory (e.g. `KubeClient.inCluster`) called once at start. */
  client: KubeClient | (() => Promise<KubeClient>);
  serviceName?: string;
  /** Looked in first; other namespaces are used only when it has no such Service. */
  namespace?: string;
  logger?: Logger;
  /** Backoff of list/watch retries while the API is unreachable, ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class LokiDiscovery {
  readonly serviceName: string;
  private informer?: Informer;
  /** A client this discovery created (from the factory) is closed with it. */
  private ownClient?: KubeClient;
  private found?: DiscoveredLoki;
  private waiters = new Set<() => void>();
  private started?: Promise<void>;
  private stopped = false;
  private lastReason = '';

  constructor(private readonly opts: LokiDiscoveryOptions) {
    this.serviceName = opts.serviceName || DEFAULT_SERVICE_NAME;
  }

  /** The Service in use, if any. */
  get current(): DiscoveredLoki | undefined {
    return this.found;
  }

  start(): this {
    this.started ??= this.run();
    return this;
  }

  /** The current address, waiting for one up to `timeoutMs` (undefined if none by then). */
  async address(timeoutMs: number, signal?: AbortSignal): Promise<DiscoveredLoki | undefined> {
    if (this.found || timeoutMs <= 0 || signal?.aborted) return this.found;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done);
      this.waiters.add(done);
    });
    return this.found;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.started;
    await this.informer?.stop();
    await this.ownClient?.close();
    for (const w of [...this.waiters]) w();
  }

  private async run(): Promise<void> {
    const log = this.opts.logger;
    let client: KubeClient;
    try {
      if (typeof this.opts.client === 'function') client = this.ownClient = await this.opts.client();
      else client = this.opts.client;
    } catch (err) {
      log?.error('loki discovery: no Kubernetes API client; set event_config.sinks.loki.url', { error: (err as Error).message });
      return;
    }
    if (this.stopped) return;
    // One cluster-wide watch on the name: it sees the Service appear in any namespace.
    this.informer = new Informer(client, '/api/v1/services', {
      fieldSelector: `metadata.name=${this.serviceName}`,
      minBackoffMs: this.opts.minBackoffMs,
      maxBackoffMs: this.opts.maxBackoffMs,
      onChange: (services) => this.update(services),
      onError: (err, retryInMs) => log?.warn('loki discovery: Kubernetes API call failed, retrying', { error: err.message, retry_in_ms: retryInMs }),
    }).start();
  }

  private update(services: readonly KubeObject[]): void {
    const log = this.opts.logger;
    const picked = pickLokiService(services, this.opts.namespace);
    const next = typeof picked === 'string' ? undefined : picked;
    if (next?.url !== this.found?.url || (!next && typeof picked === 'string' && picked !== this.lastReason)) {
      if (next) {
        log?.info('loki: pushing to discovered Service', { url: next.url, service: `${next.namespace}/${next.name}`, port: next.port, candidates: services.length });
      } else {
        log?.warn('loki: no address; events wait in the bounded queue', { service_name: this.serviceName, namespace: this.opts.namespace ?? '(any)', reason: picked });
      }
    }
    this.lastReason = typeof picked === 'string' ? picked : '';
    this.found = next;
    if (next) for (const w of [...this.waiters]) w();
  }
}
