// netiftxlat: transmit latency below the stack (native/bpf/netiftxlat.bpf.c), per network
// namespace of the device: how long packets wait in the qdisc (net:net_dev_queue →
// net:net_dev_start_xmit) and how long the driver takes to transmit them (net:net_dev_start_xmit
// → net:net_dev_xmit), as histograms kept in the kernel, counters of those over 100 ms, and
// events over the threshold.
import type { NetEvent } from '../events/model.js';
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import { tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { namespaceLatencyProbe } from './latency.js';

const bpf = new BpfProbe('netiftxlat', 'hist');
const QDISC = 0; // metric and event kinds in netiftxlat.bpf.c
const XMIT = 1;

export const netiftxlatProbe = namespaceLatencyProbe('netiftxlat', bpf, [
  { kind: QDISC, histogram: 'qdisclatency', over100ms: 'qdisc100ms', programs: [['net_dev_queue'], ['net_dev_start_xmit']] },
  { kind: XMIT, histogram: 'xmitlatency', over100ms: 'xmit100ms', programs: [['net_dev_start_xmit'], ['net_dev_xmit']] },
]);

export function toEvent(r: BpfRecord): NetEvent {
  const latencyMs = r.reason / 1000;
  const qdisc = r.kind === QDISC;
  if (!qdisc && r.kind !== XMIT) throw new Error(`netiftxlat: unknown kind ${r.kind}`);
  const type = qdisc ? 'NETIF_TXLAT_QDISC_SLOW' : 'NETIF_TXLAT_XMIT_SLOW';
  const tuple = tupleText(r);
  const msg = qdisc
    ? `a packet waited ${latencyMs.toFixed(3)} ms in the qdisc${tuple ? ` ${tuple}` : ''}`
    : `the driver took ${latencyMs.toFixed(3)} ms to transmit a packet`;
  return recordEvent('netiftxlat', type, r, msg, { ...tupleAttrs(r), latency_ms: latencyMs });
}

/** The kernel side: histograms, events (see src/bpf/registry.ts), per-program status. */
export const netiftxlatBpf = bpf;
