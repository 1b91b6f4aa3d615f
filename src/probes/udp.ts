// udp: counters from /proc/<pid>/net/snmp, per network namespace.
import { counter, defineProbe } from './probe.js';
import { snmpCollect } from './snmp.js';

const METRICS = [
  counter('indatagrams', 'Udp:InDatagrams', 'Datagrams delivered to sockets.', '{datagram}'),
  counter('noports', 'Udp:NoPorts', 'Datagrams to a port with no socket.', '{datagram}'),
  counter('inerrors', 'Udp:InErrors', 'Datagrams that could not be delivered (buffer full, checksum, memory).', '{datagram}'),
  counter('outdatagrams', 'Udp:OutDatagrams', 'Datagrams sent.', '{datagram}'),
  counter('rcvbuferrors', 'Udp:RcvbufErrors', 'Datagrams dropped because the socket receive buffer was full.', '{datagram}'),
  counter('sndbuferrors', 'Udp:SndbufErrors', 'Datagrams not sent because the send buffer was full.', '{datagram}'),
  counter('incsumerrors', 'Udp:InCsumErrors', 'Datagrams received with a bad checksum.', '{datagram}'),
  counter('ignoredmulti', 'Udp:IgnoredMulti', 'Multicast or broadcast datagrams no socket wanted.', '{datagram}'),
  counter('memerrors', 'Udp:MemErrors', 'Datagrams dropped because UDP memory was exhausted.', '{datagram}'),
];

export default defineProbe({ name: 'udp', metrics: METRICS, collect: snmpCollect(['snmp'], METRICS) });
