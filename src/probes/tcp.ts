// tcp: counters from /proc/<pid>/net/snmp, per network namespace.
import { snmpFileProbe } from './snmp.js';

export const tcpProbe = snmpFileProbe('tcp', ['snmp']);
