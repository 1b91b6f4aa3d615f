// kernellatency: how long packets take through the protocol stack (native/bpf/kernellatency.bpf.c),
// per network namespace of the socket: receive from net:netif_receive_skb to the transport layer
// (tcp:tcp_probe, or UDP's sock:sk_data_ready), transmit from TCP's departure timestamp to
// net:net_dev_queue; histograms kept in the kernel, the seeds' counters of packets over 100 ms,
// and events over the threshold with the packet's tuple.
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { histogram, LATENCY_PERIOD, LATENCY_SAMPLE, LATENCY_THRESHOLD, LATENCY_WINDOW, PER_PACKET, SAMPLED, tuneSampling, namespaceLatencies, writeThreshold } from './latency.js';
import { counter, defineProbe, event, eventsLost } from './probe.js';

const NAME = 'kernellatency';
const kernel = new BpfProbe(NAME, 'hist');
/** Its kinds: enum kernellatency_kind of kernellatency.bpf.c. */
const ENUM = ['kernellatency_kind', 'KERNELLATENCY_'] as const;

const RCV_SLOW = event('KERNEL_RCV_SLOW', 'WARN', 'A packet took longer than the threshold from the device to its socket.');
const SEND_SLOW = event('KERNEL_SEND_SLOW', 'WARN', 'A packet took longer than the threshold from the socket to the device.');

function fromRecord(r: BpfRecord) {
  const latencyMs = r.reason / 1000;
  const kind = kernel.kindName(...ENUM, r.kind);
  if (kind !== 'RX' && kind !== 'TX') throw new Error(`${NAME}: unknown kind ${r.kind}`);
  const rx = kind === 'RX';
  const attrs: Record<string, string | number> = { ...tupleAttrs(r), latency_ms: latencyMs };
  if (r.protocol === 6 && r.state) attrs.state = tcpStateName(r.state);
  const tuple = tupleText(r);
  const msg = rx
    ? `a packet took ${latencyMs.toFixed(3)} ms from the device to the transport layer${tuple ? ` ${tuple}` : ''}`
    : `a TCP segment took ${latencyMs.toFixed(3)} ms from TCP to the device${tuple ? ` ${tuple}` : ''}`;
  return recordEvent(NAME, rx ? RCV_SLOW : SEND_SLOW, r, msg, attrs);
}

export default defineProbe({
  name: NAME,
  kernel,
  metrics: [
    histogram('rxlatency', 'net:netif_receive_skb → tcp:tcp_probe / sock:sk_data_ready (UDP)', 'Time received packets took from the stack taking them from the device to the transport layer (an established TCP socket processing the segment, or UDP queueing the datagram): netfilter, routing and the socket backlog; per namespace of the socket.'),
    histogram('txlatency', 'TCP departure timestamp (skb->tstamp) → net:net_dev_queue', 'Time TCP segments took from the start of TCP\'s transmit pass (their departure timestamp) to being queued to a device: routing, netfilter, neighbour resolution, before the qdisc; pure ACKs and paced segments are not measured; per namespace of the socket.'),
    counter('rxslow100ms', 'net:netif_receive_skb → tcp:tcp_probe / sock:sk_data_ready (UDP)', 'Received packets that took more than 100 ms through the stack.', '{packet}', { sampled: SAMPLED, ack: 'kernellatency_rxslow100ms' }),
    counter('txslow100ms', 'TCP departure timestamp (skb->tstamp) → net:net_dev_queue', 'TCP segments that took more than 100 ms from TCP to the device.', '{packet}', { sampled: SAMPLED, ack: 'kernellatency_txslow100ms' }),
    eventsLost(NAME),
  ],
  unsupported: async () => kernel.unsupported(),
  // Receive needs its start and at least one of its ends (TCP or UDP).
  collect: namespaceLatencies(kernel, ENUM, [
    { kind: 'RX', histogram: 'rxlatency', over100ms: 'rxslow100ms', programs: [['netif_receive_skb'], ['tcp_probe', 'sk_data_ready']] },
    { kind: 'TX', histogram: 'txlatency', over100ms: 'txslow100ms', programs: [['net_dev_queue']] },
  ]),
  events: [RCV_SLOW, SEND_SLOW],
  fromRecord,
  configure: (options) => writeThreshold(kernel, options),
  tune: tuneSampling(kernel),
  optIn: PER_PACKET,
  options: [LATENCY_THRESHOLD, LATENCY_SAMPLE, LATENCY_WINDOW, LATENCY_PERIOD],
});
