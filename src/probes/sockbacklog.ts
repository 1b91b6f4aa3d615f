// sockbacklog: accept queues of listening TCP sockets from sock_diag. For a LISTEN socket the
// kernel reports the accept-queue length as rqueue and the backlog limit as wqueue; the queue
// is full once it holds more than the backlog (sk_acceptq_is_full).
import type { MetricProbe } from '../model.js';
import { TCP_STATES } from '../netlink/sockdiag.js';
import { needsNative } from './native.js';
import { tcpSocketsOf } from './shared.js';

export const sockbacklogProbe: MetricProbe = {
  name: 'sockbacklog',
  scope: 'netns',
  unsupported: needsNative,
  async collect(entity, ctx) {
    const listeners = (await tcpSocketsOf(entity, ctx)).filter((s) => s.state === TCP_STATES.LISTEN);
    return [
      { metric: 'recvq', value: listeners.reduce((n, s) => n + s.rqueue, 0) },
      { metric: 'fulllisteners', value: listeners.filter((s) => s.rqueue > s.wqueue).length },
    ];
  },
};
