// One eBPF probe's kernel side: its object (build/Release/bpf/<name>.bpf.o) opened, loaded
// and attached once, its per-netns counters, its delivery counters, and its ring buffer of
// sampled events. The probe files in src/probes/ build metrics and events on top of it.
//
// Adding an eBPF probe: native/bpf/<name>.bpf.c including common.bpf.h (counters in a hash
// map keyed {u32 netns, u32 kind} with counter_add(); events through event_allowed(),
// event_reserve(), event_submit(); the kinds a named enum <name>_kind in the object's BTF),
// built by `node-gyp rebuild` with no gyp edit; then src/probes/<name>.ts with
// `new BpfProbe('<name>', '<counter map>')` as its `kernel`.
//
// Layouts and numbers shared with the kernel side come from the object itself (contract.ts):
// an object that disagrees with this code is refused with the reason, never misread.
import path from 'node:path';
import type { NetEvent, Severity } from '../events/model.js';
import { nativeBpf, type BpfObject, type BtfStruct, type ProgramStatus, type RingHandle } from './addon.js';
import { enumMap } from './btf.js';
import { objectContract, type ObjectContract } from './contract.js';
import { records, type BpfRecord } from './records.js';

/** Event delivery of one probe: lost, suppressed and map-full are counted in the kernel (all CPUs). */
export interface DeliveryStats {
  /** Events lost because the ring buffer was full (bpf_ringbuf_reserve failed). */
  lost: number;
  /** Events held back by the rate limit (by design, not a loss). */
  suppressed: number;
  /** Counter updates that found the counter map full (a new netns/key could not be added). */
  mapFull: number;
  /** Events about the agent's own sockets, not emitted (the agent never reports itself). */
  own: number;
  /** Events with no network namespace to attribute them to, not emitted. */
  unattributed: number;
  /** Events handed to userspace by this process. */
  delivered: number;
}

export interface EventOptions {
  /** Events per second the kernel may emit for this probe; the rest are counted as suppressed. */
  ratePerSecond: number;
  /** Probes that send a stack: capture it (default true); it is most of an event's kernel cost. */
  stacks?: boolean;
}

/** How late at most an event reaches JS when too few are waiting to wake the reader. */
const DRAIN_MS = 200;

let clock: { offset: bigint; measuredAt: number } | undefined;
/** The offset is measured again after this long, so an NTP step of the wall clock is followed. */
const CLOCK_REMEASURE_MS = 60_000;

/** Epoch ns of a bpf_ktime_get_ns() value (CLOCK_MONOTONIC), via CLOCK_REALTIME - CLOCK_MONOTONIC. */
export function ktimeToEpochNs(ktimeNs: bigint): bigint {
  const now = Date.now();
  if (!clock || now - clock.measuredAt > CLOCK_REMEASURE_MS) clock = { offset: nativeBpf().addon!.clockOffsetNs(), measuredAt: now };
  return ktimeNs + clock.offset;
}

/** The event of a kernel record: its time and netns from the record, type and severity from its catalogue entry. */
export function recordEvent(probe: string, def: { type: string; severity: Severity }, r: BpfRecord, msg: string, attrs: NetEvent['attrs']): NetEvent {
  return { timeUnixNano: ktimeToEpochNs(r.ktimeNs), type: def.type, probe, severity: def.severity, msg, netns: r.netns || undefined, attrs };
}

/** Maps every object uses from one owner (by name → the owner's fd), given before the objects load. */
const sharedMaps = new Map<string, number>();

/**
 * Makes every object loaded from now on that has a map `name` use the map with fd `fd` instead
 * (e.g. the agent's own sockets, filled by one object and read by all). `undefined` stops it.
 */
export function shareMap(name: string, fd: number | undefined): void {
  if (fd === undefined) sharedMaps.delete(name);
  else sharedMaps.set(name, fd);
}

export class BpfProbe {
  private obj?: BpfObject;
  /** What the loaded object's BTF says (set with obj). */
  private contract?: ObjectContract;
  private kindNames = new Map<string, Map<number, string>>();
  private kinds = new Map<string, Map<string, number>>();
  private programStatus: ProgramStatus[] = [];
  private error?: string;
  private ring?: RingHandle;
  private drainTimer?: NodeJS.Timeout;
  /** Namespaces with counters but no entity at the last read (deleted if still gone at the next). */
  private absent = new Set<number>();
  private delivered = 0;
  /** Detached because no configuration uses it; nothing loads it again until it is used. */
  private parked = false;
  /** Latency objects: 1 measurement in this many is taken (1: every one); kept across reloads. */
  private sampleEvery = 1;
  private settingsWriter: (() => string | undefined) | undefined;
  /** Latency objects sampling 1 in N > 1: attached `ms` of every `periodMs` (0: always attached). */
  private window = { ms: 0, periodMs: 0 };
  /** The next open or close of the time window. */
  private windowTimer?: NodeJS.Timeout;
  /** Windows opened since load (tests), whether one is open now, and why the last attach failed. */
  private windowCount = 0;
  private windowOpen = true;
  private windowError?: string;

  /**
   * @param name probe and object name (`<name>.bpf.o`)
   * @param counterMap hash map of {u32 netns, u32 kind} → u64 (or u64[n]) in that object
   * @param objectFile another object file (tests)
   */
  constructor(
    readonly name: string,
    private readonly counterMap: string,
    private readonly objectFile?: string,
    /** Initial values of global variables (`const volatile` settings), written before load. */
    private readonly globals: Readonly<Record<string, Buffer>> = {},
  ) {}

  /** Opens, loads and attaches once; later calls return the first outcome. */
  private ensure(): BpfObject | undefined {
    if (this.obj || this.error || this.parked) return this.obj;
    const bpf = nativeBpf();
    if (!bpf.addon) {
      this.error = bpf.error;
      return undefined;
    }
    const file = this.objectFile ?? path.join(bpf.objectDir!, `${this.name}.bpf.o`);
    let obj: BpfObject | undefined;
    try {
      obj = bpf.addon.open(file);
      // Checked before anything is loaded: an object this code would misread never runs.
      let contract: ObjectContract;
      try {
        contract = objectContract(obj);
      } catch (err) {
        throw new Error(`${path.basename(file)} does not match this agent: ${(err as Error).message}`);
      }
      for (const [name, value] of Object.entries(this.globals)) obj.setGlobal(name, value);
      for (const [name, fd] of sharedMaps) obj.shareMap(name, fd);
      this.programStatus = obj.load();
      if (!this.programStatus.some((p) => p.attached)) {
        obj.close();
        this.error = `no program attached: ${this.failures().join('; ')}`;
        return undefined;
      }
      this.obj = obj;
      this.contract = contract;
      if (contract.histogram) {
        this.writeSampling();
        this.restartWindows();
      }
      this.settingsWriter?.(); // a map update of an object just loaded: its failure would be a bug
    } catch (err) {
      // A failure after this.obj was set (the sampling or settings write) must not leave the
      // closed object in use, nor a time window's timer that would touch it.
      clearTimeout(this.windowTimer);
      this.windowTimer = undefined;
      obj?.close();
      this.obj = undefined;
      this.contract = undefined;
      this.error = (err as Error).message;
    }
    return this.obj;
  }

  /** Why the probe cannot run at all (no addon, no BTF, no object, no program attached). */
  unsupported(): string | undefined {
    this.ensure();
    return this.error;
  }

  /** Every program's load/attach status (empty when the object never loaded). */
  programs(): ProgramStatus[] {
    this.ensure();
    return this.programStatus;
  }

  /**
   * For /status, without loading anything: `off` until something used the probe, then `ok`
   * (with the programs that did not attach, if any) or `unsupported` with the reason.
   */
  status(): { state: 'off' | 'ok' | 'unsupported'; reason?: string; programs: ProgramStatus[]; events?: DeliveryStats; sampled?: string } {
    if (this.error) return { state: 'unsupported', reason: this.error, programs: this.programStatus };
    if (!this.obj) return { state: 'off', programs: [] };
    const sampled = this.contract?.histogram ? { sampled: sampledNote(this.sampleEvery, this.windowed() ? this.window : undefined) } : {};
    return { state: 'ok', programs: this.programStatus, events: this.stats(), ...sampled, ...(this.windowError ? { reason: this.windowError } : {}) };
  }

  /**
   * Latency objects: measure 1 in `every` (1: every one, exact), now if loaded and after every
   * later load. The kernel weighs each observation by it (latency.bpf.h), so the histograms
   * estimate the totals. Does not load the object.
   */
  setSampling(every: number, window?: { ms: number; periodMs: number }): void {
    const was = { every: this.sampleEvery, ...this.window };
    this.sampleEvery = Math.max(1, Math.min(0xffffffff, Math.floor(every)));
    if (window) this.window = { ms: Math.max(0, Math.floor(window.ms)), periodMs: Math.max(0, Math.floor(window.periodMs)) };
    // The same settings again (every config reload tunes every probe): the running windows go
    // on. Restarting them would open a window at once, attaching the programs for more than
    // window/period of that period while each observation still counts period/window times.
    const same = was.every === this.sampleEvery && was.ms === this.window.ms && was.periodMs === this.window.periodMs;
    if (!same && this.obj && this.contract?.histogram) {
      this.writeSampling();
      this.restartWindows();
    }
  }

  /** Whether the programs are attached in time windows only: sampling 1 in N > 1 and a window shorter than its period. */
  private windowed(): boolean {
    return this.sampleEvery > 1 && this.window.ms > 0 && this.window.ms < this.window.periodMs;
  }

  /** The time windows of a loaded latency object: how many opened since load, and whether one is open now. */
  windows(): { opened: number; open: boolean; windowed: boolean } {
    return { opened: this.windowCount, open: this.windowOpen, windowed: this.windowed() };
  }

  /**
   * (Re)starts the time windows from now: one opens at once (every program attached), closes
   * after window.ms (every program detached), opens again at the next period. Not windowed:
   * attached for good. One unref'd timer; close() stops it.
   */
  private restartWindows(): void {
    clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    this.windowCount = 0;
    this.openWindow();
  }

  private openWindow(): void {
    // Written before any program attaches: every start recorded from now on is not older than it.
    const value = Buffer.alloc(24);
    const windowed = this.windowed();
    if (windowed) {
      value.writeBigUInt64LE(process.hrtime.bigint(), 0); // CLOCK_MONOTONIC, as bpf_ktime_get_ns()
      value.writeBigUInt64LE(BigInt(this.window.ms) * 1_000_000n, 8);
      value.writeBigUInt64LE(BigInt(this.window.periodMs) * 1_000_000n, 16);
    }
    this.obj!.mapUpdate('lat_window', Buffer.alloc(4), value);
    this.setAttached(true);
    this.windowCount++;
    if (windowed) this.windowTimer = setTimeout(() => this.closeWindow(), this.window.ms).unref();
  }

  private closeWindow(): void {
    this.setAttached(false);
    this.windowTimer = setTimeout(() => this.openWindow(), this.window.periodMs - this.window.ms).unref();
  }

  /** Attaches or detaches every program that attached at load. */
  private setAttached(on: boolean): void {
    this.windowOpen = on;
    this.windowError = undefined;
    for (const p of this.programStatus) {
      if (!p.attached) continue;
      try {
        if (on) this.obj!.attach(p.name);
        else this.obj!.detach(p.name);
      } catch (e) {
        this.windowError = `time window: ${(e as Error).message}`;
      }
    }
  }

  /**
   * Settings the kernel side reads whether or not events flow (a probe's `tune`): written now if
   * the object is loaded (returns why that failed) and again after every later load. Does not
   * load the object.
   */
  keepWritten(write: () => string | undefined): string | undefined {
    this.settingsWriter = write;
    return this.obj ? write() : undefined;
  }

  /** 1 in how many measurements the latency histograms take. */
  sampling(): number {
    return this.sampleEvery;
  }

  private writeSampling(): void {
    const value = Buffer.alloc(4);
    value.writeUInt32LE(this.sampleEvery);
    this.obj!.mapUpdate('sampling', Buffer.alloc(4), value);
  }

  /** Kernel program ids and run statistics (runCount/runTimeNs need kernel.bpf_stats_enabled=1). */
  programStats(): { name: string; id: number; runCount: number; runTimeNs: number }[] {
    return this.obj?.programStats() ?? [];
  }

  /** `program (section): error` of each program that is not attached. */
  failures(): string[] {
    return this.programStatus.filter((p) => !p.attached).map((p) => `${p.name} (${p.section}): ${p.error ?? 'not attached'}`);
  }

  isAttached(program: string): boolean {
    return this.programs().some((p) => p.name === program && p.attached);
  }

  /**
   * netns inode → kind → count, read from the kernel map in batches (a value of n u64 gives
   * kinds kind | 0 ... kind | n-1, as the latency histograms are kept). Given `live` (every
   * namespace of this cycle), counters of a namespace missing from two reads in a row are
   * deleted from the kernel map: it is bounded, and inode numbers of dead namespaces are reused.
   */
  counters(live?: ReadonlySet<number>): Map<number, Map<number, number>> {
    const out = new Map<number, Map<number, number>>();
    const obj = this.ensure();
    if (!obj) return out;
    const d = obj.mapDump(this.counterMap);
    const absent = new Set<number>();
    for (let i = 0; i < d.count; i++) {
      const netns = d.keys.readUInt32LE(i * d.keySize);
      const kind = d.keys.readUInt32LE(i * d.keySize + 4);
      if (live && live.size > 0 && !live.has(netns)) {
        absent.add(netns);
        if (this.absent.has(netns)) obj.mapDelete(this.counterMap, d.keys.subarray(i * d.keySize, (i + 1) * d.keySize));
        continue;
      }
      let perNetns = out.get(netns);
      if (!perNetns) out.set(netns, (perNetns = new Map()));
      // A value of several u64 (a latency histogram, latency.bpf.h) is slots kind | 0, 1, ...
      for (let slot = 0; slot < d.valueSize / 8; slot++) perNetns.set(kind | slot, Number(d.values.readBigUInt64LE(i * d.valueSize + slot * 8)));
    }
    if (live && live.size > 0) this.absent = absent;
    return out;
  }

  stats(): DeliveryStats {
    const stats: DeliveryStats = { lost: 0, suppressed: 0, mapFull: 0, own: 0, unattributed: 0, delivered: this.delivered };
    const obj = this.ensure();
    if (!obj) return stats;
    const { STAT_LOST, STAT_SUPPRESSED, STAT_MAPFULL, STAT_OWN, STAT_UNATTRIBUTED } = this.contract!.stats;
    const d = obj.mapDump('stats');
    for (let i = 0; i < d.count; i++) {
      const key = d.keys.readUInt32LE(i * d.keySize);
      let sum = 0;
      for (let off = 0; off < d.valueSize; off += 8) sum += Number(d.values.readBigUInt64LE(i * d.valueSize + off));
      if (key === STAT_LOST) stats.lost = sum;
      else if (key === STAT_SUPPRESSED) stats.suppressed = sum;
      else if (key === STAT_MAPFULL) stats.mapFull = sum;
      else if (key === STAT_OWN) stats.own = sum;
      else if (key === STAT_UNATTRIBUTED) stats.unattributed = sum;
    }
    return stats;
  }

  /**
   * The members of a named enum of the loaded object's BTF (a probe's kinds, e.g.
   * `tcpreset_kind`), name (with `prefix` stripped) → value; empty while the object is not
   * loaded (unsupported or off). Throws when the loaded object has no such enum.
   */
  kernelKinds(enumName: string, prefix = ''): Map<string, number> {
    const obj = this.ensure();
    if (!obj) return new Map();
    const key = `${enumName}\0${prefix}`;
    let m = this.kinds.get(key);
    if (!m) this.kinds.set(key, (m = enumMap(obj.btfEnum(enumName), prefix)));
    return m;
  }
  /** The member name (without `prefix`) of a kind value of `enumName`, as the loaded object numbers it. */
  kindName(enumName: string, prefix: string, value: number): string | undefined {
    const key = `${enumName}\0${prefix}`;
    let names = this.kindNames.get(key);
    if (!names) {
      const kinds = this.kernelKinds(enumName, prefix);
      if (kinds.size === 0) return undefined; // nothing loaded yet: do not cache the empty answer
      this.kindNames.set(key, (names = new Map([...kinds].map(([name, v]) => [v, name]))));
    }
    return names.get(value);
  }


  /**
   * Starts the kernel emitting up to `ratePerSecond` events and hands each decoded record to
   * `onRecord` (batched per ring buffer wakeup). Returns why it cannot (the unsupported
   * reason), undefined once started; calling it again changes the rate and the handler.
   */
  startEvents(options: EventOptions, onRecord: (r: BpfRecord) => void): string | undefined {
    const obj = this.ensure();
    if (!obj) return this.error ?? `${this.name}: detached (in neither probe list)`;
    this.stopEvents();
    const layout = this.contract!.record;
    this.ring = obj.ringBuffer('events', (buf, bytes) => {
      for (const r of records(buf, bytes, layout)) {
        this.delivered++;
        onRecord(r);
      }
    });
    // The kernel wakes the reader only once 128 KiB are waiting (see event_submit); a slow
    // trickle of events is picked up by this timer instead, at most DRAIN_MS late.
    this.drainTimer = setInterval(() => this.ring?.drain(), DRAIN_MS).unref();
    this.setRate(options.ratePerSecond, options.stacks === false ? this.contract!.settingFlags.SETTING_NO_STACK : 0);
    return undefined;
  }

  /** Stops the kernel emitting events (counters go on) and closes the ring buffer reader. */
  stopEvents(): void {
    if (!this.obj) return;
    this.setRate(0);
    clearInterval(this.drainTimer);
    this.ring?.drain();
    this.ring?.close();
    this.ring = undefined;
  }

  /** Consumes pending events now instead of on the next loop wakeup (tests, benchmarks). */
  drain(): number {
    return this.ring?.drain() ?? 0;
  }

  /**
   * Detaches the programs and keeps them off (a collection still running with the old probe
   * list does not load them again), or, with `used`, lets the next use load them.
   */
  setUsed(used: boolean): void {
    this.parked = !used;
    if (!used) this.close();
  }

  /** Detaches everything; the probe can be loaded again afterwards. */
  close(): void {
    clearInterval(this.drainTimer);
    clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    this.windowOpen = true;
    this.windowError = undefined;
    this.ring?.close();
    this.ring = undefined;
    this.obj?.close();
    this.obj = undefined;
    this.contract = undefined;
    this.kinds.clear();
    this.kindNames.clear();
    this.error = undefined;
    this.programStatus = [];
  }

  /** The fd of one of the loaded object's maps (for shareMap); undefined when it is not loaded. */
  mapFd(map: string): number | undefined {
    return this.ensure()?.mapFd(map);
  }

  /** A struct of the loaded object's BTF (a probe's own record payload); undefined while it is not loaded. */
  btfStruct(name: string): BtfStruct | undefined {
    return this.ensure()?.btfStruct(name);
  }

  /** Every key and value of one of the loaded object's maps (none while it is not loaded). */
  mapEntries(map: string): { key: Buffer; value: Buffer }[] {
    const obj = this.ensure();
    if (!obj) return [];
    const d = obj.mapDump(map);
    const out: { key: Buffer; value: Buffer }[] = [];
    for (let i = 0; i < d.count; i++) {
      out.push({ key: Buffer.from(d.keys.subarray(i * d.keySize, (i + 1) * d.keySize)), value: Buffer.from(d.values.subarray(i * d.valueSize, (i + 1) * d.valueSize)) });
    }
    return out;
  }

  /** Deletes one entry of a map of the loaded object; returns why it cannot. */
  deleteFromMap(map: string, key: Buffer): string | undefined {
    const why = this.unsupported();
    if (why) return why;
    this.obj!.mapDelete(map, key);
    return undefined;
  }

  /** Writes one entry of a map of the loaded object (e.g. a threshold); returns why it cannot. */
  updateMap(map: string, key: Buffer, value: Buffer): string | undefined {
    const why = this.unsupported();
    if (why) return why;
    try {
      this.obj!.mapUpdate(map, key, value);
      return undefined;
    } catch (e) {
      return `${this.name}: cannot update map ${map}: ${(e as Error).message}`;
    }
  }

  private setRate(perSecond: number, flags = 0): void {
    const s = this.contract!.settings;
    const value = Buffer.alloc(s.size);
    value.writeUInt32LE(Math.max(0, Math.min(0xffffffff, Math.floor(perSecond))), s.events_per_sec);
    value.writeUInt32LE(flags, s.flags);
    this.obj!.mapUpdate('settings', Buffer.alloc(4), value);
  }
}

/**
 * What /status says of a latency probe's sampling: `exact`, or `1 in N` with the error of its
 * counts (a count c estimated from c / N observations has a standard error of sqrt(c (N - 1))).
 */
export function sampledNote(every: number, window?: { ms: number; periodMs: number }): string {
  if (every <= 1) return 'exact: every measurement';
  const within = `1 in ${every}`;
  if (!window) return `${within}: each observation counts ${every} times; a count c is within about 4·sqrt(c·${every - 1}) of the true count`;
  // Rounded for the text: 16 · 1000 / 300 would print as 53.333333333333336.
  const weight = Math.round(((every * window.periodMs) / window.ms) * 10) / 10;
  return `measured during ${window.ms} ms of every ${window.periodMs} ms, ${within} within: each observation counts about ${weight} times (more for latencies near the window's length); ` +
    `a count c of steady traffic is within about 4·sqrt(c·${weight - 1}) plus one window's share of the true count`;
}

/**
 * The stated error of a count estimated by 1-in-`every` random sampling: 4 standard errors of
 * the binomial estimate, sqrt(c (N - 1)) each (the true count is within it but for 1 in 15 000).
 */
export const samplingError = (count: number, every: number): number => 4 * Math.sqrt(count * Math.max(0, every - 1));

const names = new Map<string, Map<number, string>>();

/**
 * Names of an enum of the running kernel (e.g. skb_drop_reason), with `prefix` stripped:
 * codes are named as this kernel names them, never from a list compiled into the agent.
 */
export function kernelEnum(enumName: string, prefix: string): Map<number, string> {
  let m = names.get(enumName);
  if (!m) {
    m = new Map();
    const addon = nativeBpf().addon;
    try {
      for (const [value, name] of addon?.btfEnum(enumName) ?? []) m.set(value, name.startsWith(prefix) ? name.slice(prefix.length) : name);
    } catch {
      // no BTF: numbers stay numbers
    }
    names.set(enumName, m);
  }
  return m;
}

