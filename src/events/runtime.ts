// The event side of the agent, kept in step with the config: the pipeline and its sinks, the
// eBPF event probes (sampled kernel events) and the configuration checks that publish into it.
import type { Writable } from 'node:stream';
import { EBPF_EVENT_PROBES, ebpfStatus, malformedRecords, type EbpfEventProbeName } from '../bpf/registry.js';
import { EVENT_PROBES } from '../catalogue/probes.js';
import { CheckScheduler, checkOptionsFromConfig, createChecks, KUBE_PROBES, KubeView, type CheckOptions } from '../checks/index.js';
import type { AgentConfig } from '../config/index.js';
import { hostNetns } from '../entities/procscan.js';
import { KubeClient } from '../k8s/client.js';
import type { Logger } from '../log.js';
import type { Entity } from '../model.js';
import type { Snapshot } from '../pipeline/collector.js';
import type { SelfMetric } from '../pipeline/telemetry.js';
import { EventPipeline, type NetnsAttribution } from './pipeline.js';
import { EventSinks } from './sinks.js';

const CHECK_PROBES = new Set(createChecks().map((c) => c.probe as string));
/** Event probes of the catalogue this build has no implementation for (yet), with why. */
const NOT_BUILT = EVENT_PROBES.filter((p) => !(p in EBPF_EVENT_PROBES) && !CHECK_PROBES.has(p));
/** Event probes that cannot be built on a kernel like this one, and why. */
const WHY_NOT_BUILT: Record<string, string> = {
  virtcmdlatency: 'needs a kprobe on virtnet_send_command; this kernel has no kprobes and no tracepoint covers it',
};
/** How often an event from an unknown namespace may trigger a fresh discovery. */
const REDISCOVER_MS = 1000;

export interface EventRuntimeDeps {
  nodeName: string;
  log: Logger;
  /** The latest collection snapshot: entities for attribution and for the checks. */
  snapshot: () => Snapshot;
  /** A fresh discovery, for namespaces newer than the snapshot (and before the first one). */
  discover: () => Promise<Entity[]>;
  /** Where the stdout sink writes (default process.stdout). */
  stdout?: Writable;
}

const attributionOf = (e: Entity): NetnsAttribution => (e.isHost ? 'host' : e.pod);

export class EventRuntime {
  readonly pipeline: EventPipeline;
  readonly sinks: EventSinks;
  private readonly bpfStarted = new Set<EbpfEventProbeName>();
  private readonly bpfUnavailable = new Map<string, string>();
  private bpfOptions?: string;
  private scheduler?: CheckScheduler;
  private kube?: { view: KubeView; key: string };
  /** netns → pod, from the last snapshot plus discoveries made for unknown namespaces. */
  private known = new Map<number, NetnsAttribution>();
  private knownFrom?: Snapshot;
  private hostNetns?: number;
  private lastDiscovery = 0;

  constructor(private readonly deps: EventRuntimeDeps) {
    this.pipeline = new EventPipeline({
      nodeName: deps.nodeName,
      resolve: (netns) => this.resolve(netns),
      onError: (sink, err) => deps.log.error('event sink failed', { sink, error: String(err) }),
    });
    this.sinks = new EventSinks(this.pipeline, { nodeName: deps.nodeName, log: deps.log, stdout: deps.stdout });
    // Host events are attributed from the first one on, before any collection.
    void hostNetns().then((ino) => (this.hostNetns = ino), () => {});
  }

  /** Applies the event part of the config; returns what could not be applied. */
  async apply(config: AgentConfig): Promise<string[]> {
    const ev = config.event_config;
    const problems = await this.sinks.apply(ev);
    const enabled = new Set<string>(ev.enabled ? ev.probes : []);
    this.applyBpf(enabled, { ratePerSecond: ev.events_per_second, thresholdMs: ev.latency_threshold_ms });
    await this.applyChecks(config, enabled);
    return problems;
  }

  /** The collector published a snapshot: new namespaces are worth a check run. */
  onSnapshot(snapshot: Snapshot): void {
    const before = this.knownFrom?.entities.map((e) => e.netns).join();
    this.adopt(snapshot);
    if (before !== undefined && before !== snapshot.entities.map((e) => e.netns).join()) this.scheduler?.trigger();
  }

  private applyBpf(enabled: ReadonlySet<string>, options: { ratePerSecond: number; thresholdMs: number }): void {
    const optionsChanged = JSON.stringify(options) !== this.bpfOptions;
    this.bpfOptions = JSON.stringify(options);
    for (const [name, source] of Object.entries(EBPF_EVENT_PROBES) as [EbpfEventProbeName, (typeof EBPF_EVENT_PROBES)[EbpfEventProbeName]][]) {
      // Starting a running probe again applies a new rate or threshold.
      if (enabled.has(name) && (!this.bpfStarted.has(name) || optionsChanged)) {
        const why = source.startEvents(this.pipeline, options);
        if (why) {
          if (this.bpfUnavailable.get(name) !== why) this.deps.log.warn('eBPF event probe unavailable', { probe: name, reason: why });
          this.bpfUnavailable.set(name, why);
          this.bpfStarted.delete(name);
        } else {
          this.bpfStarted.add(name);
          this.bpfUnavailable.delete(name);
        }
      } else if (!enabled.has(name) && this.bpfStarted.has(name)) {
        source.stopEvents();
        this.bpfStarted.delete(name);
      }
    }
  }

  private async applyChecks(config: AgentConfig, enabled: ReadonlySet<string>): Promise<void> {
    const checks = new Set([...enabled].filter((p) => CHECK_PROBES.has(p)));
    const options = checkOptionsFromConfig(config.event_config.checks, this.deps.nodeName);
    // The Kubernetes view watches what its options name; only built when a check needs the API.
    const wantKube = Boolean(process.env.KUBERNETES_SERVICE_HOST) && KUBE_PROBES.some((p) => checks.has(p));
    const kubeKey = JSON.stringify([options.kubeProxy, options.ipMasqAgent, options.nodeName]);
    const rebuild = !this.scheduler || checks.size === 0 || wantKube !== Boolean(this.kube) || (wantKube && this.kube?.key !== kubeKey);
    if (!rebuild) {
      this.scheduler!.update(options, checks);
      return;
    }
    await this.scheduler?.stop();
    await this.kube?.view.stop();
    this.scheduler = undefined;
    this.kube = undefined;
    if (checks.size === 0) return;
    if (wantKube) this.kube = await this.kubeView(options, kubeKey);
    this.scheduler = new CheckScheduler({
      checks: createChecks({ kube: this.kube?.view }),
      publisher: this.pipeline,
      options,
      enabled: checks,
      entities: async (): Promise<readonly Entity[]> => {
        const snap = this.deps.snapshot();
        return snap.time ? snap.entities : this.deps.discover();
      },
    });
    this.scheduler.start();
  }

  private async kubeView(options: CheckOptions, key: string): Promise<{ view: KubeView; key: string } | undefined> {
    try {
      const client = await KubeClient.inCluster();
      return { view: new KubeView(client, options, () => this.scheduler?.trigger([...KUBE_PROBES])).start(), key };
    } catch (e) {
      // Retried at the next config change; the checks that need it report themselves unsupported.
      this.deps.log.warn('Kubernetes API unavailable: the k8sconfig, kubeproxy and IPVS-endpoint checks are off', { error: (e as Error).message });
      return undefined;
    }
  }

  /** netns inode → pod. An unknown namespace (newer than the snapshot) triggers a discovery, at most once a second. */
  private resolve(netns: number): NetnsAttribution {
    if (netns === this.hostNetns) return 'host';
    this.adopt(this.deps.snapshot());
    if (!this.known.has(netns) && Date.now() - this.lastDiscovery >= REDISCOVER_MS) {
      this.lastDiscovery = Date.now();
      this.deps.discover().then((entities) => {
        for (const e of entities) this.known.set(e.netns, attributionOf(e));
      }, () => {});
    }
    return this.known.get(netns);
  }

  private adopt(snapshot: Snapshot): void {
    if (snapshot === this.knownFrom || !snapshot.time) return;
    this.known = new Map(snapshot.entities.map((e) => [e.netns, attributionOf(e)]));
    this.knownFrom = snapshot;
  }

  async stop(): Promise<void> {
    for (const name of this.bpfStarted) EBPF_EVENT_PROBES[name].stopEvents();
    this.bpfStarted.clear();
    for (const probe of Object.values(EBPF_EVENT_PROBES)) probe.bpf.close(); // detach the programs
    await this.scheduler?.stop();
    await this.kube?.view.stop();
    await this.pipeline.close();
  }

  status(): Record<string, unknown> {
    const bpf = Object.fromEntries(Object.entries(ebpfStatus()).map(([name, kernel]) => [name, {
      ...kernel,
      /** Whether sampled events flow: on, off (not in event_config.probes), or why they cannot. */
      eventProbe: this.bpfStarted.has(name as EbpfEventProbeName) ? 'on' : this.bpfUnavailable.get(name) ?? 'off',
    }]));
    return {
      published: this.pipeline.published,
      rejected: this.pipeline.rejected,
      ...this.sinks.status(),
      bpf,
      bpfMalformedRecords: malformedRecords(),
      checks: this.scheduler?.status() ?? null,
      notBuilt: Object.fromEntries(NOT_BUILT.map((p) => [p, WHY_NOT_BUILT[p] ?? 'not implemented in this version'])),
    };
  }

  /** Events per sink (sent, dropped by reason, queued) and eBPF events lost in the kernel. */
  metrics(): SelfMetric[] {
    const stats = Object.entries(this.pipeline.stats());
    const bpf = [...this.bpfStarted].map((name) => [name, EBPF_EVENT_PROBES[name].eventStats()] as const);
    return [
      { name: 'netexporter_agent_events_published_total', help: 'Events the probes published into the pipeline.', type: 'counter', points: [{ value: this.pipeline.published }] },
      { name: 'netexporter_agent_events_rejected_total', help: 'Events the pipeline refused (malformed, or published while stopping).', type: 'counter', points: [{ value: this.pipeline.rejected }] },
      { name: 'netexporter_agent_event_sink_sent_total', help: 'Events delivered by each sink.', type: 'counter', points: stats.map(([sink, s]) => ({ attributes: { sink }, value: s.sent })) },
      {
        name: 'netexporter_agent_event_sink_dropped_total', help: 'Events a sink gave up on, by reason (queue_full, http_<code>, retries_exhausted, ...).', type: 'counter',
        points: stats.flatMap(([sink, s]) => Object.entries(s.dropped).map(([reason, value]) => ({ attributes: { sink, reason }, value }))),
      },
      { name: 'netexporter_agent_event_sink_queued', help: 'Events waiting in each sink queue.', type: 'gauge', points: stats.map(([sink, s]) => ({ attributes: { sink }, value: s.queued + s.inFlight })) },
      { name: 'netexporter_agent_bpf_events_lost_total', help: 'eBPF events lost because the ring buffer was full.', type: 'counter', points: bpf.map(([probe, s]) => ({ attributes: { probe }, value: s.lost })) },
      { name: 'netexporter_agent_bpf_events_suppressed_total', help: 'eBPF events held back by the kernel-side rate limit (by design).', type: 'counter', points: bpf.map(([probe, s]) => ({ attributes: { probe }, value: s.suppressed })) },
    ];
  }
}
