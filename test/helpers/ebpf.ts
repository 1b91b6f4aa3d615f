// The eBPF probes as the tests drive them: a probe's kernel side, its metric collection and
// its sampled events, by name, through the agent's own code (the catalogue and the runtime).
import { probe } from '../../src/catalogue/index.js';
import type { EventPublisher } from '../../src/events/model.js';
import { startProbeEvents } from '../../src/runtime/ebpf.js';

export interface TestEventOptions {
  ratePerSecond: number;
  stacks?: boolean;
  /** event_config.latency_threshold_ms of the latency probes. */
  thresholdMs?: number;
  /** Other event_config options of the probe (e.g. `packetloss: { reasons: [...] }`). */
  values?: Record<string, unknown>;
}

export function ebpf(name: string) {
  const p = probe(name);
  if (!p?.kernel) throw new Error(`${name} is not an eBPF probe`);
  const kernel = p.kernel;
  return {
    kernel,
    metric: p.metric!,
    fromRecord: p.event?.fromRecord,
    /** Its event types, catalogue order. */
    eventTypes: (p.event?.types ?? []).map((t) => t.type),
    /** Starts events into `publisher`; returns why it cannot. */
    startEvents: (publisher: EventPublisher, o: TestEventOptions) => startProbeEvents(p, publisher, {
      ratePerSecond: o.ratePerSecond, stacks: o.stacks,
      values: { ...o.values, ...(o.thresholdMs === undefined ? {} : { latency_threshold_ms: o.thresholdMs }) },
    }),
    stopEvents: () => kernel.stopEvents(),
    /** Its `tune`: the event_config options its kernel side reads whether or not events run. */
    tune: (values: Record<string, unknown>) => p.tune?.(values),
    eventStats: () => kernel.stats(),
  };
}
