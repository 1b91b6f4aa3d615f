// ip: Ip counters from /proc/<pid>/net/snmp and IpExt from netstat, per network namespace.
import { snmpFileProbe } from './snmp.js';

export const ipProbe = snmpFileProbe('ip', ['snmp', 'netstat']);
