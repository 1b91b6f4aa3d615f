// sockbacklog: accept queues of listening TCP sockets from sock_diag. For a LISTEN socket the
// kernel reports the accept-queue length as rqueue and the backlog limit as wqueue; the queue
// is full once it holds more than the backlog (sk_acceptq_is_full).
import { TCP_STATES } from '../netlink/sockdiag.js';
import { needsNative } from './native.js';
import { defineProbe, gauge } from './probe.js';
import { tcpSocketsOf } from './shared.js';

export default defineProbe({
  name: 'sockbacklog',
  aliases: ['accept', 'acceptqueue'],
  metrics: [
    gauge('recvq', 'LISTEN rqueue', 'Connections completed and waiting for accept(), summed over listening sockets.', '{connection}'),
    gauge('fulllisteners', 'LISTEN rqueue >= backlog', 'Listening sockets whose accept queue is full.', '{socket}'),
  ],
  unsupported: needsNative,
  async collect(entity, ctx) {
    const listeners = (await tcpSocketsOf(entity, ctx)).filter((s) => s.state === TCP_STATES.LISTEN);
    return [
      { metric: 'recvq', value: listeners.reduce((n, s) => n + s.rqueue, 0) },
      { metric: 'fulllisteners', value: listeners.filter((s) => s.rqueue > s.wqueue).length },
    ];
  },
});
