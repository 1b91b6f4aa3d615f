// Benchmark: CPU of the configuration checks with and without the kernel's change
// notifications. Every check without the Kubernetes API runs over a throwaway "node" namespace
// and 20 "pod" namespaces joined to it by veths, at the default intervals (60 s, kernel log
// every 2 s), in windows of WINDOW_S (default 90) each, the first two kinds alternated twice:
//   interval  - runs on the interval only, the node's sysctls with the other checks (as before);
//   watching  - notifications on, the node's sysctls on the fast cadence, nothing changing;
//   changing  - the same with rp_filter toggled in one pod every 10 s (a finding and its
//               clearing each time).
// CPU is the whole process's (every thread: the listener's reader too). Run as root:
// `node dist/bench/checks.js`. Its last line is a JSON summary.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { createChecks, severityOf } from '../src/catalogue/index.js';
import { CheckScheduler, checkOptions, type Check } from '../src/checks/index.js';
import type { Entity } from '../src/model.js';

const PODS = 20;
const WINDOW_S = Number(process.env.WINDOW_S ?? 90);
const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const tag = `bck${process.pid % 10000}`;
const names: string[] = [];
const holders: ChildProcess[] = [];

async function netns(name: string): Promise<{ pid: number; inode: number }> {
  sh('ip', 'netns', 'add', name);
  names.push(name);
  sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
  const holder = spawn('ip', ['netns', 'exec', name, 'sleep', '3600'], { stdio: 'ignore' });
  holders.push(holder);
  const inode = statSync(`/run/netns/${name}`).ino;
  for (let i = 0; i < 100; i++) {
    try {
      if (statSync(`/proc/${holder.pid}/ns/net`).ino === inode) return { pid: holder.pid!, inode };
    } catch { /* not exec'd yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`holder of ${name} did not enter it`);
}

function cleanup(): void {
  for (const h of holders) h.kill('SIGKILL');
  for (const n of names) try { sh('ip', 'netns', 'del', n); } catch { /* gone */ }
}

async function window(label: string, entities: Entity[], nodePath: string, watch: boolean, change?: () => void, windowS = WINDOW_S) {
  // Without notifications, as before them: the node's sysctls on the interval with the rest.
  const checks: Check[] = createChecks({}).map((c) => (watch || c.name !== 'node_sysctls' ? c : { ...c, fast: false }));
  let runs = 0;
  let events = 0;
  const scheduler = new CheckScheduler({
    checks,
    entities: () => (runs++, entities),
    hostNetns: nodePath,
    options: checkOptions({ nodeName: 'bench' }),
    publisher: { publish: () => void events++ },
    severity: severityOf,
    watchChanges: watch,
  });
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  scheduler.start();
  const timer = change ? setInterval(change, 10_000) : undefined;
  await new Promise((r) => setTimeout(r, windowS * 1000));
  clearInterval(timer);
  await scheduler.stop();
  const used = process.cpuUsage(cpu0);
  const cpuMs = (used.user + used.system) / 1000;
  const seconds = (Date.now() - t0) / 1000;
  const perMin = (cpuMs / seconds) * 60;
  console.log(`${label.padEnd(9)} ${seconds.toFixed(0)} s  cpu ${cpuMs.toFixed(0)} ms  (${perMin.toFixed(1)} ms/min, ${(cpuMs / seconds / 10).toFixed(3)} % of a CPU)  discovery runs ${runs}  events ${events}`);
  return perMin;
}

async function main(): Promise<void> {
  process.on('exit', cleanup);
  const node = await netns(`${tag}-node`);
  const nodePath = `/proc/${node.pid}/ns/net`;
  const entities: Entity[] = [{ netns: node.inode, isHost: true, pids: [node.pid] }];
  for (let i = 0; i < PODS; i++) {
    const name = `${tag}-p${i}`;
    const pod = await netns(name);
    sh('ip', '-n', `${tag}-node`, 'link', 'add', `h${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
    sh('ip', '-n', name, 'addr', 'add', `10.201.${i}.2/24`, 'dev', 'eth0');
    sh('ip', '-n', name, 'link', 'set', 'eth0', 'up');
    sh('ip', '-n', `${tag}-node`, 'link', 'set', `h${i}`, 'up');
    entities.push({ netns: pod.inode, isHost: false, pids: [pod.pid], pod: { name: `p${i}`, namespace: 'bench', uid: `u${i}`, ip: `10.201.${i}.2`, source: 'cri' } });
  }
  console.log(`${PODS} pod namespaces, windows of ${WINDOW_S} s`);
  let flip = 0;
  const toggle = () => sh('ip', 'netns', 'exec', `${tag}-p0`, 'sysctl', '-qw', `net.ipv4.conf.eth0.rp_filter=${(flip ^= 1)}`);
  // Warm-up (JIT, first reads of every namespace, ids given to the pod namespaces), not reported.
  await window('warm-up', entities, nodePath, true, undefined, 15);
  // Alternated, twice each: the machine's other load moves a window's figure more than the difference.
  const interval: number[] = [];
  const watching: number[] = [];
  for (let i = 0; i < 2; i++) {
    interval.push(await window('interval', entities, nodePath, false));
    watching.push(await window('watching', entities, nodePath, true));
  }
  const changing = await window('changing', entities, nodePath, true, toggle);
  const mean = (xs: number[]) => +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1);
  console.log(JSON.stringify({ checks_cpu_ms_per_min_interval: mean(interval), checks_cpu_ms_per_min_watching: mean(watching), checks_cpu_ms_per_min_changing: +changing.toFixed(1) }));
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(1));
main()
  .catch((err) => {
    console.error(`bench: ${(err as Error).message}`);
    process.exitCode = 1;
  })
  // The namespaces' holder processes would keep the loop alive: end here (cleanup runs at exit).
  .finally(() => process.exit());
