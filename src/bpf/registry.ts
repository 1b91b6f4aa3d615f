// The eBPF probes that also deliver events, in one place for the agent: start and stop their
// events with the event configuration, and show their state in /status.
import type { EventPublisher } from '../events/model.js';
import * as packetloss from '../probes/packetloss.js';
import * as tcpreset from '../probes/tcpreset.js';
import * as tcpretrans from '../probes/tcpretrans.js';
import type { BpfProbe, DeliveryStats, EventOptions } from './probe.js';

export interface EbpfEventProbe {
  /** Starts events into `publisher` at most `ratePerSecond` (limited in the kernel); returns why not, if it cannot. */
  startEvents(publisher: EventPublisher, options: EventOptions): string | undefined;
  /** Stops the events; the probe's metric counters go on. */
  stopEvents(): void;
  eventStats(): DeliveryStats;
  bpf: BpfProbe;
}

export const EBPF_EVENT_PROBES = {
  packetloss: { ...packetloss, bpf: packetloss.packetlossBpf },
  tcpreset: { ...tcpreset, bpf: tcpreset.tcpresetBpf },
  tcpretrans: { ...tcpretrans, bpf: tcpretrans.tcpretransBpf },
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
