// fd: open descriptors and sockets of every process in the namespace (/proc/<pid>/fd).
import { readdirSync, readlinkSync } from 'node:fs';
import { defineProbe, gauge } from './probe.js';

/** Synchronous like procfs/read.ts: these are memory reads, and there can be thousands. */
export function countFds(pid: number): { fds: number; sockets: number } {
  const dir = `/proc/${pid}/fd`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return { fds: 0, sockets: 0 }; // the process exited meanwhile
    throw e; // EACCES without CAP_SYS_PTRACE: say so rather than report zeros
  }
  let sockets = 0;
  for (const n of names) {
    try {
      if (readlinkSync(`${dir}/${n}`).startsWith('socket:')) sockets++;
    } catch {
      // closed meanwhile
    }
  }
  return { fds: names.length, sockets };
}

export default defineProbe({
  name: 'fd',
  metrics: [
    gauge('openfd', '/proc/<pid>/fd', 'Open file descriptors of the processes in the namespace.', '{fd}'),
    gauge('opensocket', '/proc/<pid>/fd -> socket:', 'Open socket descriptors of the processes in the namespace.', '{fd}'),
  ],
  async collect(entity) {
    let fds = 0;
    let sockets = 0;
    for (const pid of entity.pids) {
      const n = countFds(pid);
      fds += n.fds;
      sockets += n.sockets;
    }
    return [{ metric: 'openfd', value: fds }, { metric: 'opensocket', value: sockets }];
  },
});
