// socketlatency: how long received data waits in a socket before the application reads it
// (sock:sk_data_ready → sock:sock_recv_length, native/bpf/socketlatency.bpf.c), per network
// namespace as a histogram kept in the kernel, the seeds' counter of reads over 100 ms, and
// events over the threshold with the tuple; and the same for TCP sends
// (tcp:tcp_sendmsg_locked → sock:sock_send_length: how long a send took, e.g. blocked on a
// full send buffer).
import type { NetEvent } from '../events/model.js';
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import { tcpStateName, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { namespaceLatencyProbe } from './latency.js';

const bpf = new BpfProbe('socketlatency', 'hist');
const READ = 0; // metric and event kinds in socketlatency.bpf.c
const SEND = 1;

export const socketlatencyProbe = namespaceLatencyProbe('socketlatency', bpf, [
  { kind: READ, histogram: 'readlatency', over100ms: 'read100ms', programs: [['sk_data_ready'], ['sock_recv_length']] },
  { kind: SEND, histogram: 'writelatency', over100ms: 'write100ms', programs: [['tcp_sendmsg_locked'], ['sock_send_length']] },
]);

export function toEvent(r: BpfRecord): NetEvent {
  const latencyMs = r.reason / 1000;
  const attrs: Record<string, string | number> = { ...tupleAttrs(r), latency_ms: latencyMs };
  if (r.protocol === 6) attrs.state = tcpStateName(r.state);
  const tuple = tupleText(r);
  const send = r.kind === SEND;
  const type = send ? 'SOCKETLAT_SENDSLOW' : 'SOCKETLAT_READSLOW';
  const msg = send
    ? `a send took ${latencyMs.toFixed(3)} ms${tuple ? ` ${tuple}` : ''}`
    : `data waited ${latencyMs.toFixed(3)} ms before the application read it${tuple ? ` ${tuple}` : ''}`;
  return recordEvent('socketlatency', type, r, msg, attrs);
}

/** The kernel side: histograms, events (see src/bpf/registry.ts), per-program status. */
export const socketlatencyBpf = bpf;
