// tcpext: counters from /proc/<pid>/net/netstat, per network namespace.
import { snmpFileProbe } from './snmp.js';

export const tcpextProbe = snmpFileProbe('tcpext', ['netstat']);
