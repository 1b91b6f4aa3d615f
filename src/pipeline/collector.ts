// The collection loop: every interval, discover entities, run every enabled probe on
// them, and publish one immutable snapshot. Scrapes and exports read the snapshot; they
// never touch procfs or netlink themselves.
import { stat } from 'node:fs/promises';
import type { Entity, MetricProbe, ProbeOptions, Sample } from '../model.js';

export interface EntitySource {
  discover(): Promise<Entity[]>;
}

export type ProbeState = 'ok' | 'error' | 'unsupported';

export interface ProbeStatus {
  state: ProbeState;
  /** Why the probe is unsupported, or the last collection error. */
  reason?: string;
  /** Things this kernel does not expose (counters absent), from ProbeContext.note. */
  notes: string[];
  errors: number;
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
  durationMs: number;
  /** CPU time the cycle used (user + system), ms; the benchmark reports it. */
  cpuMs: number;
}

const EMPTY: Snapshot = { time: 0, entities: [], samples: [], durationMs: 0, cpuMs: 0 };
/** Entities probed at once: bounds open files and netlink threads on nodes with many pods. */
const ENTITY_CONCURRENCY = 8;

export class Collector {
  private probes: MetricProbe[] = [];
  private readonly statuses = new Map<string, ProbeStatus>();
  private current: Snapshot = EMPTY;
  private timer?: NodeJS.Timeout;
  private running?: Promise<Snapshot>;
  private stopped = true;

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

  /** Replaces the probe set (hot reload); probes that cannot run here are marked unsupported once. */
  async configure(probes: MetricProbe[], options: ProbeOptions): Promise<void> {
    this.options = options;
    const supported: MetricProbe[] = [];
    const statuses = new Map<string, ProbeStatus>();
    for (const probe of probes) {
      const previous = this.statuses.get(probe.name);
      const reason = previous?.state === 'unsupported' ? previous.reason : await probe.unsupported?.();
      statuses.set(probe.name, previous && !reason ? previous : { state: reason ? 'unsupported' : 'ok', reason, notes: [], errors: 0, lastDurationMs: 0 });
      if (!reason) supported.push(probe);
    }
    this.statuses.clear();
    for (const [k, v] of statuses) this.statuses.set(k, v);
    this.probes = supported;
  }

  /** Runs one cycle now (or joins the one in flight) and publishes its snapshot. */
  collect(): Promise<Snapshot> {
    this.running ??= this.cycle().finally(() => (this.running = undefined));
    return this.running;
  }

  start(intervalSeconds: number): void {
    this.stop();
    this.stopped = false;
    const tick = async () => {
      const began = Date.now();
      await this.collect().catch((e) => this.onError('collector', undefined, e as Error));
      // Schedule from the start of the cycle so the interval holds; a slow cycle is never overlapped.
      if (!this.stopped) this.timer = setTimeout(tick, Math.max(0, intervalSeconds * 1000 - (Date.now() - began)));
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async cycle(): Promise<Snapshot> {
    const wallStart = performance.now();
    const cpuStart = process.cpuUsage();
    const entities = await this.source.discover();
    const host = entities.find((e) => e.isHost);
    const samples: SeriesSample[] = [];
    const memo = new Map<string, Promise<unknown>>();
    const shared = <T>(key: string, read: () => Promise<T>): Promise<T> => {
      if (!memo.has(key)) memo.set(key, read());
      return memo.get(key) as Promise<T>;
    };
    for (const probe of this.probes) {
      const status = this.statuses.get(probe.name)!;
      const notes = new Set<string>();
      const ctx = { options: this.options, entities, shared, note: (m: string) => notes.add(m) };
      const targets = probe.scope === 'host' ? (host ? [host] : []) : entities;
      const probeStart = performance.now();
      let failure: string | undefined;
      await forEachLimited(targets, ENTITY_CONCURRENCY, async (entity) => {
        try {
          for (const s of await probe.collect(entity, ctx)) samples.push({ ...s, probe: probe.name, entity });
        } catch (e) {
          // A pod that vanished mid-cycle is not a probe failure; anything else is.
          if (!(await stillExists(entity))) return;
          failure = `${entityName(entity)}: ${(e as Error).message}`;
          status.errors++;
          this.onError(probe.name, entity, e as Error);
        }
      });
      status.state = failure ? 'error' : 'ok';
      status.reason = failure;
      status.notes = [...notes];
      status.lastDurationMs = performance.now() - probeStart;
    }
    const cpu = process.cpuUsage(cpuStart);
    this.current = {
      time: Date.now(),
      entities,
      samples,
      durationMs: performance.now() - wallStart,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
    return this.current;
  }
}

export function entityName(e: Entity): string {
  if (e.isHost) return 'host';
  return e.pod ? `${e.pod.namespace}/${e.pod.name}` : `netns ${e.netns}`;
}

async function stillExists(entity: Entity): Promise<boolean> {
  return stat(`/proc/${entity.pids[0]}/ns/net`).then((s) => s.ino === entity.netns, () => false);
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
