// netiftxlat: transmit latency below the stack (native/bpf/netiftxlat.bpf.c), per network
// namespace of the device: how long packets wait in the qdisc (net:net_dev_queue →
// net:net_dev_start_xmit) and how long the driver takes to transmit them (net:net_dev_start_xmit
// → net:net_dev_xmit), as histograms kept in the kernel, counters of those over 100 ms, and
// events over the threshold.
import { eventDef } from '../catalogue/events.js';
import type { NetEvent } from '../events/model.js';
import type { MetricProbe, Sample } from '../model.js';
import { BpfProbe, ktimeToEpochNs } from '../bpf/probe.js';
import { tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { emptyHistogram, histogramOf, over100ms } from './latency.js';

const bpf = new BpfProbe('netiftxlat', 'hist');
const QDISC = 0; // metric and event kinds in netiftxlat.bpf.c
const XMIT = 1;

export const netiftxlatProbe: MetricProbe = {
  name: 'netiftxlat',
  scope: 'netns',
  async unsupported() {
    return bpf.unsupported();
  },
  async collect(entity, ctx) {
    const samples: Sample[] = [];
    for (const f of bpf.failures()) ctx.note(`not attached, the latency it begins or ends is not exported: ${f}`);
    const read = () => ctx.shared('bpf:netiftxlat', async () => bpf.counters(new Set(ctx.entities.map((e) => e.netns))));
    if (bpf.isAttached('net_dev_queue') && bpf.isAttached('net_dev_start_xmit')) {
      const h = histogramOf((await read()).get(entity.netns), QDISC << 8);
      samples.push({ metric: 'qdisclatency', value: h ?? emptyHistogram() });
      samples.push({ metric: 'qdisc100ms', value: over100ms(h) });
    }
    if (bpf.isAttached('net_dev_start_xmit') && bpf.isAttached('net_dev_xmit')) {
      const h = histogramOf((await read()).get(entity.netns), XMIT << 8);
      samples.push({ metric: 'xmitlatency', value: h ?? emptyHistogram() });
      samples.push({ metric: 'xmit100ms', value: over100ms(h) });
    }
    if (entity.isHost) samples.push({ metric: 'eventslost', value: bpf.stats().lost });
    return samples;
  },
};

export function toEvent(r: BpfRecord): NetEvent {
  const latencyMs = r.reason / 1000;
  const qdisc = r.kind === QDISC;
  if (!qdisc && r.kind !== XMIT) throw new Error(`netiftxlat: unknown kind ${r.kind}`);
  const type = qdisc ? 'NETIF_TXLAT_QDISC_SLOW' : 'NETIF_TXLAT_XMIT_SLOW';
  const tuple = tupleText(r);
  return {
    timeUnixNano: ktimeToEpochNs(r.ktimeNs),
    type,
    probe: 'netiftxlat',
    severity: eventDef(type)!.severity,
    msg: qdisc
      ? `a packet waited ${latencyMs.toFixed(3)} ms in the qdisc${tuple ? ` ${tuple}` : ''}`
      : `the driver took ${latencyMs.toFixed(3)} ms to transmit a packet`,
    netns: r.netns || undefined,
    attrs: { ...tupleAttrs(r), latency_ms: latencyMs },
  };
}

/** The kernel side: histograms, events (see src/bpf/registry.ts), per-program status. */
export const netiftxlatBpf = bpf;
