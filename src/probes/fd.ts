// fd: open descriptors and sockets of every process in the namespace (/proc/<pid>/fd).
import type { PidStats } from '../procfs/pids.js';
import { defineProbe, gauge } from './probe.js';
import { pidStatsOf } from './shared.js';

/** Open descriptors and sockets of one process (0 when it has exited). */
function countsOf(s: PidStats): { fds: number; sockets: number } {
  if (s.fds) return s.fds;
  if (s.fdError === 'ENOENT' || s.fdError === 'ESRCH') return { fds: 0, sockets: 0 }; // the process exited meanwhile
  // EACCES without CAP_SYS_PTRACE: say so rather than report zeros
  throw Object.assign(new Error(`cannot list /proc/${s.pid}/fd: ${s.fdError}`), { code: s.fdError });
}

export default defineProbe({
  name: 'fd',
  metrics: [
    gauge('openfd', '/proc/<pid>/fd', 'Open file descriptors of the processes in the namespace.', '{fd}'),
    gauge('opensocket', '/proc/<pid>/fd -> socket:', 'Open socket descriptors of the processes in the namespace.', '{fd}'),
  ],
  async collect(entity, ctx) {
    let fds = 0;
    let sockets = 0;
    for (const s of await pidStatsOf(entity, ctx)) {
      const n = countsOf(s);
      fds += n.fds;
      sockets += n.sockets;
    }
    return [{ metric: 'openfd', value: fds }, { metric: 'opensocket', value: sockets }];
  },
});
