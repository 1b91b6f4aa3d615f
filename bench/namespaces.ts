// Network namespaces shaped like pods' for the benchmarks that need many (collection, memory):
// each with lo up, a veth whose eth0 end is inside and whose peer stays in the host (as a cali*
// device would), and a process living in it, since the agent finds namespaces through /proc.
import { execFileSync, spawn } from 'node:child_process';

export interface BenchNamespaces {
  names: string[];
  pids: number[];
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** `n` namespaces named `<prefix>-ns-<pid>-<i>`; their host-side veths `<prefix[0]>v<i>h<pid % 1000>`. */
export function createNamespaces(n: number, prefix: string): BenchNamespaces {
  const made: BenchNamespaces = { names: [], pids: [] };
  for (let i = 0; i < n; i++) {
    const name = `${prefix}-ns-${process.pid}-${i}`;
    sh('ip', ['netns', 'add', name]);
    made.names.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    sh('ip', ['link', 'add', `${prefix[0]}v${i}h${process.pid % 1000}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
    const child = spawn('ip', ['netns', 'exec', name, 'sleep', '3600'], { stdio: 'ignore', detached: true });
    child.unref();
    made.pids.push(child.pid!);
  }
  return made;
}

/** Kills the namespaces' processes and deletes them (their veths go with them). */
export function removeNamespaces({ names, pids }: BenchNamespaces): void {
  for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  for (const name of names) try { sh('ip', ['netns', 'del', name]); } catch { /* gone */ }
}
