// sockbacklog: accept queues of listening TCP sockets from sock_diag. For a LISTEN socket the
// kernel reports the accept-queue length as rqueue and the backlog limit as wqueue; the queue
// is full once it holds more than the backlog (sk_acceptq_is_full).
import { netnsPath, type MetricProbe } from '../model.js';
import { inetSockets, TCP_STATES } from '../netlink/sockdiag.js';
import { needsNative } from './native.js';

export const sockbacklogProbe: MetricProbe = {
  name: 'sockbacklog',
  scope: 'netns',
  unsupported: needsNative,
  async collect(entity) {
    const path = netnsPath(entity);
    const states = 1 << TCP_STATES.LISTEN;
    const listeners = (await Promise.all([4, 6].map((family) => inetSockets(path, { family: family as 4 | 6, protocol: 'tcp', states })))).flat();
    return [
      { metric: 'recvq', value: listeners.reduce((n, s) => n + s.rqueue, 0) },
      { metric: 'fulllisteners', value: listeners.filter((s) => s.rqueue > s.wqueue).length },
    ];
  },
};
