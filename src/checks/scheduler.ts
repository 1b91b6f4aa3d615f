// Runs the configuration checks on an interval and turns their findings into events: one when
// a finding appears, one when it changes, a reminder every `reminderIntervalSeconds` while it
// holds, and one INFO event when it clears. Never one per cycle. The findings that hold now are
// also what a metric probe exports as gauges.
//
// Decisions:
// - A finding is per subject (one interface, one pod), not KCE's one line listing them all, so
//   each appears, reminds and clears on its own and the gauge can be alerted on per subject.
//   Messages keep KCE's wording with the one subject in the list (`lack routes of pods(web/ns).`).
// - Clearing emits an INFO event of the same type, `msg` = `cleared: <the message it clears>`
//   (off with `emitCleared: false`): on-call sees in the same LogQL query when it stopped.
// - Every event says which of the four it is in `attrs.finding` (new, changed, reminder,
//   cleared), with `attrs.subject` and `attrs.since_unix_ms` (when the finding first held).
// - With `watchChanges` the kernel's notifications of what the checks read (rp_filter, links,
//   addresses, routes, rules; checks/changes.ts) trigger a run of the probes concerned, so a
//   finding appears within seconds; the interval and the reminders are unchanged.
// - A check that fails keeps its previous findings (a failed read is not a fix); a check that
//   is disabled or unsupported drops them without cleared events.

import { nowUnixNano, type EventPublisher, type NetEvent, type Severity } from '../events/model.js';
import type { Entity } from '../model.js';
import { ChangeWatcher, probesFollowing, type ChangeStatus } from './changes.js';
import type { Check, CheckContext, CheckOptions, Finding } from './model.js';

/** What `attrs.finding` says about an event. */
export type FindingPhase = 'new' | 'changed' | 'reminder' | 'cleared';

export interface CheckStatus {
  name: string;
  probe: string;
  state: 'ok' | 'error' | 'unsupported' | 'disabled' | 'pending';
  /** The error or the reason it is unsupported. */
  detail?: string;
  findings: number;
}

export interface SchedulerOptions {
  checks: Check[];
  publisher: EventPublisher;
  /** The catalogue severity of an event type. */
  severity: (type: string) => Severity;
  /** The namespaces of the node for a run (the agent's discovery). */
  entities: () => readonly Entity[] | Promise<readonly Entity[]>;
  options: CheckOptions;
  /** The node's network namespace (null: the agent's own). Tests point it at a throwaway one. */
  hostNetns?: string | null;
  /** Event probes that are on; undefined or empty: all (the config's "empty means all"). */
  enabled?: ReadonlySet<string>;
  /** Milliseconds; tests pass a fake one. */
  clock?: () => number;
  /** Run the probes concerned when the kernel announces a change (rp_filter, links, routes); the agent sets it. */
  watchChanges?: boolean;
}

interface Held {
  finding: Finding;
  state: string;
  since: number;
  lastEmitted: number;
}

/** Which checks a run covers: all, the fast ones (kernel log), or those of some event probes. */
export type Selection = 'all' | 'fast' | ReadonlySet<string>;

/** Minimum time between two triggered runs, ms. */
const TRIGGER_GAP_MS = 2000;

const key = (f: Finding): string => `${f.type}\u0000${f.subject}`;

// Every running scheduler, so a metric probe can export their findings
// without the agent wiring the two together.
const running = new Set<CheckScheduler>();

/** Findings of every running scheduler (exported as gauges). */
export function activeFindings(): Finding[] {
  return [...running].flatMap((s) => s.findings());
}

export class CheckScheduler {
  private held = new Map<Check, Map<string, Held>>();
  private status_ = new Map<Check, CheckStatus>();
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<void> | undefined;
  private pending: Set<string> | 'all' | undefined;
  private triggerTimer: NodeJS.Timeout | undefined;
  private lastTriggered = 0;
  private stopped = true;
  private readonly clock: () => number;
  private watcher: ChangeWatcher | undefined;

  constructor(private opts: SchedulerOptions) {
    this.clock = opts.clock ?? Date.now;
    for (const c of opts.checks) this.status_.set(c, { name: c.name, probe: c.probe, state: 'pending', findings: 0 });
  }

  /** Runs every check now, then every `intervalSeconds`; fast checks (kernel log) every `kernelLog.pollSeconds`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    running.add(this);
    if (this.opts.watchChanges) this.watcher = new ChangeWatcher(this.opts.hostNetns ?? null, (changes) => this.trigger(probesFollowing(this.opts.checks, changes))).start();
    this.schedule();
    this.trigger();
  }

  /** Stops the timers, waits for a run in progress, closes the checks (the kmsg reader). */
  async stop(): Promise<void> {
    this.stopped = true;
    running.delete(this);
    for (const t of this.timers.splice(0)) clearInterval(t);
    clearTimeout(this.triggerTimer);
    this.triggerTimer = undefined;
    this.watcher?.close();
    await this.running;
    for (const c of this.opts.checks) c.close?.();
  }

  /** New options or enabled probes (hot reload); the intervals restart. Checks turned off drop their findings without cleared events. */
  update(options: CheckOptions, enabled?: ReadonlySet<string>): void {
    this.opts = { ...this.opts, options, ...(enabled ? { enabled } : {}) };
    if (this.stopped) return;
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.schedule();
    this.trigger();
  }

  /**
   * Runs the checks of `probes` (default: all) soon, because something changed (new pods, an
   * API watch event). Bursts coalesce: at most one triggered run per TRIGGER_GAP_MS, covering
   * every probe asked for meanwhile.
   */
  trigger(probes?: readonly string[]): void {
    if (this.stopped) return;
    this.pending = !probes || this.pending === 'all' ? 'all' : new Set([...(this.pending ?? []), ...probes]);
    if (this.triggerTimer) return;
    const wait = Math.max(0, this.lastTriggered + TRIGGER_GAP_MS - Date.now());
    this.triggerTimer = setTimeout(() => {
      const only = this.pending ?? 'all';
      this.triggerTimer = undefined;
      this.pending = undefined;
      this.lastTriggered = Date.now();
      if (!this.stopped) void this.runOnce(only);
    }, wait).unref();
  }

  /**
   * One run of the checks (all, the fast ones, or those of some probes) that starts after this
   * call, so it sees every change made before it; runs never overlap. Resolves when it is done;
   * never rejects (a failing check is in status()).
   */
  async runOnce(only: Selection = 'all'): Promise<void> {
    await this.idle();
    // cycle() catches what checks throw; anything else is a bug that must not kill a timer tick.
    this.running = this.cycle(only).catch(() => undefined).finally(() => (this.running = undefined));
    return this.running;
  }

  private async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Findings that hold now. */
  findings(): Finding[] {
    return [...this.held.values()].flatMap((m) => [...m.values()].map((h) => h.finding));
  }

  status(): CheckStatus[] {
    return [...this.status_.values()].map((s) => ({ ...s }));
  }

  /** Whether kernel notifications trigger runs (undefined: not asked for). */
  changes(): ChangeStatus | undefined {
    return this.watcher?.status();
  }

  private schedule(): void {
    const { intervalSeconds, kernelLog } = this.opts.options;
    // A tick that finds a run in progress is skipped: the run is as fresh as the tick would be.
    const tick = (only: 'all' | 'fast') => () => void (this.running || this.runOnce(only));
    this.timers.push(setInterval(tick('all'), intervalSeconds * 1000).unref());
    if (this.opts.checks.some((c) => c.fast)) this.timers.push(setInterval(tick('fast'), kernelLog.pollSeconds * 1000).unref());
  }

  private enabled(c: Check): boolean {
    return !this.opts.enabled?.size || this.opts.enabled.has(c.probe);
  }

  private async cycle(only: Selection): Promise<void> {
    const selected = this.opts.checks.filter((c) => (only === 'all' ? true : only === 'fast' ? c.fast : only.has(c.probe)));
    let entities: readonly Entity[] = [];
    try {
      // Fast checks (the kernel log, every 2 s) are node-wide: no discovery for them.
      if (selected.some((c) => !c.fast)) entities = await this.opts.entities();
    } catch (err) {
      // Without the namespaces no check can be judged: say so on each, keep their findings.
      for (const c of selected) Object.assign(this.status_.get(c)!, { state: 'error', detail: `entities: ${(err as Error).message}` });
      return;
    }
    // New pod namespaces are made audible before they are judged, so a change right after is heard.
    if (entities.length) await this.watcher?.track(entities);
    const cache = new Map<string, Promise<unknown>>();
    const ctx: CheckContext = {
      entities,
      hostNetns: this.opts.hostNetns ?? null,
      options: this.opts.options,
      now: this.clock(),
      shared: <T>(k: string, read: () => Promise<T>) => {
        if (!cache.has(k)) cache.set(k, read());
        return cache.get(k) as Promise<T>;
      },
    };
    for (const check of selected) {
      const status = this.status_.get(check)!;
      if (!this.enabled(check)) {
        this.held.delete(check); // turned off is not fixed: no cleared events
        status.findings = 0;
        status.state = 'disabled';
        delete status.detail;
        continue;
      }
      try {
        const reason = await check.unsupported?.(ctx);
        if (reason) {
          this.held.delete(check);
          Object.assign(status, { state: 'unsupported', detail: reason });
          continue;
        }
        this.apply(check, await check.run(ctx), ctx.now);
        status.state = 'ok';
        delete status.detail;
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOADDON') {
          // Netlink needs the native addon; where it could not be built the agent runs without
          // these checks, as its netlink metric probes do, and says why.
          this.held.delete(check);
          Object.assign(status, { state: 'unsupported', detail: (err as Error).message });
        } else {
          // Keep what the check found last time: a read that failed says nothing about a fix.
          Object.assign(status, { state: 'error', detail: (err as Error).message });
        }
      }
      status.findings = this.held.get(check)?.size ?? 0;
    }
  }

  private apply(check: Check, found: Finding[], now: number): void {
    const before = this.held.get(check) ?? new Map<string, Held>();
    const after = new Map<string, Held>();
    const reminderMs = this.opts.options.reminderIntervalSeconds * 1000;
    for (const f of found) {
      const k = key(f);
      if (after.has(k)) continue; // a check reporting the same subject twice: the first wins
      const state = f.state ?? f.msg;
      const prev = before.get(k);
      let phase: FindingPhase | undefined;
      if (!prev) phase = 'new';
      else if (prev.state !== state) phase = 'changed';
      else if (now - prev.lastEmitted >= reminderMs) phase = 'reminder';
      if (phase) this.emit(check, f, phase, prev ? prev.since : now);
      after.set(k, { finding: f, state, since: prev?.since ?? now, lastEmitted: phase ? now : prev!.lastEmitted });
    }
    if (this.opts.options.emitCleared) {
      for (const [k, h] of before) if (!after.has(k)) this.emit(check, h.finding, 'cleared', h.since);
    }
    this.held.set(check, after);
  }

  private emit(check: Check, f: Finding, phase: FindingPhase, since: number): void {
    const event: NetEvent = {
      timeUnixNano: this.opts.clock ? BigInt(this.clock()) * 1_000_000n : nowUnixNano(),
      type: f.type,
      probe: check.probe,
      severity: phase === 'cleared' ? 'INFO' : this.opts.severity(f.type),
      // A cleared event repeats the message it clears, so a LogQL filter on it finds both.
      msg: phase === 'cleared' ? `cleared: ${f.msg}` : f.msg,
      ...(f.netns !== undefined ? { netns: f.netns } : {}),
      attrs: { ...f.attrs, subject: f.subject, finding: phase, since_unix_ms: since },
    };
    try {
      this.opts.publisher.publish(event);
    } catch {
      // publish never throws by contract; a broken sink must not stop the checks
    }
  }
}
