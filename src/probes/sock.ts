// sock: socket counts and memory from /proc/<pid>/net/sockstat. `inuse` is per namespace;
// the kernel reports orphan, tw, alloc and mem for the whole machine.
import { mergeKeyValueLines, snmpFileProbe } from './snmp.js';

export const sockProbe = snmpFileProbe('sock', ['sockstat'], mergeKeyValueLines);
