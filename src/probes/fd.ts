// fd: open descriptors and sockets of every process in the namespace (/proc/<pid>/fd).
import { readdir, readlink } from 'node:fs/promises';
import type { MetricProbe } from '../model.js';

export async function countFds(pid: number): Promise<{ fds: number; sockets: number }> {
  const dir = `/proc/${pid}/fd`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { fds: 0, sockets: 0 }; // the process exited meanwhile
  }
  const targets = await Promise.all(names.map((n) => readlink(`${dir}/${n}`).catch(() => '')));
  return { fds: names.length, sockets: targets.filter((t) => t.startsWith('socket:')).length };
}

export const fdProbe: MetricProbe = {
  name: 'fd',
  scope: 'netns',
  async collect(entity) {
    let fds = 0;
    let sockets = 0;
    for (const pid of entity.pids) {
      const n = await countFds(pid);
      fds += n.fds;
      sockets += n.sockets;
    }
    return [{ metric: 'openfd', value: fds }, { metric: 'opensocket', value: sockets }];
  },
};
