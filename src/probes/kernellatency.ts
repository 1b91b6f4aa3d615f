// kernellatency: how long packets take through the protocol stack (native/bpf/kernellatency.bpf.c),
// per network namespace of the socket: receive from net:netif_receive_skb to the transport layer
// (tcp:tcp_probe, or UDP's sock:sk_data_ready), transmit from TCP's departure timestamp to
// net:net_dev_queue; histograms kept in the kernel, the seeds' counters of packets over 100 ms,
// and events over the threshold with the packet's tuple.
import type { NetEvent } from '../events/model.js';
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { namespaceLatencyProbe } from './latency.js';

const bpf = new BpfProbe('kernellatency', 'hist');
const RX = 0; // metric and event kinds in kernellatency.bpf.c
const TX = 1;

// Receive needs its start and at least one of its ends (TCP or UDP).
export const kernellatencyProbe = namespaceLatencyProbe('kernellatency', bpf, [
  { kind: RX, histogram: 'rxlatency', over100ms: 'rxslow100ms', programs: [['netif_receive_skb'], ['tcp_probe', 'sk_data_ready']] },
  { kind: TX, histogram: 'txlatency', over100ms: 'txslow100ms', programs: [['net_dev_queue']] },
]);

export function toEvent(r: BpfRecord): NetEvent {
  const latencyMs = r.reason / 1000;
  const rx = r.kind === RX;
  if (!rx && r.kind !== TX) throw new Error(`kernellatency: unknown kind ${r.kind}`);
  const type = rx ? 'KERNEL_RCV_SLOW' : 'KERNEL_SEND_SLOW';
  const attrs: Record<string, string | number> = { ...tupleAttrs(r), latency_ms: latencyMs };
  if (r.protocol === 6 && r.state) attrs.state = tcpStateName(r.state);
  const tuple = tupleText(r);
  const msg = rx
    ? `a packet took ${latencyMs.toFixed(3)} ms from the device to the transport layer${tuple ? ` ${tuple}` : ''}`
    : `a TCP segment took ${latencyMs.toFixed(3)} ms from TCP to the device${tuple ? ` ${tuple}` : ''}`;
  return recordEvent('kernellatency', type, r, msg, attrs);
}

/** The kernel side: histograms, events (see src/bpf/registry.ts), per-program status. */
export const kernellatencyBpf = bpf;
