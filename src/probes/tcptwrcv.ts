// tcptwrcv: TCP segments received by connections in TIME_WAIT (native/bpf/tcptwrcv.bpf.c: a
// kfree_skb whose receiving socket is a timewait socket), counted per network namespace by
// leading flag; events are a rate-limited sample with the tuple, the timewait substate and the
// kernel's drop reason. Many SYNs here mean clients reuse ports faster than TIME_WAIT expires.
import type { NetEvent } from '../events/model.js';
import type { MetricProbe, Sample } from '../model.js';
import { BpfProbe, kernelEnum, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';

const bpf = new BpfProbe('tcptwrcv', 'segments');

/** Kernel kind → leading flag of the segment (the enum in tcptwrcv.bpf.c). */
const FLAGS = ['SYN', 'RST', 'FIN', 'ACK'] as const;

/** What a load failure of the one program most likely means, for /status. */
const NEEDS = 'needs the receiving-socket argument of skb:kfree_skb (Linux 6.11 or later)';

export const tcptwrcvProbe: MetricProbe = {
  name: 'tcptwrcv',
  scope: 'netns',
  async unsupported() {
    const why = bpf.unsupported();
    // The addon is there but the kernel refused the program: most likely an older tracepoint.
    return why && bpf.programs().some((p) => !p.loaded) ? `${why} (${NEEDS})` : why;
  },
  async collect(entity, ctx) {
    const all = await ctx.shared('bpf:tcptwrcv', async () => bpf.counters(new Set(ctx.entities.map((e) => e.netns))));
    const mine = all.get(entity.netns);
    const samples: Sample[] = FLAGS.map((flag, kind) => ({ metric: 'segments', value: mine?.get(kind) ?? 0, labels: { flag } }));
    if (entity.isHost) samples.push({ metric: 'eventslost', value: bpf.stats().lost });
    return samples;
  },
};

export function toEvent(r: BpfRecord): NetEvent {
  const flag = FLAGS[r.kind];
  if (!flag) throw new Error(`tcptwrcv: unknown kind ${r.kind}`);
  const attrs: Record<string, string | number> = {
    ...tupleAttrs(r),
    flag,
    state: tcpStateName(r.state),
    reason: kernelEnum('skb_drop_reason', 'SKB_DROP_REASON_').get(r.reason) ?? String(r.reason),
  };
  const tuple = tupleText(r);
  return recordEvent('tcptwrcv', 'TCP_TW_RCV', r, `${flag} received in ${attrs.state}${tuple ? ` ${tuple}` : ''}`, attrs);
}

/** The kernel side: counters, events (see src/bpf/registry.ts), per-program status. */
export const tcptwrcvBpf = bpf;
