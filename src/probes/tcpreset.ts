// tcpreset: TCP resets sent (tcp:tcp_send_reset) and received (tcp:tcp_receive_reset),
// classified in the kernel into the seeds' event types and counted per network namespace
// (native/bpf/tcpreset.bpf.c); events are a rate-limited sample with tuple and socket state.
import type { EventType } from '../catalogue/events.js';
import type { NetEvent } from '../events/model.js';
import type { MetricProbe, Sample } from '../model.js';
import { BpfProbe, kernelEnum, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';

const bpf = new BpfProbe('tcpreset', 'resets');

/** Kernel kind → event type, in the order of the enum in tcpreset.bpf.c. */
export const RESET_TYPES = [
  'TCP_SEND_RST', 'TCP_SEND_RST_NOSock', 'TCP_SEND_RST_ACTIVE', 'TCP_RCV_RST_SYN', 'TCP_RCV_RST_ESTAB', 'TCP_RCV_RST_TW',
] as const satisfies readonly EventType[];

/** The program that produces each kind: its types are exported only when it attached. */
const SEND_KINDS = [0, 1, 2];
const programOf = (kind: number) => (SEND_KINDS.includes(kind) ? 'tcp_send_reset' : 'tcp_receive_reset');

export const tcpresetProbe: MetricProbe = {
  name: 'tcpreset',
  scope: 'netns',
  async unsupported() {
    return bpf.unsupported();
  },
  async collect(entity, ctx) {
    const all = await ctx.shared('bpf:tcpreset', async () => bpf.counters(new Set(ctx.entities.map((e) => e.netns))));
    const mine = all.get(entity.netns);
    const samples: Sample[] = [];
    RESET_TYPES.forEach((type, kind) => {
      if (bpf.isAttached(programOf(kind))) samples.push({ metric: 'resets', value: mine?.get(kind) ?? 0, labels: { type } });
    });
    for (const f of bpf.failures()) ctx.note(`not attached, its reset types are not exported: ${f}`);
    if (entity.isHost) samples.push({ metric: 'eventslost', value: bpf.stats().lost });
    return samples;
  },
};

export function toEvent(r: BpfRecord): NetEvent {
  const type = RESET_TYPES[r.kind] ?? 'TCP_SEND_RST';
  const attrs: Record<string, string | number> = { ...tupleAttrs(r) };
  if (r.state) attrs.state = tcpStateName(r.state);
  // Send-side resets carry the kernel's sk_rst_reason (6.10+); receive-side ones have none.
  if (r.kind <= 2) attrs.reason = kernelEnum('sk_rst_reason', 'SK_RST_REASON_').get(r.reason) ?? String(r.reason);
  const tuple = tupleText(r);
  return recordEvent('tcpreset', type, r, `${type}${tuple ? ` ${tuple}` : ''}${attrs.state ? ` state ${attrs.state}` : ''}${attrs.reason ? ` reason ${attrs.reason}` : ''}`, attrs);
}

/** The kernel side: counters, events (see src/bpf/registry.ts), per-program status. */
export const tcpresetBpf = bpf;
