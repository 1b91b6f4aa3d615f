// packetloss: packets the kernel drops (skb:kfree_skb), counted in the kernel per network
// namespace and drop reason (native/bpf/packetloss.bpf.c). Metrics read those counters, so
// they do not depend on events being on; events are a rate-limited sample with the 5-tuple,
// the reason and the symbolized kernel stack.
import type { NetEvent } from '../events/model.js';
import type { MetricProbe, Sample } from '../model.js';
import { Kallsyms } from '../bpf/kallsyms.js';
import { BpfProbe, kernelEnum, recordEvent } from '../bpf/probe.js';
import { stackAddresses, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';

const bpf = new BpfProbe('packetloss', 'drops');
const kallsyms = new Kallsyms();
/** Symbolized stacks by raw stack: drops come from a handful of sites, over and over. */
const stacks = new Map<string, string>();

/** The KCE metrics with a reason of their own, by the kernel's reason name. */
const NAMED: Record<string, string> = {
  netfilter: 'NETFILTER_DROP',
  nosocket: 'NO_SOCKET',
  otherhost: 'OTHERHOST',
  iprpfilter: 'IP_RPFILTER',
  nomem: 'NOMEM',
  zerowindow: 'TCP_ZEROWINDOW',
};

function reasons(): Map<number, string> {
  return kernelEnum('skb_drop_reason', 'SKB_DROP_REASON_');
}

/** A reason code as this kernel names it (subsystem reasons keep their number). */
export function reasonName(code: number): string {
  return reasons().get(code) ?? `REASON_${code}`;
}

export const packetlossProbe: MetricProbe = {
  name: 'packetloss',
  scope: 'netns',
  async unsupported() {
    return bpf.unsupported();
  },
  async collect(entity, ctx) {
    const all = await ctx.shared('bpf:packetloss', async () => bpf.counters(new Set(ctx.entities.map((e) => e.netns))));
    const mine = all.get(entity.netns);
    const codes = new Map([...reasons()].map(([code, name]) => [name, code]));
    let total = 0;
    const samples: Sample[] = [];
    for (const [code, count] of mine ?? []) {
      total += count;
      samples.push({ metric: 'byreason', value: count, labels: { reason: reasonName(code) } });
    }
    samples.push({ metric: 'total', value: total });
    for (const [metric, reason] of Object.entries(NAMED)) {
      const code = codes.get(reason);
      if (code === undefined) ctx.note(`drop reason ${reason} does not exist on this kernel: ${metric} not exported`);
      else samples.push({ metric, value: mine?.get(code) ?? 0 });
    }
    if (entity.isHost) samples.push({ metric: 'eventslost', value: bpf.stats().lost });
    return samples;
  },
};

// Frames of the tracing machinery itself, above the function that dropped the packet.
const GLUE = /^(bpf_prog_|bpf_trace_run|__bpf_trace_|__traceiter_)/;

export function toEvent(r: BpfRecord): NetEvent {
  const reason = reasonName(r.reason);
  let stack = stacks.get(r.stackKey);
  if (stack === undefined) {
    stack = stackAddresses(r.stackKey).map((a) => kallsyms.symbolize(a)).filter((s) => !GLUE.test(s)).join(' ');
    if (stacks.size >= 4096) stacks.clear();
    stacks.set(r.stackKey, stack);
  }
  const tuple = tupleText(r);
  return recordEvent('packetloss', 'PACKETLOSS', r, `packet dropped: ${reason}${tuple ? ` ${tuple}` : ''}`, { reason, ...tupleAttrs(r), stack });
}

/** The kernel side: counters, events (see src/bpf/registry.ts), per-program status. */
export const packetlossBpf = bpf;
