// tcpretrans: TCP retransmissions (tcp:tcp_retransmit_skb) and SYN-ACK retransmissions
// (tcp:tcp_retransmit_synack), counted per network namespace in the kernel
// (native/bpf/tcpretrans.bpf.c); events are a rate-limited sample with tuple and state.
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { kindSamples } from './counters.js';
import { counter, defineProbe, event, eventsLost } from './probe.js';

const NAME = 'tcpretrans';
const kernel = new BpfProbe(NAME, 'retrans');

/** Each member of enum tcpretrans_kind (tcpretrans.bpf.c) → its metric, program and event type. */
const KINDS = {
  RETRANS: { metric: 'retrans', program: 'tcp_retransmit_skb', event: event('TCP_RETRANS', 'INFO', 'A TCP segment was retransmitted (sampled).') },
  SYNACK: { metric: 'synackretrans', program: 'tcp_retransmit_synack', event: event('TCP_RETRANS_SYNACK', 'INFO', 'A SYN-ACK was retransmitted (sampled).') },
} as const;
const ENUM = ['tcpretrans_kind', 'TCPRETRANS_'] as const;

function fromRecord(r: BpfRecord) {
  const kind = KINDS[kernel.kindName(...ENUM, r.kind) as keyof typeof KINDS];
  if (!kind) throw new Error(`${NAME}: unknown kind ${r.kind}`);
  const def = kind.event;
  const attrs: Record<string, string | number> = { ...tupleAttrs(r), state: tcpStateName(r.state) };
  const tuple = tupleText(r);
  return recordEvent(NAME, def, r, `${def.type}${tuple ? ` ${tuple}` : ''} state ${attrs.state}`, attrs);
}

export default defineProbe({
  name: NAME,
  kernel,
  metrics: [
    counter('retrans', 'tcp:tcp_retransmit_skb', 'TCP retransmissions seen by the tracepoint (one per retransmitted skb, before TSO splitting).', '{segment}'),
    counter('synackretrans', 'tcp:tcp_retransmit_synack', 'SYN-ACKs retransmitted for connections being accepted.', '{segment}'),
    eventsLost(NAME),
  ],
  unsupported: async () => kernel.unsupported(),
  collect: (entity, ctx) => kindSamples(kernel, entity, ctx, ENUM, KINDS, (kind, value) => ({ metric: kind.metric, value }), 'its counter is not exported'),
  events: Object.values(KINDS).map((k) => k.event),
  fromRecord,
});
