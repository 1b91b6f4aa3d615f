// The eBPF probes that also deliver events, in one place for the agent: start and stop their
// events with the event configuration, and show their state in /status.
import type { EventPublisher, NetEvent } from '../events/model.js';
import * as packetloss from '../probes/packetloss.js';
import * as tcpreset from '../probes/tcpreset.js';
import * as tcpretrans from '../probes/tcpretrans.js';
import * as tcptwrcv from '../probes/tcptwrcv.js';
import * as netSoftirq from '../probes/net_softirq.js';
import * as socketlatency from '../probes/socketlatency.js';
import * as netiftxlat from '../probes/netiftxlat.js';
import * as kernellatency from '../probes/kernellatency.js';
import { DEFAULT_THRESHOLD_MS } from '../probes/latency.js';
import type { BpfProbe, DeliveryStats, EventOptions } from './probe.js';
import type { BpfRecord } from './records.js';

export interface EbpfEventProbe {
  /** Starts events into `publisher` at most `ratePerSecond` (limited in the kernel); returns why not, if it cannot. */
  startEvents(publisher: EventPublisher, options: EventOptions): string | undefined;
  /** Stops the events; the probe's metric counters go on. */
  stopEvents(): void;
  eventStats(): DeliveryStats;
  bpf: BpfProbe;
}

/** Records that could not be turned into an event (a bug, not a loss of the kernel's). */
let malformed = 0;
export const malformedRecords = (): number => malformed;

/** A probe's kernel side and its record → event conversion, as an event source. */
function eventProbe(bpf: BpfProbe, toEvent: (r: BpfRecord) => NetEvent): EbpfEventProbe {
  return {
    startEvents: (publisher, options) => bpf.startEvents(options, (r) => {
      // Runs in the ring-buffer callback, where a throw would be fatal to the process.
      let event: NetEvent;
      try {
        event = toEvent(r);
      } catch {
        malformed++;
        return;
      }
      publisher.publish(event);
    }),
    stopEvents: () => bpf.stopEvents(),
    eventStats: () => bpf.stats(),
    bpf,
  };
}

/** Options of the latency probes' events (net_softirq, socketlatency, netiftxlat, kernellatency). */
export interface LatencyEventOptions extends EventOptions {
  /** An observation above this many ms is also an event (default 100; the histograms see every one). */
  thresholdMs?: number;
}

/**
 * Writes the event threshold into the loaded object's `threshold` map (native/bpf/latency.bpf.h);
 * an object that cannot take it is an error rather than a silent default.
 */
function setThreshold(bpf: BpfProbe, ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 0) return `${bpf.name}: invalid event threshold ${ms} ms`;
  const value = Buffer.alloc(8);
  // 0 would mean "the default" in the kernel: a threshold of 0 ms is 1 ns (every observation).
  value.writeBigUInt64LE(BigInt(Math.max(1, Math.round(ms * 1e6))));
  return bpf.updateMap('threshold', Buffer.alloc(4), value);
}

/** An event source whose kernel side also takes a latency threshold (set before events start). */
function latencyEventProbe(bpf: BpfProbe, toEvent: (r: BpfRecord) => NetEvent): EbpfEventProbe & {
  startEvents(publisher: EventPublisher, options: LatencyEventOptions): string | undefined;
} {
  const base = eventProbe(bpf, toEvent);
  return {
    ...base,
    startEvents: (publisher, options: LatencyEventOptions) =>
      setThreshold(bpf, options.thresholdMs ?? DEFAULT_THRESHOLD_MS) ?? base.startEvents(publisher, options),
  };
}

export const EBPF_EVENT_PROBES = {
  packetloss: eventProbe(packetloss.packetlossBpf, packetloss.toEvent),
  tcpreset: eventProbe(tcpreset.tcpresetBpf, tcpreset.toEvent),
  tcpretrans: eventProbe(tcpretrans.tcpretransBpf, tcpretrans.toEvent),
  tcptwrcv: eventProbe(tcptwrcv.tcptwrcvBpf, tcptwrcv.toEvent),
  net_softirq: latencyEventProbe(netSoftirq.netSoftirqBpf, netSoftirq.toEvent),
  socketlatency: latencyEventProbe(socketlatency.socketlatencyBpf, socketlatency.toEvent),
  netiftxlat: latencyEventProbe(netiftxlat.netiftxlatBpf, netiftxlat.toEvent),
  kernellatency: latencyEventProbe(kernellatency.kernellatencyBpf, kernellatency.toEvent),
} satisfies Record<string, EbpfEventProbe>;

export type EbpfEventProbeName = keyof typeof EBPF_EVENT_PROBES;

/**
 * Detaches the programs of the eBPF probes that `used` (the enabled metric and event probes)
 * does not name, so that a probe taken out of the configuration stops costing every packet,
 * and lets the named ones load on their next use (their counters then start from zero).
 * Called before the collector and the events take the new lists.
 */
export function setUsedProbes(used: ReadonlySet<string>): void {
  for (const [name, probe] of Object.entries(EBPF_EVENT_PROBES)) {
    if (!used.has(name)) probe.stopEvents();
    probe.bpf.setUsed(used.has(name));
  }
}

/** Per eBPF probe: off (never used), ok (programs, lost/suppressed events) or unsupported with the reason. */
export function ebpfStatus(): Record<EbpfEventProbeName, ReturnType<BpfProbe['status']>> {
  return Object.fromEntries(Object.entries(EBPF_EVENT_PROBES).map(([name, p]) => [name, p.bpf.status()])) as Record<EbpfEventProbeName, ReturnType<BpfProbe['status']>>;
}
