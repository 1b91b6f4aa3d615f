// netiftxlat: transmit latency below the stack (native/bpf/netiftxlat.bpf.c), per network
// namespace of the device: how long packets wait in the qdisc (net:net_dev_queue →
// net:net_dev_start_xmit) and how long the driver takes to transmit them (net:net_dev_start_xmit
// → net:net_dev_xmit), as histograms kept in the kernel, counters of those over 100 ms, and
// events over the threshold.
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import { tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { histogram, LATENCY_PERIOD, LATENCY_SAMPLE, LATENCY_THRESHOLD, LATENCY_WINDOW, PER_PACKET, SAMPLED, tuneSampling, namespaceLatencies, writeThreshold } from './latency.js';
import { counter, defineProbe, event, eventsLost } from './probe.js';

const NAME = 'netiftxlat';
const kernel = new BpfProbe(NAME, 'hist');
/** Its kinds: enum netiftxlat_kind of netiftxlat.bpf.c. */
const ENUM = ['netiftxlat_kind', 'NETIFTXLAT_'] as const;

const QDISC_SLOW = event('NETIF_TXLAT_QDISC_SLOW', 'WARN', 'A packet waited in the qdisc longer than the threshold.');
const XMIT_SLOW = event('NETIF_TXLAT_XMIT_SLOW', 'WARN', 'The driver took longer than the threshold to transmit a packet.');

function fromRecord(r: BpfRecord) {
  const latencyMs = r.reason / 1000;
  const kind = kernel.kindName(...ENUM, r.kind);
  if (kind !== 'QDISC' && kind !== 'XMIT') throw new Error(`${NAME}: unknown kind ${r.kind}`);
  const qdisc = kind === 'QDISC';
  const tuple = tupleText(r);
  const msg = qdisc
    ? `a packet waited ${latencyMs.toFixed(3)} ms in the qdisc${tuple ? ` ${tuple}` : ''}`
    : `the driver took ${latencyMs.toFixed(3)} ms to transmit a packet`;
  return recordEvent(NAME, qdisc ? QDISC_SLOW : XMIT_SLOW, r, msg, { ...tupleAttrs(r), latency_ms: latencyMs });
}

export default defineProbe({
  name: NAME,
  kernel,
  metrics: [
    histogram('qdisclatency', 'net:net_dev_queue → net:net_dev_start_xmit', 'Time packets waited from entering the device transmit path (before the qdisc) to being handed to the driver, per namespace of the device; only transmit queues with a qdisc (noqueue devices such as veth pairs have nothing to wait in).'),
    histogram('xmitlatency', 'net:net_dev_start_xmit → net:net_dev_xmit', 'Time the driver took to transmit a packet (ndo_start_xmit), per namespace of the device.'),
    counter('qdisc100ms', 'net:net_dev_queue → net:net_dev_start_xmit', 'Packets that waited more than 100 ms in the qdisc.', '{packet}', { sampled: SAMPLED }),
    counter('xmit100ms', 'net:net_dev_start_xmit → net:net_dev_xmit', 'Packets the driver took more than 100 ms to transmit.', '{packet}', { sampled: SAMPLED }),
    eventsLost(NAME),
  ],
  unsupported: async () => kernel.unsupported(),
  collect: namespaceLatencies(kernel, ENUM, [
    { kind: 'QDISC', histogram: 'qdisclatency', over100ms: 'qdisc100ms', programs: [['net_dev_queue'], ['net_dev_start_xmit']] },
    { kind: 'XMIT', histogram: 'xmitlatency', over100ms: 'xmit100ms', programs: [['net_dev_start_xmit'], ['net_dev_xmit']] },
  ]),
  events: [QDISC_SLOW, XMIT_SLOW],
  fromRecord,
  configure: (options) => writeThreshold(kernel, options),
  tune: tuneSampling(kernel),
  optIn: PER_PACKET,
  options: [LATENCY_THRESHOLD, LATENCY_SAMPLE, LATENCY_WINDOW, LATENCY_PERIOD],
});
