// The eBPF probes that also deliver events, in one place for the agent: start and stop their
// events with the event configuration, and show their state in /status.
import type { EventPublisher, NetEvent } from '../events/model.js';
import * as packetloss from '../probes/packetloss.js';
import * as tcpreset from '../probes/tcpreset.js';
import * as tcpretrans from '../probes/tcpretrans.js';
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

/** A probe's kernel side and its record → event conversion, as an event source. */
function eventProbe(bpf: BpfProbe, toEvent: (r: BpfRecord) => NetEvent): EbpfEventProbe {
  return {
    startEvents: (publisher, options) => bpf.startEvents(options, (r) => publisher.publish(toEvent(r))),
    stopEvents: () => bpf.stopEvents(),
    eventStats: () => bpf.stats(),
    bpf,
  };
}

export const EBPF_EVENT_PROBES = {
  packetloss: eventProbe(packetloss.packetlossBpf, packetloss.toEvent),
  tcpreset: eventProbe(tcpreset.tcpresetBpf, tcpreset.toEvent),
  tcpretrans: eventProbe(tcpretrans.tcpretransBpf, tcpretrans.toEvent),
} satisfies Record<string, EbpfEventProbe>;

export type EbpfEventProbeName = keyof typeof EBPF_EVENT_PROBES;

/** Per eBPF probe: off (never used), ok (programs, lost/suppressed events) or unsupported with the reason. */
export function ebpfStatus(): Record<EbpfEventProbeName, ReturnType<BpfProbe['status']>> {
  return {
    packetloss: EBPF_EVENT_PROBES.packetloss.bpf.status(),
    tcpreset: EBPF_EVENT_PROBES.tcpreset.bpf.status(),
    tcpretrans: EBPF_EVENT_PROBES.tcpretrans.bpf.status(),
  };
}
