// The eBPF probes' kernel sides and event sources. A probe's programs are attached while it is
// in either probe list and detached when it is in neither; its sampled events flow while it is
// an enabled event probe, each source a reconciled component (a new rate or option restarts it).
import type { DeliveryStats } from '../bpf/probe.js';
import { PROBES, type Probe } from '../catalogue/index.js';
import type { EventConfig } from '../config/index.js';
import type { EventPublisher } from '../events/model.js';
import type { ProbeEventOptions } from '../probes/probe.js';
import { Reconciled, type Component } from './reconcile.js';

/** Every probe with a kernel side (metric, event or both). */
export const EBPF_PROBES = PROBES.filter((p) => p.kernel);

/** Records that could not be turned into an event (a bug, not a loss of the kernel's). */
let malformed = 0;
export const malformedRecords = (): number => malformed;

/**
 * Detaches the programs of the eBPF probes that `used` (the enabled metric and event probes)
 * does not name, so that a probe taken out of the configuration stops costing every packet,
 * and lets the named ones load on their next use (their counters then start from zero).
 * Called before the collector and the events take the new lists, with the event config whose
 * options apply to the kernel sides.
 */
export function setUsedProbes(used: ReadonlySet<string>, ev?: EventConfig): void {
  for (const p of EBPF_PROBES) {
    p.kernel!.setUsed(used.has(p.name));
    // Options the kernel side reads whether or not events flow (the latency sampling).
    if (ev) p.tune?.(eventOptions(p, ev).values);
  }
}

/** The options of a probe's event source from the event config: the rate and its own options. */
export function eventOptions(p: Probe, ev: EventConfig): ProbeEventOptions {
  return { ratePerSecond: ev.events_per_second, values: Object.fromEntries(p.options.filter((o) => o.section === 'event_config').map((o) => [o.key, ev[o.key]])) };
}

/**
 * Starts (or restarts, with new options) the sampled events of an eBPF event probe into
 * `publisher`: its options written into its object, then the kernel's rate and the ring buffer
 * reader. Returns why it cannot, undefined once started.
 */
export function startProbeEvents(p: Probe, publisher: EventPublisher, options: ProbeEventOptions): string | undefined {
  const { fromRecord, configure } = p.event!;
  return configure?.(options) ?? p.kernel!.startEvents(options, (r) => {
    // Runs in the ring-buffer callback, where a throw would be fatal to the process.
    let event;
    try {
      event = fromRecord!(r);
    } catch {
      malformed++;
      return;
    }
    if (event) publisher.publish(event);
  });
}

/** The sampled events of one eBPF event probe, as a component: started, restarted with new options, stopped. */
function eventSource(p: Probe, publisher: EventPublisher): Component<ProbeEventOptions, Probe> {
  const start = (options: ProbeEventOptions): Probe => {
    const why = startProbeEvents(p, publisher, options);
    if (why) throw new Error(why);
    return p;
  };
  return {
    name: `event_config.probes: ${p.name}`,
    build: async (options) => start(options),
    // Starting a running source again applies a new rate or option.
    update: async (_p, options) => (start(options), true),
    close: async () => p.kernel!.stopEvents(),
  };
}

/** The eBPF event sources, kept in step with the event config. */
export class EbpfEvents {
  private readonly sources: { probe: Probe; part: Reconciled<ProbeEventOptions, Probe> }[];

  constructor(publisher: EventPublisher, private readonly onUnavailable: (probe: string, reason: string) => void) {
    this.sources = PROBES.filter((p) => p.kernel && p.event?.fromRecord).map((p) => ({ probe: p, part: new Reconciled(eventSource(p, publisher)) }));
  }

  async apply(ev: EventConfig, enabled: ReadonlySet<string>): Promise<void> {
    for (const { probe, part } of this.sources) {
      const before = part.error;
      await part.apply(enabled.has(probe.name) ? eventOptions(probe, ev) : undefined);
      if (part.cause && part.error !== before) this.onUnavailable(probe.name, part.cause);
    }
  }

  async stop(): Promise<void> {
    for (const { part } of this.sources) await part.close();
    for (const p of EBPF_PROBES) p.kernel!.close(); // detach the programs
  }

  /** Delivery counters of the running sources. */
  stats(): [string, DeliveryStats][] {
    return this.sources.filter(({ part }) => part.instance).map(({ probe }) => [probe.name, probe.kernel!.stats()]);
  }

  /** Per eBPF probe: off (never used), ok (programs, lost/suppressed events) or unsupported with the reason; and its events. */
  status(): Record<string, unknown> {
    return Object.fromEntries(EBPF_PROBES.map((p) => {
      const part = this.sources.find((s) => s.probe === p)?.part;
      /** Whether sampled events flow: on, off (not in event_config.probes), or why they cannot. */
      const eventProbe = part?.instance ? 'on' : part?.cause ?? 'off';
      return [p.name, { ...p.kernel!.status(), eventProbe }];
    }));
  }
}
