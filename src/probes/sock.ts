// sock: socket counts and memory from /proc/<pid>/net/sockstat and sockstat6; `+` sums IPv4
// and IPv6. inuse and tw are per namespace; orphan, alloc and mem are kernel-wide.
import { defineProbe, gauge, HOST } from './probe.js';
import { mergeKeyValueLines, snmpCollect } from './snmp.js';

const METRICS = [
  gauge('inuse', 'TCP:inuse+TCP6:inuse', 'TCP sockets in use (listening and connected, IPv4 and IPv6) in the namespace.', '{socket}'),
  gauge('tw', 'TCP:tw', 'TCP sockets in TIME_WAIT in the namespace.', '{socket}'),
  gauge('orphan', 'TCP:orphan', 'TCP sockets no longer attached to a file (kernel-wide).', '{socket}', HOST),
  gauge('alloc', 'TCP:alloc', 'TCP sockets allocated (kernel-wide).', '{socket}', HOST),
  gauge('mem', 'TCP:mem', 'Memory pages used by TCP socket buffers (kernel-wide).', '{page}', HOST),
  gauge('inuse_udp', 'UDP:inuse+UDP6:inuse', 'UDP sockets in use (IPv4 and IPv6) in the namespace.', '{socket}'),
  gauge('mem_udp', 'UDP:mem', 'Memory pages used by UDP socket buffers (kernel-wide).', '{page}', HOST),
];

export default defineProbe({ name: 'sock', metrics: METRICS, collect: snmpCollect(['sockstat', 'sockstat6'], METRICS, mergeKeyValueLines) });
