// udp: counters from /proc/<pid>/net/snmp, per network namespace.
import { snmpFileProbe } from './snmp.js';

export const udpProbe = snmpFileProbe('udp', ['snmp']);
