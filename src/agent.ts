// The agent: config (with hot reload) → entity discovery → probes → snapshot → OTel →
// Prometheus endpoint and metric pushers; event probes → event pipeline → sinks.
// Everything a config change can touch is applied without a restart.
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { nativeBpf } from './bpf/addon.js';
import { OwnSockets } from './bpf/self.js';
import { METRIC_PROBES, probe, probeOptions } from './catalogue/index.js';
import { ConfigWatcher, loadConfigFile, DEFAULT_CONFIG, type AgentConfig } from './config/index.js';
import { EntityDiscovery } from './entities/discovery.js';
import { hostNetns } from './entities/procscan.js';
import { MetricsServer } from './exporters/http-server.js';
import { createTelemetry, type SelfMetric, type Telemetry } from './exporters/telemetry.js';
import type { EventPublisher } from './events/model.js';
import type { ServerConfig } from './exporters/server-config.js';
import type { KubeClient } from './k8s/index.js';
import type { Logger } from './log.js';
import type { ProbeOptions } from './model.js';
import { nativeAddon } from './native/addon.js';
import { Collector, entityName } from './pipeline/collector.js';
import { setUsedProbes } from './runtime/ebpf.js';
import { EventRuntime } from './runtime/events.js';
import { MetricPushers } from './runtime/pushers.js';
import { applyAll, Reconciled, type Component } from './runtime/reconcile.js';

export interface AgentOptions {
  /** YAML config file; undefined runs with defaults and no watcher. */
  configPath?: string;
  /** A missing config file means defaults (and is picked up when it appears). */
  configOptional?: boolean;
  nodeName?: string;
  /** CRI socket (default: RUNTIME_SOCK or the usual containerd/CRI-O paths). */
  runtimeSocket?: string;
  /** Overrides metric_config.port (tests use 0 for any free port). */
  port?: number;
  /** Overrides event_config.port, the live event stream (0: any free port). */
  eventPort?: number;
  /** Where the stdout event sink writes (default process.stdout). */
  stdout?: Writable;
  /** The API client of the endpoints' kubernetes auth mode (default: the pod's in-cluster configuration). */
  kube?: () => Promise<KubeClient>;
  cniConfDir?: string;
  cniDataDir?: string;
  log: Logger;
}

export class Agent {
  readonly nodeName: string;
  readonly discovery: EntityDiscovery;
  readonly collector: Collector;
  readonly server: MetricsServer;
  readonly events: EventRuntime;
  readonly pushers: MetricPushers;
  private readonly telemetry: Telemetry;
  private config: AgentConfig = structuredClone(DEFAULT_CONFIG);
  private watcher?: ConfigWatcher;
  private configError?: string;
  /** Config applications run one after another, in the order the changes came. */
  private applying: Promise<void> = Promise.resolve();
  private stopping = false;
  private readonly started = Date.now();
  private readonly collection: Reconciled<CollectionSettings, Collector>;
  /** The agent's own sockets, which no probe reports; why not, when the kernel cannot tell them. */
  private readonly ownSockets = new OwnSockets();
  private ownSocketsError?: string;
  private readonly endpoint: Reconciled<EndpointSettings, MetricsServer>;

  constructor(private readonly opts: AgentOptions) {
    this.nodeName = opts.nodeName ?? process.env.NODE_NAME ?? hostname();
    this.discovery = new EntityDiscovery({ runtimeSocket: opts.runtimeSocket, log: opts.log });
    this.collector = new Collector(this.discovery, this.probeOptions(), (name, entity, err) =>
      opts.log.debug('probe failed', { probe: name, entity: entity && entityName(entity), error: err.message }));
    this.telemetry = createTelemetry(this.nodeName, this.collector, () => this.config.metric_config.verbose,
      () => [...this.events.metrics(), ...this.pushers.metrics(), this.endpointMetric()]);
    this.events = new EventRuntime({
      nodeName: this.nodeName, log: opts.log, snapshot: () => this.collector.snapshot, discover: () => this.discovery.discover(), stdout: opts.stdout, kube: opts.kube,
    });
    this.collector.onSnapshot = (snapshot) => this.events.onSnapshot(snapshot);
    this.collector.onVanished = (entity) =>
      opts.log.info('namespace went during a collection: left out of that snapshot, not a probe error', { entity: entityName(entity), netns: entity.netns });
    this.pushers = new MetricPushers(async () => (await this.telemetry.pull.collect()).resourceMetrics,
      () => this.config.metric_config.naming, opts.log);
    this.server = new MetricsServer({
      reader: this.telemetry.pull,
      naming: () => this.config.metric_config.naming,
      status: () => this.status(),
      debugMode: () => this.config.debugmode,
      debugRoutes: () => ({ '/debug/entities': () => this.collector.snapshot.entities, '/debug/config': () => this.config }),
    }, { log: opts.log, kube: opts.kube });
    this.collection = new Reconciled(collectionComponent(this.collector, this.events.pipeline));
    this.endpoint = new Reconciled(endpointComponent(this.server));
  }

  /** Loads the config (a bad file at start is fatal: there is no last good one), then starts. */
  async start(): Promise<void> {
    if (this.watcher || this.stopping) throw new Error('agent already started');
    const { configPath, log } = this.opts;
    if (configPath) {
      const missingOk = this.opts.configOptional ?? false;
      this.config = await loadConfigFile(configPath, { missingOk });
      this.watcher = new ConfigWatcher(configPath, { initial: this.config, missingOk });
      this.watcher.on('change', (next) => void this.apply(next).catch(() => {}));
      this.watcher.on('valid', () => {
        this.configError = undefined; // a rejected edit was reverted
      });
      this.watcher.on('invalid', (err) => {
        this.configError = err.message;
        log.error('config file rejected, keeping the last good config', { error: err.message });
      });
    }
    const native = nativeAddon();
    if (native.error) log.warn('native addon unavailable: netlink probes are off', { error: native.error });
    // Before any probe loads: the probes' objects then share its map of the agent's sockets.
    this.ownSocketsError = this.ownSockets.start();
    if (this.ownSocketsError && !nativeBpf().error) log.warn('the agent\'s own sockets cannot be told apart: its traffic may show in events', { error: this.ownSocketsError });
    await this.apply(this.config, true);
    log.info('agent started', { node: this.nodeName, probes: this.config.metric_config.probes, interval: this.config.metric_config.interval });
  }

  async stop(): Promise<void> {
    this.stopping = true; // an apply still queued must not start anything again
    this.watcher?.close();
    await this.applying.catch(() => {});
    await this.collection.close();
    await this.events.stop();
    await this.pushers.close();
    await this.endpoint.close();
    this.ownSockets.stop();
    await this.telemetry.shutdown();
    this.discovery.close();
  }

  /**
   * Applies a (new) config: probes, interval, options, port; naming and verbose are read live.
   * Serialized; a failure (e.g. the new port is taken) is logged, shown in /status, and rethrown.
   */
  apply(next: AgentConfig, initial = false): Promise<void> {
    const run = this.applying.catch(() => {}).then(() => this.applyNow(next, initial));
    this.applying = run.catch((e) => {
      this.configError = `config change not applied: ${(e as Error).message}`;
      if (!initial) this.opts.log.error('config change not applied', { error: (e as Error).message });
    });
    return run;
  }

  private async applyNow(next: AgentConfig, initial: boolean): Promise<void> {
    if (this.stopping) return;
    this.config = next;
    this.configError = undefined;
    this.opts.log.debugEnabled = next.debugmode;
    const m = next.metric_config;
    const eventPort = this.opts.eventPort;
    // Each part is applied even when another fails (e.g. the new port is taken): the failures
    // are reported together and the rest of the change still takes effect.
    const failures = await applyAll([
      // First: probes taken out detach now, and a collection still running cannot attach them again.
      async () => setUsedProbes(new Set<string>([...(m.enabled ? m.probes : []), ...(next.event_config.enabled ? next.event_config.probes : [])]), next.event_config) as undefined,
      // With the metric server off the collector still discovers entities: events need them.
      () => this.collection.apply({
        probes: m.enabled ? m.probes : [], interval: m.interval, options: this.probeOptions(),
        eventProbes: next.event_config.enabled ? next.event_config.probes : [],
      }),
      () => this.endpoint.apply(m.enabled ? { port: this.opts.port ?? m.port, server: next.server } : undefined),
      () => this.events.apply(eventPort === undefined ? next : { ...next, event_config: { ...next.event_config, port: eventPort } }),
      () => this.pushers.apply(next),
      // Connections accepted on the agent's ports (scrapes, watch clients) are its own.
      async () => this.ownSocketsError ? undefined : this.ownSockets.setListening(await hostNetns(),
        [this.server.address?.port, this.events.sinks.stream?.address?.port].filter((p): p is number => p !== undefined)),
    ]);
    if (failures.length) throw new Error(failures.join('; '));
    if (!initial) this.opts.log.info('config applied', { probes: m.probes, interval: m.interval, port: this.server.address?.port });
  }

  /** Requests to the protected endpoints, admitted or refused by reason: a spike of 401/403 is someone without access trying. */
  private endpointMetric(): SelfMetric {
    return {
      name: 'netexporter_agent_endpoint_requests_total', type: 'counter',
      help: 'Requests to /metrics, /status and /events by result: allowed, or refused as no_token, bad_token, forbidden, not_loopback, unavailable.',
      points: [...this.server.requestPoints(), ...(this.events.sinks.stream?.requestPoints() ?? [])],
    };
  }

  /** The metric probes' options from the config, and the CNI paths when the agent was given them. */
  private probeOptions(): ProbeOptions {
    const m = this.config.metric_config;
    const values: Record<string, unknown> = Object.fromEntries(probeOptions('metric_config').map(({ option }) => [option.key, m[option.key]]));
    if (this.opts.cniConfDir) values.cni_conf_dir = this.opts.cniConfDir;
    if (this.opts.cniDataDir) values.cni_data_dir = this.opts.cniDataDir;
    return values;
  }

  status() {
    const snap = this.collector.snapshot;
    const probes: Record<string, unknown> = this.collector.status();
    for (const name of METRIC_PROBES) probes[name] ??= { state: 'disabled' };
    return {
      node: this.nodeName,
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      config: { file: this.opts.configPath ?? null, error: this.configError ?? null, interval: this.config.metric_config.interval, naming: this.config.metric_config.naming },
      native: { loaded: !nativeAddon().error, error: nativeAddon().error ?? null },
      ownSockets: this.ownSocketsError ? { state: 'unsupported', reason: this.ownSocketsError } : { state: 'ok' },
      cri: {
        socket: this.discovery.criSocket ?? null,
        error: this.discovery.criError ?? null,
        lastAnswerUnixMs: this.discovery.criAnsweredUnixMs ?? null,
        // Pods still named from the runtime's last answer while it does not answer.
        podsFromLastAnswer: this.discovery.criRemembered,
      },
      discovery: { error: this.collector.discoveryError ?? null, ...this.collector.churn },
      entities: snap.entities.length,
      lastCollection: snap.time ? { time: new Date(snap.time).toISOString(), durationMs: round(snap.durationMs), cpuMs: round(snap.cpuMs), series: snap.samples.length } : null,
      probes,
      events: this.events.status(),
      exporters: this.pushers.status(),
      // TLS certificate in use, who may read each endpoint, and how many requests were let in or refused.
      endpoints: { metrics: this.endpoint.instance ? this.server.status() : null, events: this.events.sinks.stream?.serverStatus() ?? null },
      // The agent's own memory, so a soak (or an operator) can tell a growing heap from growing native memory.
      memory: memoryFigures(),
    };
  }
}

/** Resident set and V8 heap of this process, in bytes. */
function memoryFigures(): Record<string, number> {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers };
}

const round = (n: number) => Math.round(n * 10) / 10;

interface CollectionSettings {
  probes: string[];
  interval: number;
  options: ProbeOptions;
  /** Enabled event probes: a metric probe among them publishes the events it finds. */
  eventProbes: string[];
}

/** The collection loop: probes and options apply in place, and a change starts a cycle now. */
function collectionComponent(collector: Collector, publisher: EventPublisher): Component<CollectionSettings, Collector> {
  const configure = (s: CollectionSettings) =>
    collector.configure(s.probes.map((name) => probe(name)!.metric!), s.options, { publisher, enabled: new Set(s.eventProbes) });
  return {
    name: 'metric_config',
    async build(s) {
      await configure(s);
      collector.start(s.interval);
      return collector;
    },
    async update(_c, s) {
      await configure(s);
      collector.start(s.interval);
      return true;
    },
    close: () => collector.stop(),
  };
}

interface EndpointSettings {
  port: number;
  server: ServerConfig;
}

/** The /metrics and /status server: a new port is bound before the old one is let go; TLS, auth and limits follow `server`. */
function endpointComponent(server: MetricsServer): Component<EndpointSettings, MetricsServer> {
  return {
    name: 'metric_config.port',
    build: async (s) => (await server.listen(s.port, s.server), server),
    update: async (_s, s) => (await server.listen(s.port, s.server), true),
    close: () => server.close(),
  };
}
