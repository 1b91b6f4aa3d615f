// tcptwrcv: TCP segments received by connections in TIME_WAIT (native/bpf/tcptwrcv.bpf.c: a
// kfree_skb whose receiving socket is a timewait socket), counted per network namespace by
// leading flag; events are a rate-limited sample with the tuple, the timewait substate and the
// kernel's drop reason. Many SYNs here mean clients reuse ports faster than TIME_WAIT expires.
import type { Sample } from '../model.js';
import { BpfProbe, kernelEnum, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { countersIn, lostEvents } from './counters.js';
import { counter, defineProbe, event, eventsLost } from './probe.js';

const NAME = 'tcptwrcv';
const kernel = new BpfProbe(NAME, 'segments');

const TW_RCV = event('TCP_TW_RCV', 'INFO', 'A segment arrived for a connection in TIME_WAIT; `flag` says which. SYN: a peer reusing the port pair before TIME_WAIT ended; FIN: usually the peer closing after a local close (the closed socket waits in TIME_WAIT form); ACK, RST: retransmissions and resets.');

/** The leading flags of the segment: the members of enum tcptwrcv_kind (tcptwrcv.bpf.c). */
const FLAGS = ['SYN', 'RST', 'FIN', 'ACK'] as const;
const ENUM = ['tcptwrcv_kind', 'TCPTWRCV_'] as const;

/** What a load failure of the one program most likely means, for /status. */
const NEEDS = 'needs the receiving-socket argument of skb:kfree_skb (Linux 6.11 or later)';

function fromRecord(r: BpfRecord) {
  const flag = kernel.kindName(...ENUM, r.kind);
  if (!flag) throw new Error(`${NAME}: unknown kind ${r.kind}`);
  const attrs: Record<string, string | number> = {
    ...tupleAttrs(r),
    flag,
    state: tcpStateName(r.state),
    reason: kernelEnum('skb_drop_reason', 'SKB_DROP_REASON_').get(r.reason) ?? String(r.reason),
  };
  const tuple = tupleText(r);
  return recordEvent(NAME, TW_RCV, r, `${flag} received in ${attrs.state}${tuple ? ` ${tuple}` : ''}`, attrs);
}

export default defineProbe({
  name: NAME,
  kernel,
  metrics: [
    counter('segments', 'skb:kfree_skb with a TIME_WAIT receiving socket', 'TCP segments received by connections in TIME_WAIT (including sockets closed in FIN_WAIT2, which wait in TIME_WAIT form), by leading flag: SYN is a peer reusing the port pair; FIN follows ordinary closes.', '{segment}', { labels: ['flag'] }),
    eventsLost(NAME),
  ],
  async unsupported() {
    const why = kernel.unsupported();
    // The addon is there but the kernel refused the program: most likely an older tracepoint.
    return why && kernel.programs().some((p) => !p.loaded) ? `${why} (${NEEDS})` : why;
  },
  async collect(entity, ctx) {
    const mine = await countersIn(kernel, entity, ctx);
    const values = kernel.kernelKinds(...ENUM);
    const samples: Sample[] = FLAGS.map((flag) => ({ metric: 'segments', value: mine?.get(values.get(flag)!) ?? 0, labels: { flag } }));
    return [...samples, ...lostEvents(kernel, entity)];
  },
  events: [TW_RCV],
  fromRecord,
});
