// tcpreset: TCP resets sent (tcp:tcp_send_reset) and received (tcp:tcp_receive_reset),
// classified in the kernel into the seeds' event types and counted per network namespace
// (native/bpf/tcpreset.bpf.c); events are a rate-limited sample with tuple and socket state.
import type { Sample } from '../model.js';
import { BpfProbe, kernelEnum, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { counter, defineProbe, event, eventsLost } from './probe.js';

const NAME = 'tcpreset';
const kernel = new BpfProbe(NAME, 'resets');

/** Kernel kind → event type, in the order of the enum in tcpreset.bpf.c. */
const TYPES = [
  event('TCP_SEND_RST', 'WARN', 'A reset was sent on a connection for a reason other than the two below.'),
  event('TCP_SEND_RST_NOSock', 'WARN', 'A reset was sent because no local socket matched the segment (closed port, lost NAT or IPVS state).'),
  event('TCP_SEND_RST_ACTIVE', 'WARN', 'A reset was sent actively by the local side (application abort, memory, linger, user close with unread data).'),
  event('TCP_RCV_RST_SYN', 'WARN', 'A reset was received during the handshake.'),
  event('TCP_RCV_RST_ESTAB', 'WARN', 'A reset was received on an established connection.'),
  event('TCP_RCV_RST_TW', 'WARN', 'A reset was received while closing (FIN_WAIT, TIME_WAIT, CLOSE_WAIT, LAST_ACK).'),
];

/** The program that produces each kind: its types are exported only when it attached. */
const SEND_KINDS = 3;
const programOf = (kind: number) => (kind < SEND_KINDS ? 'tcp_send_reset' : 'tcp_receive_reset');

function fromRecord(r: BpfRecord) {
  const def = TYPES[r.kind] ?? TYPES[0]!;
  const attrs: Record<string, string | number> = { ...tupleAttrs(r) };
  if (r.state) attrs.state = tcpStateName(r.state);
  // Send-side resets carry the kernel's sk_rst_reason (6.10+); receive-side ones have none.
  if (r.kind < SEND_KINDS) attrs.reason = kernelEnum('sk_rst_reason', 'SK_RST_REASON_').get(r.reason) ?? String(r.reason);
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
  async collect(entity, ctx) {
    const all = await ctx.shared(`bpf:${NAME}`, async () => kernel.counters(new Set(ctx.entities.map((e) => e.netns))));
    const mine = all.get(entity.netns);
    const samples: Sample[] = [];
    TYPES.forEach(({ type }, kind) => {
      if (kernel.isAttached(programOf(kind))) samples.push({ metric: 'resets', value: mine?.get(kind) ?? 0, labels: { type } });
    });
    for (const f of kernel.failures()) ctx.note(`not attached, its reset types are not exported: ${f}`);
    if (entity.isHost) samples.push({ metric: 'eventslost', value: kernel.stats().lost });
    return samples;
  },
  events: TYPES,
  fromRecord,
});
