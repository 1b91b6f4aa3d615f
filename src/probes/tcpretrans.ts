// tcpretrans: TCP retransmissions (tcp:tcp_retransmit_skb) and SYN-ACK retransmissions
// (tcp:tcp_retransmit_synack), counted per network namespace in the kernel
// (native/bpf/tcpretrans.bpf.c); events are a rate-limited sample with tuple and state.
import type { NetEvent } from '../events/model.js';
import type { MetricProbe, Sample } from '../model.js';
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';

const bpf = new BpfProbe('tcpretrans', 'retrans');

/** Kernel kind → metric, program and event type (order of the enum in tcpretrans.bpf.c). */
const KINDS = [
  { metric: 'retrans', program: 'tcp_retransmit_skb', type: 'TCP_RETRANS' },
  { metric: 'synackretrans', program: 'tcp_retransmit_synack', type: 'TCP_RETRANS_SYNACK' },
] as const;

export const tcpretransProbe: MetricProbe = {
  name: 'tcpretrans',
  scope: 'netns',
  async unsupported() {
    return bpf.unsupported();
  },
  async collect(entity, ctx) {
    const all = await ctx.shared('bpf:tcpretrans', async () => bpf.counters(new Set(ctx.entities.map((e) => e.netns))));
    const mine = all.get(entity.netns);
    const samples: Sample[] = [];
    KINDS.forEach(({ metric, program }, kind) => {
      if (bpf.isAttached(program)) samples.push({ metric, value: mine?.get(kind) ?? 0 });
    });
    for (const f of bpf.failures()) ctx.note(`not attached, its counter is not exported: ${f}`);
    if (entity.isHost) samples.push({ metric: 'eventslost', value: bpf.stats().lost });
    return samples;
  },
};

export function toEvent(r: BpfRecord): NetEvent {
  const type = (KINDS[r.kind] ?? KINDS[0]).type;
  const attrs: Record<string, string | number> = { ...tupleAttrs(r), state: tcpStateName(r.state) };
  const tuple = tupleText(r);
  return recordEvent('tcpretrans', type, r, `${type}${tuple ? ` ${tuple}` : ''} state ${attrs.state}`, attrs);
}

/** The kernel side: counters, events (see src/bpf/registry.ts), per-program status. */
export const tcpretransBpf = bpf;
