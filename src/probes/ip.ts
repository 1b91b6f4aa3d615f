// ip: Ip counters from /proc/<pid>/net/snmp and IpExt from netstat, per network namespace.
import { counter, defineProbe } from './probe.js';
import { snmpCollect } from './snmp.js';

const METRICS = [
  counter('inreceives', 'Ip:InReceives', 'IP packets received, errors included.', '{packet}'),
  counter('inhdrerrors', 'Ip:InHdrErrors', 'Packets dropped for header errors (checksum, version, TTL).', '{packet}'),
  counter('inaddrerrors', 'Ip:InAddrErrors', 'Packets dropped for an invalid destination address.', '{packet}'),
  counter('forwdatagrams', 'Ip:ForwDatagrams', 'Packets forwarded.', '{packet}'),
  counter('inunknownprotos', 'Ip:InUnknownProtos', 'Packets for an unsupported protocol.', '{packet}'),
  counter('indiscards', 'Ip:InDiscards', 'Received packets discarded for lack of resources.', '{packet}'),
  counter('indelivers', 'Ip:InDelivers', 'Packets delivered to upper protocols.', '{packet}'),
  counter('outrequests', 'Ip:OutRequests', 'Packets handed to IP for sending.', '{packet}'),
  counter('outdiscards', 'Ip:OutDiscards', 'Outgoing packets discarded for lack of resources.', '{packet}'),
  counter('outnoroutes', 'Ip:OutNoRoutes', 'Outgoing packets dropped for lack of a route.', '{packet}'),
  counter('reasmfails', 'Ip:ReasmFails', 'Reassembly failures.', '{packet}'),
  counter('fragfails', 'Ip:FragFails', 'Packets that needed fragmenting but could not be (DF set).', '{packet}'),
  counter('innoroutes', 'IpExt:InNoRoutes', 'Received packets dropped for lack of a route.', '{packet}'),
  counter('intruncatedpkts', 'IpExt:InTruncatedPkts', 'Received packets shorter than their header says.', '{packet}'),
];

export default defineProbe({ name: 'ip', metrics: METRICS, collect: snmpCollect(['snmp', 'netstat'], METRICS) });
