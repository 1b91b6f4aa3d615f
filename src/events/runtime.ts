// The event side of the agent, kept in step with the config: the pipeline and its sinks, the
// eBPF event probes (sampled kernel events) and the configuration checks that publish into it.
import type { Writable } from 'node:stream';
import type { AgentConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Entity } from '../model.js';
import type { SelfMetric } from '../pipeline/telemetry.js';
import type { Snapshot } from '../pipeline/collector.js';
import { CheckScheduler, checkOptionsFromConfig, createChecks, KUBE_PROBES, KubeView } from '../checks/index.js';
import { KubeClient } from '../k8s/client.js';
import { EBPF_EVENT_PROBES, ebpfStatus, type EbpfEventProbeName } from '../bpf/registry.js';
import { EventPipeline, type NetnsAttribution } from './pipeline.js';
import { EventSinks } from './sinks.js';

/** Kernel-side rate limit of each eBPF event probe: enough to see a storm, cheap to ship. */
const BPF_EVENTS_PER_SECOND = 100;
const CHECK_PROBES = new Set(['kernelparam', 'k8sconfig', 'kubeproxy', 'ipvs', 'route', 'nodeconfig', 'mtu']);

export interface EventRuntimeDeps {
  nodeName: string;
  log: Logger;
  /** The latest collection snapshot: entities for attribution and for the checks. */
  snapshot: () => Snapshot;
  /** A fresh snapshot when none exists yet (the checks' first run). */
  collect: () => Promise<Snapshot>;
  /** Where the stdout sink writes (default process.stdout). */
  stdout?: Writable;
}

export class EventRuntime {
  readonly pipeline: EventPipeline;
  readonly sinks: EventSinks;
  private readonly bpfStarted = new Set<EbpfEventProbeName>();
  private readonly bpfUnavailable = new Map<string, string>();
  private scheduler?: CheckScheduler;
  private kube?: KubeView;
  private sinkProblems: string[] = [];
  private attribution?: { snapshot: Snapshot; byNetns: Map<number, NetnsAttribution> };

  constructor(private readonly deps: EventRuntimeDeps) {
    this.pipeline = new EventPipeline({
      nodeName: deps.nodeName,
      resolve: (netns) => this.resolve(netns),
      onError: (sink, err) => deps.log.error('event sink failed', { sink, error: String(err) }),
    });
    this.sinks = new EventSinks(this.pipeline, { nodeName: deps.nodeName, log: deps.log, stdout: deps.stdout });
  }

  async apply(config: AgentConfig): Promise<string[]> {
    const ev = config.event_config;
    this.sinkProblems = await this.sinks.apply(ev);
    const enabled = new Set<string>(ev.enabled ? ev.probes : []);
    this.applyBpf(enabled);
    await this.applyChecks(config, enabled);
    return this.sinkProblems;
  }

  private applyBpf(enabled: ReadonlySet<string>): void {
    for (const [name, source] of Object.entries(EBPF_EVENT_PROBES) as [EbpfEventProbeName, (typeof EBPF_EVENT_PROBES)[EbpfEventProbeName]][]) {
      if (enabled.has(name) && !this.bpfStarted.has(name)) {
        const why = source.startEvents(this.pipeline, { ratePerSecond: BPF_EVENTS_PER_SECOND });
        if (why) {
          this.bpfUnavailable.set(name, why);
          this.deps.log.warn('eBPF event probe unavailable', { probe: name, reason: why });
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
    if (checks.size === 0) {
      await this.scheduler?.stop();
      this.scheduler = undefined;
      return;
    }
    const options = checkOptionsFromConfig(config.event_config.checks, this.deps.nodeName);
    if (this.scheduler) {
      this.scheduler.update(options, checks);
      return;
    }
    // The Kubernetes checks need the API; outside a cluster they report themselves unsupported.
    if (process.env.KUBERNETES_SERVICE_HOST) {
      try {
        const client = await KubeClient.inCluster();
        this.kube = new KubeView(client, options, () => this.scheduler?.trigger([...KUBE_PROBES])).start();
      } catch (e) {
        this.deps.log.warn('Kubernetes API unavailable: k8sconfig and kubeproxy checks are off', { error: (e as Error).message });
      }
    }
    this.scheduler = new CheckScheduler({
      checks: createChecks({ kube: this.kube }),
      publisher: this.pipeline,
      options,
      enabled: checks,
      entities: async (): Promise<readonly Entity[]> => {
        const snap = this.deps.snapshot();
        return snap.time ? snap.entities : (await this.deps.collect()).entities;
      },
    });
    this.scheduler.start();
  }

  /** netns inode → pod, from the latest snapshot (one map per snapshot, built on first use). */
  private resolve(netns: number): NetnsAttribution {
    const snapshot = this.deps.snapshot();
    if (this.attribution?.snapshot !== snapshot) {
      const byNetns = new Map<number, NetnsAttribution>();
      for (const e of snapshot.entities) byNetns.set(e.netns, e.isHost ? 'host' : e.pod);
      this.attribution = { snapshot, byNetns };
    }
    return this.attribution.byNetns.get(netns);
  }

  async stop(): Promise<void> {
    for (const name of this.bpfStarted) EBPF_EVENT_PROBES[name].stopEvents();
    this.bpfStarted.clear();
    await this.scheduler?.stop();
    await this.kube?.stop();
    await this.pipeline.close();
  }

  status(): Record<string, unknown> {
    const kernel = ebpfStatus();
    const bpf = Object.fromEntries(Object.entries(kernel).map(([name, programs]) => [name, {
      events: this.bpfStarted.has(name as EbpfEventProbeName) ? 'on' : this.bpfUnavailable.get(name) ?? 'off',
      ...programs,
    }]));
    return {
      published: this.pipeline.published,
      rejected: this.pipeline.rejected,
      ...this.sinks.status(),
      bpf,
      checks: this.scheduler?.status() ?? null,
    };
  }

  /** Events per sink (sent, dropped by reason, queued) and eBPF events lost in the kernel. */
  metrics(): SelfMetric[] {
    const stats = Object.entries(this.pipeline.stats());
    const bpf = [...this.bpfStarted].map((name) => [name, EBPF_EVENT_PROBES[name].eventStats()] as const);
    return [
      { name: 'netexporter_agent_events_published_total', help: 'Events the probes published into the pipeline.', type: 'counter', points: [{ value: this.pipeline.published }] },
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
