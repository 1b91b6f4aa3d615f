// packetloss: packets the kernel drops (skb:kfree_skb), counted in the kernel per network
// namespace and drop reason (native/bpf/packetloss.bpf.c). Metrics read those counters, so
// they do not depend on events being on; events are a rate-limited sample with the 5-tuple,
// the reason and the symbolized kernel stack.
import type { Sample } from '../model.js';
import { Kallsyms } from '../bpf/kallsyms.js';
import { BpfProbe, kernelEnum, recordEvent } from '../bpf/probe.js';
import { stackAddresses, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { countersIn, lostEvents } from './counters.js';
import { counter, defineProbe, event, eventsLost } from './probe.js';

const NAME = 'packetloss';
const kernel = new BpfProbe(NAME, 'drops');
const kallsyms = new Kallsyms();
/** Symbolized stacks by raw stack: drops come from a handful of sites, over and over. */
const stacks = new Map<string, string>();

const PACKETLOSS = event('PACKETLOSS', 'WARN', 'The kernel dropped a packet (skb:kfree_skb); `reason` is the kernel drop reason, `stack` where it happened.');

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

// Frames of the tracing machinery itself, above the function that dropped the packet.
const GLUE = /^(bpf_prog_|bpf_trace_run|__bpf_trace_|__traceiter_)/;

function fromRecord(r: BpfRecord) {
  const reason = reasonName(r.reason);
  let stack = stacks.get(r.stackKey);
  if (stack === undefined) {
    stack = stackAddresses(r.stackKey).map((a) => kallsyms.symbolize(a)).filter((s) => !GLUE.test(s)).join(' ');
    if (stacks.size >= 4096) stacks.clear();
    stacks.set(r.stackKey, stack);
  }
  const tuple = tupleText(r);
  return recordEvent(NAME, PACKETLOSS, r, `packet dropped: ${reason}${tuple ? ` ${tuple}` : ''}`, { reason, ...tupleAttrs(r), stack });
}

export default defineProbe({
  name: NAME,
  kernel,
  metrics: [
    counter('total', 'skb:kfree_skb', 'Packets the kernel freed as dropped (skb:kfree_skb), every drop reason.', '{packet}', { ack: 'inspector_pod_totalloss' }),
    counter('netfilter', 'skb:kfree_skb NETFILTER_DROP', 'Packets dropped by netfilter (iptables/nftables DROP, policy DROP).', '{packet}'),
    counter('nosocket', 'skb:kfree_skb NO_SOCKET', 'Packets dropped because no socket wanted them (closed port).', '{packet}'),
    counter('otherhost', 'skb:kfree_skb OTHERHOST', 'Packets dropped because their destination MAC was another host.', '{packet}'),
    counter('iprpfilter', 'skb:kfree_skb IP_RPFILTER', 'Packets dropped by the reverse path filter (rp_filter).', '{packet}'),
    counter('nomem', 'skb:kfree_skb NOMEM', 'Packets dropped because memory could not be allocated.', '{packet}'),
    counter('zerowindow', 'skb:kfree_skb TCP_ZEROWINDOW', 'TCP segments dropped because the receive window was zero.', '{packet}'),
    counter('byreason', 'skb:kfree_skb reason', 'Packets the kernel dropped, by drop reason (the running kernel\'s enum skb_drop_reason without SKB_DROP_REASON_).', '{packet}', { labels: ['reason'], ack: 'inspector_pod_packetloss' }),
    eventsLost(NAME),
  ],
  unsupported: async () => kernel.unsupported(),
  async collect(entity, ctx) {
    const mine = await countersIn(kernel, entity, ctx);
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
    return [...samples, ...lostEvents(kernel, entity)];
  },
  events: [PACKETLOSS],
  fromRecord,
});
