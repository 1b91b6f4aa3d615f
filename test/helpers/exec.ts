// Runs commands on the host or inside the network namespace of a pid, for tests.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { waitForLine } from './wait.js';

const pexec = promisify(execFile);

export async function sh(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await pexec(cmd, args, { maxBuffer: 16 << 20 });
  return stdout;
}

/** Runs a command in the network namespace of `pid` (only the netns changes). */
export function inNetns(pid: number, cmd: string, args: string[]): Promise<string> {
  return sh('nsenter', [`--net=/proc/${pid}/ns/net`, cmd, ...args]);
}

/** Starts a long-running command in the netns of `pid`; resolves once it printed `ready`. */
export async function spawnInNetns(pid: number, cmd: string, args: string[]): Promise<ChildProcess> {
  const child = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, cmd, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitForLine(child, /ready/, 30_000);
  return child;
}

/** Absolute kernel counters as `nstat` prints them in the netns of `pid`. */
export async function nstat(pid: number): Promise<Map<string, number>> {
  const out = await inNetns(pid, 'nstat', ['-a', '-z', '-s']);
  const map = new Map<string, number>();
  for (const line of out.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name && !name.startsWith('#') && value !== undefined) map.set(name, Number(value));
  }
  return map;
}
