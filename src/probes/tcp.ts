// tcp: counters from /proc/<pid>/net/snmp, per network namespace.
import { counter, defineProbe, gauge } from './probe.js';
import { snmpCollect } from './snmp.js';

const METRICS = [
  counter('activeopens', 'Tcp:ActiveOpens', 'Connections this namespace started (SYN sent), failed ones included.', '{connection}'),
  counter('passiveopens', 'Tcp:PassiveOpens', 'Connections accepted from peers (handshake completed, socket created).', '{connection}'),
  counter('attemptfails', 'Tcp:AttemptFails', 'Connection attempts that failed (SYN_SENT or SYN_RECV to CLOSED or LISTEN).', '{connection}'),
  counter('estabresets', 'Tcp:EstabResets', 'Established or CLOSE_WAIT connections that were reset.', '{connection}'),
  gauge('currestab', 'Tcp:CurrEstab', 'Connections currently ESTABLISHED or CLOSE_WAIT.', '{connection}'),
  counter('insegs', 'Tcp:InSegs', 'Segments received, errors included.', '{segment}'),
  counter('outsegs', 'Tcp:OutSegs', 'Segments sent, retransmissions excluded.', '{segment}'),
  counter('retransseg', 'Tcp:RetransSegs', 'Segments retransmitted (TSO segments counted after splitting).', '{segment}', { ack: 'inspector_pod_tcpretranssegs' }),
  counter('inerrs', 'Tcp:InErrs', 'Segments received in error (bad checksum, malformed).', '{segment}'),
  counter('outrsts', 'Tcp:OutRsts', 'Segments sent with the RST flag.', '{segment}'),
  counter('incsumerrors', 'Tcp:InCsumErrors', 'Segments received with a bad checksum.', '{segment}'),
];

export default defineProbe({ name: 'tcp', metrics: METRICS, collect: snmpCollect(['snmp'], METRICS) });
