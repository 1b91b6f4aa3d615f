// The collection loop: every interval, discover entities, run every enabled probe on
// them, and publish one immutable snapshot. Scrapes and exports read the snapshot; they
// never touch procfs or netlink themselves.
import { stat } from 'node:fs/promises';
import { releaseNamespaces } from '../netlink/socket.js';
import { mapLimited } from '../util/map-limited.js';
import type { EventPublisher } from '../events/model.js';
import { NotApplicable, type Entity, type MetricProbe, type ProbeContext, type ProbeOptions, type Sample } from '../model.js';

export interface EntitySource {
  discover(): Promise<Entity[]>;
  /** Set when the last discover() could not ask the container runtime. */
  readonly criError?: string;
}

export type ProbeState = 'ok' | 'error' | 'unsupported';

export interface ProbeStatus {
  state: ProbeState;
  /** Why the probe is unsupported, or the last collection error. */
  reason?: string;
  /** Things this kernel does not expose (counters absent), from ProbeContext.note. */
  notes: string[];
  /** Collection errors since the agent started (kept across reconfiguration). */
  errors: number;
  /** Wall time of its collections in the last cycle, summed over entities (they overlap other probes'). */
  lastDurationMs: number;
}

export interface SeriesSample extends Sample {
  probe: string;
  entity: Entity;
}

export interface Snapshot {
  /** Wall-clock time the cycle finished, ms since the epoch. */
  time: number;
  entities: Entity[];
  samples: SeriesSample[];
  /** When each namespace was first seen (ms since the epoch): the start of its counters. */
  firstSeen: ReadonlyMap<number, number>;
  durationMs: number;
  /** CPU time the cycle used (user + system, all threads), ms; the benchmark reports it. */
  cpuMs: number;
}

const EMPTY: Snapshot = { time: 0, entities: [], samples: [], firstSeen: new Map(), durationMs: 0, cpuMs: 0 };
/**
 * Entities probed at once: bounds the texts and replies held at the same time on nodes with
 * many pods. The netlink and /proc/<pid> reads of the entities in flight share one pool job
 * per turn of the event loop, so the more at once, the fewer jobs (with 110 namespaces, 4
 * rounds instead of 14).
 */
const ENTITY_CONCURRENCY = 32;

/** Where the metric probes that are also enabled event probes publish their events. */
export interface CollectorEvents {
  publisher: EventPublisher;
  /** The enabled event probes. */
  enabled: ReadonlySet<string>;
}

export class Collector {
  private probes: MetricProbe[] = [];
  private events?: CollectorEvents;
  private statuses = new Map<string, ProbeStatus>();
  /** What each probe's unsupported() said (undefined: it can run here). */
  private readonly unsupportedReasons = new Map<string, string | undefined>();
  private readonly errorTotals = new Map<string, number>();
  private readonly firstSeen = new Map<number, number>();
  private current: Snapshot = EMPTY;
  private timer?: NodeJS.Timeout;
  private running?: Promise<Snapshot>;
  /** Bumped by start/stop so that a tick still waiting on a cycle never reschedules itself. */
  private generation = 0;
  /** The last discovery failure (cleared by the next success); the snapshot then stays the previous one. */
  discoveryError?: string;
  /** Told about every published snapshot (the event side follows the entities). */
  onSnapshot?: (snapshot: Snapshot) => void;
  /** Told once about each namespace that went while a cycle read it (it is left out of that snapshot). */
  onVanished?: (entity: Entity) => void;
  /**
   * Namespaces that went mid-cycle (left out of their snapshot, not counted as probe errors)
   * and reads retried on another process of a namespace because the one read had exited.
   */
  readonly churn = { vanishedLastCycle: 0, vanishedTotal: 0, pidRetriesTotal: 0 };

  constructor(
    private readonly source: EntitySource,
    private options: ProbeOptions,
    private readonly onError: (probe: string, entity: Entity | undefined, err: Error) => void = () => {},
  ) {}

  get snapshot(): Snapshot {
    return this.current;
  }

  status(): Record<string, ProbeStatus> {
    return Object.fromEntries(this.statuses);
  }

  /**
   * Replaces the probe set (hot reload); probes that cannot run here are marked unsupported.
   * `events`: where the probes that are also enabled event probes publish what they find.
   */
  async configure(probes: MetricProbe[], options: ProbeOptions, events?: CollectorEvents): Promise<void> {
    const supported: MetricProbe[] = [];
    const statuses = new Map<string, ProbeStatus>();
    for (const probe of probes) {
      const previous = this.statuses.get(probe.name);
      // Asked once: what the kernel cannot do does not change (not so a probe that did not apply last cycle).
      if (!this.unsupportedReasons.has(probe.name)) this.unsupportedReasons.set(probe.name, await probe.unsupported?.());
      const reason = this.unsupportedReasons.get(probe.name);
      const errors = this.errorTotals.get(probe.name) ?? 0;
      statuses.set(probe.name, previous && !reason ? previous : { state: reason ? 'unsupported' : 'ok', reason, notes: [], errors, lastDurationMs: 0 });
      if (!reason) supported.push(probe);
    }
    // Swapped whole: a cycle in flight keeps the set it started with.
    this.options = options;
    this.events = events;
    this.statuses = statuses;
    this.probes = supported;
  }

  /** Runs one cycle now (or joins the one in flight) and publishes its snapshot. */
  collect(): Promise<Snapshot> {
    this.running ??= this.cycle().finally(() => (this.running = undefined));
    return this.running;
  }

  start(intervalSeconds: number): void {
    const generation = ++this.generation;
    clearTimeout(this.timer);
    const tick = async () => {
      const began = Date.now();
      await this.collect().catch((e) => {
        this.discoveryError = (e as Error).message;
        this.onError('collector', undefined, e as Error);
      });
      // Schedule from the start of the cycle so the interval holds; a slow cycle is never overlapped.
      if (generation === this.generation) this.timer = setTimeout(tick, Math.max(0, intervalSeconds * 1000 - (Date.now() - began)));
    };
    void tick();
  }

  /** Stops the loop; resolves once a cycle in flight has finished and the namespaces' sockets are closed. */
  async stop(): Promise<void> {
    this.generation++;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
    releaseNamespaces(new Set());
  }

  private async cycle(): Promise<Snapshot> {
    const wallStart = performance.now();
    const cpuStart = process.cpuUsage();
    const { probes, statuses, options, events } = this;
    const entities = await this.source.discover();
    this.discoveryError = undefined;
    this.trackFirstSeen(entities);
    // The netlink sockets kept for a namespace that has gone would keep it alive.
    releaseNamespaces(new Set(entities.map((e) => e.netns)));
    /** Namespaces found gone during this cycle: their samples are dropped, they leave the snapshot. */
    const vanished = new Set<Entity>();
    const memo = new Map<string, Promise<unknown>>();
    const shared = <T>(key: string, read: () => Promise<T>): Promise<T> => {
      if (!memo.has(key)) {
        // A failed read is not shared: a retry through another process must read again.
        const value = read();
        value.catch(() => memo.get(key) === value && memo.delete(key));
        memo.set(key, value);
      }
      return memo.get(key) as Promise<T>;
    };
    const runs = probes.map((probe): Run => {
      const notes = new Set<string>();
      const ctx: ProbeContext = { options, entities, runtimeError: this.source.criError, shared, note: (m) => notes.add(m) };
      if (events?.enabled.has(probe.name)) ctx.publish = (e) => events.publisher.publish(e);
      return {
        probe, ctx, notes, status: statuses.get(probe.name)!, hostOnly: hostScoped(probe),
        failure: undefined, notApplicable: undefined, ms: 0,
        byEntity: new Map<Entity, SeriesSample[]>(),
      };
    });
    // Entity by entity, every probe of an entity at once: the netlink requests of a namespace's
    // probes then leave together, in one native call (netlink/socket.ts).
    await mapLimited(entities, ENTITY_CONCURRENCY, (entity) =>
      Promise.all(runs.map((run) => (run.probe.scope === 'host' && !entity.isHost ? undefined : this.collectOne(run, entity, vanished)))));
    const samples = gather(runs, entities);
    const cpu = process.cpuUsage(cpuStart);
    this.churn.vanishedLastCycle = vanished.size;
    this.churn.vanishedTotal += vanished.size;
    for (const e of vanished) this.onVanished?.(e);
    this.current = {
      time: Date.now(),
      entities: vanished.size ? entities.filter((e) => !vanished.has(e)) : entities,
      samples: vanished.size ? samples.filter((s) => !vanished.has(s.entity)) : samples,
      firstSeen: new Map(this.firstSeen),
      durationMs: performance.now() - wallStart,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
    this.onSnapshot?.(this.current);
    return this.current;
  }

  /** One probe on one entity: its samples kept in `run`, or why it failed, or the entity found gone. */
  private async collectOne(run: Run, entity: Entity, vanished: Set<Entity>): Promise<void> {
    const { probe } = run;
    if (vanished.has(entity)) return;
    const started = performance.now();
    try {
      keep(run, entity, await probe.collect(entity, run.ctx));
    } catch (first) {
      let e = first;
      if (e instanceof NotApplicable) {
        run.notApplicable = e.message;
        return;
      }
      // A pod that vanished mid-cycle is not a probe failure; anything else is.
      const live = await firstLivePid(entity);
      if (live < 0) {
        vanished.add(entity);
        return;
      }
      // The process the read went through exited (the namespace lives on in others): read
      // again through one that is there, instead of counting an error.
      if (live > 0 && gone(e)) {
        this.churn.pidRetriesTotal++;
        try {
          keep(run, entity, await probe.collect({ ...entity, pids: entity.pids.slice(live) }, run.ctx));
          return;
        } catch (again) {
          e = again;
        }
      }
      run.failure = `${entityName(entity)}: ${(e as Error).message}`;
      const total = (this.errorTotals.get(probe.name) ?? 0) + 1;
      this.errorTotals.set(probe.name, total);
      run.status.errors = total;
      this.onError(probe.name, entity, e as Error);
    } finally {
      run.ms += performance.now() - started;
    }
  }

  private trackFirstSeen(entities: readonly Entity[]): void {
    const now = Date.now();
    const live = new Set(entities.map((e) => e.netns));
    for (const ns of this.firstSeen.keys()) if (!live.has(ns)) this.firstSeen.delete(ns);
    for (const ns of live) if (!this.firstSeen.has(ns)) this.firstSeen.set(ns, now);
  }
}

/**
 * One probe's part of a cycle. The cycle's steps are small functions of their own rather than
 * closures of cycle(): V8 then optimizes each alone, instead of recompiling all of cycle()
 * with everything inlined (tens of milliseconds of CPU) whenever one part of it deoptimizes.
 */
interface Run {
  probe: MetricProbe;
  ctx: ProbeContext;
  notes: Set<string>;
  status: ProbeStatus;
  hostOnly: ReadonlySet<string>;
  failure: string | undefined;
  notApplicable: string | undefined;
  ms: number;
  byEntity: Map<Entity, SeriesSample[]>;
}

/** What a probe found on an entity, as the snapshot's series (host-scoped metrics on the host only). */
function keep(run: Run, entity: Entity, found: Sample[]): void {
  const out: SeriesSample[] = [];
  const probe = run.probe.name;
  for (const s of found) {
    if (!entity.isHost && run.hostOnly.has(s.metric)) continue;
    // Literals of two fixed shapes, not a spread: this runs for every series of every cycle.
    out.push(s.labels
      ? { metric: s.metric, value: s.value, labels: s.labels, probe, entity }
      : { metric: s.metric, value: s.value, probe, entity });
  }
  run.byEntity.set(entity, out);
}

/** The cycle's series probe by probe, entities in discovery order (not by timing); each probe's status updated. */
function gather(runs: readonly Run[], entities: readonly Entity[]): SeriesSample[] {
  const samples: SeriesSample[] = [];
  for (const run of runs) {
    for (const entity of entities) {
      const out = run.byEntity.get(entity);
      if (out) for (const s of out) samples.push(s);
    }
    run.status.state = run.failure ? 'error' : run.notApplicable ? 'unsupported' : 'ok';
    run.status.reason = run.failure ?? run.notApplicable;
    run.status.notes = [...run.notes];
    run.status.lastDurationMs = Math.round(run.ms * 10) / 10;
  }
  return samples;
}

/** Metrics the kernel keeps once for the machine: exported on the host entity only. */
const hostScopedCache = new WeakMap<MetricProbe, ReadonlySet<string>>();
function hostScoped(probe: MetricProbe): ReadonlySet<string> {
  let set = hostScopedCache.get(probe);
  if (!set) hostScopedCache.set(probe, (set = new Set(probe.metrics.filter((m) => m.scope === 'host').map((m) => m.name))));
  return set;
}

export function entityName(e: Entity): string {
  if (e.isHost) return 'host';
  return e.pod ? `${e.pod.namespace}/${e.pod.name}` : `netns ${e.netns}`;
}

/** Index in `pids` of the first process still in the entity's namespace; -1: none, the namespace went. */
async function firstLivePid(entity: Entity): Promise<number> {
  for (let i = 0; i < entity.pids.length; i++) {
    if (await stat(`/proc/${entity.pids[i]}/ns/net`).then((s) => s.ino === entity.netns, () => false)) return i;
  }
  return -1;
}

/**
 * An error that says the process or namespace read through is not there (any more). ESTALE:
 * the netlink sessions found the pid's ns/net to be another namespace (the pid was reused).
 */
function gone(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === 'ENOENT' || code === 'ESRCH' || code === 'ESTALE';
}
