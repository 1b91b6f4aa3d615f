// tcpsummary: TCP connections by state and queued bytes, from sock_diag in the namespace
// (not by parsing /proc/net/tcp, which is slow with many sockets).
import { TCP_STATES } from '../netlink/sockdiag.js';
import { needsNative } from './native.js';
import { defineProbe, gauge } from './probe.js';
import { tcpSocketsOf } from './shared.js';

const COUNTED: Record<string, number> = {
  tcpestablishedconn: TCP_STATES.ESTABLISHED,
  tcptimewaitconn: TCP_STATES.TIME_WAIT,
  tcpclosewaitconn: TCP_STATES.CLOSE_WAIT,
  tcpsynsentconn: TCP_STATES.SYN_SENT,
  tcpsynrecvconn: TCP_STATES.SYN_RECV,
};

export default defineProbe({
  name: 'tcpsummary',
  metrics: [
    gauge('tcpestablishedconn', 'ESTABLISHED', 'TCP connections in ESTABLISHED.', '{connection}'),
    gauge('tcptimewaitconn', 'TIME_WAIT', 'TCP connections in TIME_WAIT.', '{connection}'),
    gauge('tcpclosewaitconn', 'CLOSE_WAIT', 'TCP connections in CLOSE_WAIT (peer closed, application has not).', '{connection}'),
    gauge('tcpsynsentconn', 'SYN_SENT', 'TCP connections in SYN_SENT.', '{connection}'),
    gauge('tcpsynrecvconn', 'SYN_RECV', 'TCP connections in SYN_RECV.', '{connection}'),
    gauge('tcptxqueue', 'wqueue', 'Bytes in the send queues of ESTABLISHED connections.', 'By'),
    gauge('tcprxqueue', 'rqueue', 'Bytes in the receive queues of ESTABLISHED connections.', 'By'),
  ],
  unsupported: needsNative,
  async collect(entity, ctx) {
    const socks = await tcpSocketsOf(entity, ctx);
    const byState = new Map<number, number>();
    let txQueue = 0;
    let rxQueue = 0;
    for (const s of socks) {
      byState.set(s.state, (byState.get(s.state) ?? 0) + 1);
      if (s.state === TCP_STATES.ESTABLISHED) {
        txQueue += s.wqueue;
        rxQueue += s.rqueue;
      }
    }
    return [
      ...Object.entries(COUNTED).map(([metric, state]) => ({ metric, value: byState.get(state) ?? 0 })),
      { metric: 'tcptxqueue', value: txQueue },
      { metric: 'tcprxqueue', value: rxQueue },
    ];
  },
});
