// The event side of the agent, kept in step with the config: the pipeline and its sinks, the
// eBPF event sources (sampled kernel events) and the configuration checks that publish into it,
// and the attribution of every event to its pod.
import type { Writable } from 'node:stream';
import { EVENT_PROBES, PROBES } from '../catalogue/index.js';
import type { AgentConfig } from '../config/index.js';
import { hostNetns } from '../entities/procscan.js';
import { EventPipeline, type NetnsAttribution } from '../events/pipeline.js';
import type { SelfMetric } from '../exporters/telemetry.js';
import type { KubeClient } from '../k8s/index.js';
import type { Logger } from '../log.js';
import type { Entity } from '../model.js';
import type { Snapshot } from '../pipeline/collector.js';
import { checksComponent, checksSettings, type ChecksSettings, type RunningChecks } from './checks.js';
import { EbpfEvents, malformedRecords } from './ebpf.js';
import { Reconciled } from './reconcile.js';
import { EventSinks } from './sinks.js';

/** Event probes this build has no implementation for on a kernel like this one, with why. */
const NOT_BUILT = Object.fromEntries(PROBES.filter((p) => p.event?.notBuilt).map((p) => [p.name, p.event!.notBuilt!]));
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
  /** The API client of the stream's kubernetes auth mode (default: in-cluster). */
  kube?: () => Promise<KubeClient>;
}

const attributionOf = (e: Entity): NetnsAttribution => (e.isHost ? 'host' : e.pod);

export class EventRuntime {
  readonly pipeline: EventPipeline;
  readonly sinks: EventSinks;
  private readonly ebpf: EbpfEvents;
  private readonly checks: Reconciled<ChecksSettings, RunningChecks>;
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
    this.sinks = new EventSinks(this.pipeline, { nodeName: deps.nodeName, log: deps.log, stdout: deps.stdout, kube: deps.kube });
    this.ebpf = new EbpfEvents(this.pipeline, (probe, reason) => deps.log.warn('eBPF event probe unavailable', { probe, reason }));
    this.checks = new Reconciled(checksComponent({
      publisher: this.pipeline,
      log: deps.log,
      entities: async () => {
        const snap = this.deps.snapshot();
        return snap.time ? snap.entities : this.deps.discover();
      },
    }));
    // Host events are attributed from the first one on, before any collection.
    void hostNetns().then((ino) => (this.hostNetns = ino), () => {});
  }

  /** Applies the event part of the config; returns what could not be applied. */
  async apply(config: AgentConfig): Promise<string[]> {
    const ev = config.event_config;
    const problems = await this.sinks.apply(ev, config.server);
    const enabled = new Set<string>(ev.enabled ? ev.probes : []);
    await this.ebpf.apply(ev, enabled);
    const checks = await this.checks.apply(checksSettings(config, enabled, this.deps.nodeName));
    if (checks) this.deps.log.error('configuration checks not applied', { error: checks });
    return checks ? [...problems, checks] : problems;
  }

  /** The collector published a snapshot: new namespaces are worth a check run. */
  onSnapshot(snapshot: Snapshot): void {
    const before = this.knownFrom?.entities.map((e) => e.netns).join();
    this.adopt(snapshot);
    if (before !== undefined && before !== snapshot.entities.map((e) => e.netns).join()) this.checks.instance?.scheduler.trigger();
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
    await this.ebpf.stop();
    await this.checks.close();
    await this.pipeline.close();
  }

  status(): Record<string, unknown> {
    return {
      published: this.pipeline.published,
      rejected: this.pipeline.rejected,
      ...this.sinks.status(),
      bpf: this.ebpf.status(),
      bpfMalformedRecords: malformedRecords(),
      checks: this.checks.instance?.scheduler.status() ?? null,
      checkChanges: this.checks.instance?.scheduler.changes() ?? null,
      // What the API-reading checks see of the cluster: per informer synced, lists, 410s, closed watches, the current failure.
      checkKube: this.checks.instance?.view?.status() ?? null,
      notBuilt: Object.fromEntries(EVENT_PROBES.filter((p) => p in NOT_BUILT).map((p) => [p, NOT_BUILT[p]])),
    };
  }

  /** Events per sink (sent, dropped by reason, queued) and eBPF events lost in the kernel. */
  metrics(): SelfMetric[] {
    const stats = Object.entries(this.pipeline.stats());
    const bpf = this.ebpf.stats();
    return [
      { name: 'netexporter_agent_events_published_total', help: 'Events the probes published into the pipeline.', type: 'counter', points: [{ value: this.pipeline.published }] },
      { name: 'netexporter_agent_events_rejected_total', help: 'Events the pipeline refused (malformed, or published while stopping).', type: 'counter', points: [{ value: this.pipeline.rejected }] },
      { name: 'netexporter_agent_event_sink_sent_total', help: 'Events delivered by each sink.', type: 'counter', points: stats.map(([sink, s]) => ({ attributes: { sink }, value: s.sent })) },
      {
        name: 'netexporter_agent_event_sink_dropped_total', help: 'Events a sink gave up on, by reason (queue_full, http_<code>, retries_exhausted, ...).', type: 'counter',
        points: stats.flatMap(([sink, s]) => Object.entries(s.dropped).map(([reason, value]) => ({ attributes: { sink, reason }, value }))),
      },
      { name: 'netexporter_agent_event_sink_queued', help: 'Events waiting in each sink queue.', type: 'gauge', points: stats.map(([sink, s]) => ({ attributes: { sink }, value: s.queued + s.inFlight })) },
      { name: 'netexporter_agent_event_sink_queued_bytes', help: 'Estimated bytes of the events waiting in each sink queue (bounded by max_queue_bytes).', type: 'gauge', points: stats.map(([sink, s]) => ({ attributes: { sink }, value: s.bytes })) },
      {
        name: 'netexporter_agent_event_sink_spool_bytes', help: 'Bytes of each sink\'s disk spool (segments and unwritten buffer).', type: 'gauge',
        points: stats.flatMap(([sink, s]) => (s.spool ? [{ attributes: { sink }, value: s.spool.bytes }] : [])),
      },
      { name: 'netexporter_agent_bpf_events_lost_total', help: 'eBPF events lost because the ring buffer was full.', type: 'counter', points: bpf.map(([probe, s]) => ({ attributes: { probe }, value: s.lost })) },
      { name: 'netexporter_agent_bpf_events_suppressed_total', help: 'eBPF events held back by the kernel-side rate limit (by design).', type: 'counter', points: bpf.map(([probe, s]) => ({ attributes: { probe }, value: s.suppressed })) },
      {
        name: 'netexporter_agent_bpf_events_skipped_total', type: 'counter',
        help: 'eBPF events not emitted by design: about the agent\'s own sockets (own_socket), or with no network namespace to attribute them to (unattributed).',
        points: bpf.flatMap(([probe, s]) => [{ attributes: { probe, reason: 'own_socket' }, value: s.own }, { attributes: { probe, reason: 'unattributed' }, value: s.unattributed }]),
      },
    ];
  }
}
