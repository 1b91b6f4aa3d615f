// socketlatency: how long received data waits in a socket before the application reads it
// (sock:sk_data_ready → sock:sock_recv_length, native/bpf/socketlatency.bpf.c), per network
// namespace as a histogram kept in the kernel, the seeds' counter of reads over 100 ms, and
// events over the threshold with the tuple; and the same for TCP sends
// (tcp:tcp_sendmsg_locked → sock:sock_send_length: how long a send took, e.g. blocked on a
// full send buffer).
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { histogram, LATENCY_PERIOD, LATENCY_SAMPLE, LATENCY_THRESHOLD, LATENCY_WINDOW, PER_PACKET, SAMPLED, tuneSampling, namespaceLatencies, writeThreshold } from './latency.js';
import { counter, defineProbe, event, eventsLost } from './probe.js';

const NAME = 'socketlatency';
const kernel = new BpfProbe(NAME, 'hist');
/** Its kinds: enum socketlatency_kind of socketlatency.bpf.c. */
const ENUM = ['socketlatency_kind', 'SOCKETLATENCY_'] as const;

const READSLOW = event('SOCKETLAT_READSLOW', 'WARN', 'Data waited in a socket longer than the threshold before the application read it.');
const SENDSLOW = event('SOCKETLAT_SENDSLOW', 'WARN', 'A TCP send took longer than the threshold (tcp:tcp_sendmsg_locked → sock:sock_send_length), e.g. blocked on a full send buffer.');

function fromRecord(r: BpfRecord) {
  const latencyMs = r.reason / 1000;
  const attrs: Record<string, string | number> = { ...tupleAttrs(r), latency_ms: latencyMs };
  if (r.protocol === 6) attrs.state = tcpStateName(r.state);
  const tuple = tupleText(r);
  const kind = kernel.kindName(...ENUM, r.kind);
  if (kind !== 'READ' && kind !== 'SEND') throw new Error(`${NAME}: unknown kind ${r.kind}`);
  const send = kind === 'SEND';
  const msg = send
    ? `a send took ${latencyMs.toFixed(3)} ms${tuple ? ` ${tuple}` : ''}`
    : `data waited ${latencyMs.toFixed(3)} ms before the application read it${tuple ? ` ${tuple}` : ''}`;
  return recordEvent(NAME, send ? SENDSLOW : READSLOW, r, msg, attrs);
}

export default defineProbe({
  name: NAME,
  kernel,
  metrics: [
    histogram('readlatency', 'sock:sk_data_ready → sock:sock_recv_length', 'Time received data waited in an IPv4/IPv6 socket before the application read it (first data ready since the last read, to the next read returning data).'),
    counter('read100ms', 'sock:sk_data_ready → sock:sock_recv_length', 'Socket reads whose data had waited more than 100 ms.', '{event}', { sampled: SAMPLED }),
    histogram('writelatency', 'tcp:tcp_sendmsg_locked → sock:sock_send_length', 'Time TCP sends took, from entering tcp_sendmsg_locked to the send returning (including waits for send-buffer space).'),
    counter('write100ms', 'tcp:tcp_sendmsg_locked → sock:sock_send_length', 'TCP sends that took more than 100 ms.', '{event}', { sampled: SAMPLED }),
    eventsLost(NAME),
  ],
  unsupported: async () => kernel.unsupported(),
  collect: namespaceLatencies(kernel, ENUM, [
    { kind: 'READ', histogram: 'readlatency', over100ms: 'read100ms', programs: [['sk_data_ready'], ['sock_recv_length']] },
    { kind: 'SEND', histogram: 'writelatency', over100ms: 'write100ms', programs: [['tcp_sendmsg_locked'], ['sock_send_length']] },
  ]),
  events: [READSLOW, SENDSLOW],
  fromRecord,
  configure: (options) => writeThreshold(kernel, options),
  tune: tuneSampling(kernel),
  optIn: PER_PACKET,
  options: [LATENCY_THRESHOLD, LATENCY_SAMPLE, LATENCY_WINDOW, LATENCY_PERIOD],
});
