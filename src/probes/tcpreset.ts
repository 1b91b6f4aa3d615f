// tcpreset: TCP resets sent (tcp:tcp_send_reset) and received (tcp:tcp_receive_reset),
// classified in the kernel into the seeds' event types and counted per network namespace
// (native/bpf/tcpreset.bpf.c); events are a rate-limited sample with tuple and socket state.
import { BpfProbe, kernelEnum, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { kindSamples } from './counters.js';
import { counter, defineProbe, event, eventsLost } from './probe.js';

const NAME = 'tcpreset';
const kernel = new BpfProbe(NAME, 'resets');

/** Each member of enum tcpreset_kind (tcpreset.bpf.c) → its event type and the program that counts it. */
const KINDS = {
  SEND_RST: { program: 'tcp_send_reset', event: event('TCP_SEND_RST', 'WARN', 'A reset was sent on a connection for a reason other than the two below.') },
  SEND_RST_NOSOCK: { program: 'tcp_send_reset', event: event('TCP_SEND_RST_NOSock', 'WARN', 'A reset was sent because no local socket matched the segment (closed port, lost NAT or IPVS state).') },
  SEND_RST_ACTIVE: { program: 'tcp_send_reset', event: event('TCP_SEND_RST_ACTIVE', 'WARN', 'A reset was sent actively by the local side (application abort, memory, linger, user close with unread data).') },
  RCV_RST_SYN: { program: 'tcp_receive_reset', event: event('TCP_RCV_RST_SYN', 'WARN', 'A reset was received during the handshake.') },
  RCV_RST_ESTAB: { program: 'tcp_receive_reset', event: event('TCP_RCV_RST_ESTAB', 'WARN', 'A reset was received on an established connection.') },
  RCV_RST_TW: { program: 'tcp_receive_reset', event: event('TCP_RCV_RST_TW', 'WARN', 'A reset was received while closing (FIN_WAIT, TIME_WAIT, CLOSE_WAIT, LAST_ACK).') },
} as const;
const TYPES = Object.values(KINDS).map((k) => k.event);
const ENUM = ['tcpreset_kind', 'TCPRESET_'] as const;

function fromRecord(r: BpfRecord) {
  const kind = KINDS[kernel.kindName(...ENUM, r.kind) as keyof typeof KINDS];
  if (!kind) throw new Error(`${NAME}: unknown kind ${r.kind}`);
  const def = kind.event;
  const attrs: Record<string, string | number> = { ...tupleAttrs(r) };
  if (r.state) attrs.state = tcpStateName(r.state);
  // Send-side resets carry the kernel's sk_rst_reason (6.10+); receive-side ones have none.
  if (kind.program === 'tcp_send_reset') attrs.reason = kernelEnum('sk_rst_reason', 'SK_RST_REASON_').get(r.reason) ?? String(r.reason);
  const tuple = tupleText(r);
  return recordEvent(NAME, def, r, `${def.type}${tuple ? ` ${tuple}` : ''}${attrs.state ? ` state ${attrs.state}` : ''}${attrs.reason ? ` reason ${attrs.reason}` : ''}`, attrs);
}

export default defineProbe({
  name: NAME,
  aliases: ['tcp_reset'],
  kernel,
  metrics: [
    counter('resets', 'tcp:tcp_send_reset, tcp:tcp_receive_reset', `TCP resets sent and received, by event type (${TYPES.map((t) => t.type).join(', ')}).`, '{segment}', { labels: ['type'] }),
    eventsLost(NAME),
  ],
  unsupported: async () => kernel.unsupported(),
  collect: (entity, ctx) => kindSamples(kernel, entity, ctx, ENUM, KINDS,
    (kind, value) => ({ metric: 'resets', value, labels: { type: kind.event.type } }), 'its reset types are not exported'),
  events: TYPES,
  fromRecord,
});
