// sockbacklog: accept queues of listening TCP sockets from sock_diag. For a LISTEN socket the
// kernel reports the accept-queue length as rqueue and the backlog limit as wqueue; the queue
// is full once it holds more than the backlog (sk_acceptq_is_full). A full queue refuses
// connections without freeing anything through kfree_skb, but the kernel counts them in the
// listener's sk_drops (tcp_listendrop()), which sock_diag reports: per listening port as a
// counter, and as a LISTEN_OVERFLOW event naming the listener whenever it grew since the
// last collection.
import { nowUnixNano } from '../events/model.js';
import type { Entity, Sample } from '../model.js';
import { TCP_STATES, type InetSocket } from '../netlink/sockdiag.js';
import { MonotonicSums } from '../util/monotonic.js';
import { needsNative } from './native.js';
import { counter, defineProbe, event, gauge } from './probe.js';
import { tcpSocketsOf } from './shared.js';

const NAME = 'sockbacklog';
const OVERFLOW = event('LISTEN_OVERFLOW', 'WARN', 'A listening socket refused connections because its accept queue was full (the application accepts too slowly, or its backlog is too small); `sport` is its port, `drops` the SYNs and handshake-completing ACKs it discarded since the last collection, `accept_queue` and `backlog` its queue then.');

/** Per-port totals that stay monotonic while listeners come and go. */
const sums = new MonotonicSums();
/** Per namespace: listener inode → its sk_drops at the previous collection. */
const previous = new Map<number, Map<number, number>>();
/** The entity list the state above was last pruned to. */
let pruned: readonly Entity[] | undefined;

const ip = (s: InetSocket) => (s.family === 6 ? `[${s.srcAddr}]` : s.srcAddr);

export default defineProbe({
  name: NAME,
  aliases: ['accept', 'acceptqueue'],
  metrics: [
    gauge('recvq', 'LISTEN rqueue', 'Connections completed and waiting for accept(), summed over listening sockets.', '{connection}'),
    gauge('fulllisteners', 'LISTEN rqueue >= backlog', 'Listening sockets whose accept queue is full.', '{socket}'),
    counter('drops', 'LISTEN sk_drops (INET_DIAG_SKMEMINFO)', 'SYNs refused and handshake-completing ACKs discarded by the listening sockets of a port while their accept queue was full (what `ss -ltnm` shows as d).', '{packet}', { labels: ['port'] }),
  ],
  unsupported: needsNative,
  async collect(entity, ctx) {
    const listeners = (await tcpSocketsOf(entity, ctx)).filter((s) => s.state === TCP_STATES.LISTEN);
    const samples: Sample[] = [
      { metric: 'recvq', value: listeners.reduce((n, s) => n + s.rqueue, 0) },
      { metric: 'fulllisteners', value: listeners.filter((s) => s.rqueue > s.wqueue).length },
    ];
    if (ctx.entities !== pruned) { // once per cycle: the entity list is one array per cycle
      pruned = ctx.entities;
      const live = new Set(ctx.entities.map((e) => e.netns));
      sums.retain(live);
      for (const ns of previous.keys()) if (!live.has(ns)) previous.delete(ns);
    }
    const byPort = new Map<number, Map<string, number>>();
    const was = previous.get(entity.netns);
    const now = new Map<number, number>();
    for (const l of listeners) {
      if (l.drops === undefined) continue;
      let parts = byPort.get(l.srcPort);
      if (!parts) byPort.set(l.srcPort, (parts = new Map()));
      parts.set(String(l.inode), l.drops);
      now.set(l.inode, l.drops);
      const before = was?.get(l.inode);
      // The first sight of a listener has no earlier count: drops before it are not news.
      if (before === undefined || l.drops <= before || !ctx.publish) continue;
      const drops = l.drops - before;
      ctx.publish({
        timeUnixNano: nowUnixNano(), type: OVERFLOW.type, probe: NAME, severity: OVERFLOW.severity, netns: entity.netns,
        msg: `listener ${ip(l)}:${l.srcPort} refused ${drops} connection attempts: accept queue ${l.rqueue}/${l.wqueue} (backlog)`,
        attrs: { family: `ipv${l.family}`, protocol: 'TCP', saddr: l.srcAddr, sport: l.srcPort, accept_queue: l.rqueue, backlog: l.wqueue, drops },
      });
    }
    previous.set(entity.netns, now);
    for (const [port, parts] of byPort) samples.push({ metric: 'drops', value: sums.total(entity.netns, `drops:${port}`, parts), labels: { port: String(port) } });
    return samples;
  },
  events: [OVERFLOW],
});
