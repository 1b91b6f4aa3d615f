// sock: socket counts and memory from /proc/<pid>/net/sockstat and sockstat6.
import { mergeKeyValueLines, snmpFileProbe } from './snmp.js';

export const sockProbe = snmpFileProbe('sock', ['sockstat', 'sockstat6'], mergeKeyValueLines);
