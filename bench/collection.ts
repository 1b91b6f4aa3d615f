// Benchmark: collection CPU per cycle with 1, 20 and 110 network namespaces, and scrape
// latency of /metrics, side by side with prometheus-node-exporter scraped in the same run.
// Run as root: `node dist/bench/collection.js` (or all benchmarks: `npm run bench`). Creates and
// removes its own namespaces (bench-ns-*). Its last line is a JSON summary (see bench/run.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../src/agent.js';
import { createLogger } from '../src/log.js';
import { freePort } from '../test/helpers/net.js';
import { createNamespaces, removeNamespaces } from './namespaces.js';

const CYCLES = 10;
// An agent's first minute (12 cycles at the default 5 s interval) includes V8 compiling the
// collection code: the measured cycles are those of an agent past it; the first ones are shown
// beside them.
const WARMUP_CYCLES = 12;
// Metric collection only: event probes (eBPF, checks) have their own benchmark (bench/bpf.ts).
const CONFIG = join(mkdtempSync(join(tmpdir(), 'kubesonar-bench-')), 'config.yaml');
// Every metric probe, the opt-in ones too (an empty list means all): the measure.
writeFileSync(CONFIG, 'enableEventServer: false\nmetric_config:\n  probes: []\n');
const agentOptions = { nodeName: 'bench', port: 0, configPath: CONFIG, runtimeSocket: '/nonexistent.sock' };
const SCRAPES = 50;

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const fmt = (n: number) => n.toFixed(2);

async function timeScrapes(url: string, cpuOf?: () => number): Promise<{ p50: number; p99: number; bytes: number; series: number; cpuMs?: number }> {
  const times: number[] = [];
  let body = '';
  const cpu0 = cpuOf?.();
  for (let i = 0; i < SCRAPES; i++) {
    const t = performance.now();
    body = await (await fetch(url)).text();
    times.push(performance.now() - t);
  }
  const cpuMs = cpuOf ? (cpuOf() - cpu0!) / SCRAPES : undefined;
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), bytes: body.length, series: body.split('\n').filter((l) => l && !l.startsWith('#')).length, cpuMs };
}

/** utime + stime of a process in ms (clock ticks are 100 Hz on Linux). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function main(): Promise<void> {
  const log = createLogger(() => {});
  const rows: string[] = [];
  const cycleCpuMs = new Map<number, number>();
  for (const total of [1, 20, 110]) {
    const ns = createNamespaces(total - 1, 'bench');
    const agent = new Agent({ ...agentOptions, log });
    try {
      await agent.start();
      await agent.collector.stop();
      const warmup: number[] = [];
      for (let i = 0; i < WARMUP_CYCLES; i++) warmup.push((await agent.collector.collect()).cpuMs);
      const cpu: number[] = [];
      const wall: number[] = [];
      for (let i = 0; i < CYCLES; i++) {
        const snap = await agent.collector.collect();
        cpu.push(snap.cpuMs);
        wall.push(snap.durationMs);
      }
      const entities = agent.collector.snapshot.entities.length;
      cycleCpuMs.set(total, quantile(cpu, 0.5));
      if (process.env.BENCH_VERBOSE) {
        const per = Object.entries(agent.collector.status()).map(([p, st]) => `${p}=${fmt(st.lastDurationMs)}`).join(' ');
        console.error(`netns=${total} discovery=${fmt(agent.discovery.lastDurationMs ?? 0)}ms probes(wall ms): ${per}`);
      }
      const scrape = await timeScrapes(`http://127.0.0.1:${agent.server.address!.port}/metrics`);
      rows.push(`| ${total} | ${entities} | ${fmt(quantile(cpu, 0.5))} | ${fmt(quantile(warmup.slice(1), 0.5))} | ${fmt(quantile(wall, 0.5))} | ${scrape.series} | ${fmt(scrape.p50)} | ${fmt(scrape.p99)} |`);
    } finally {
      await agent.stop();
      removeNamespaces(ns);
    }
  }
  console.log('\nkubesonar collection (all metric probes, median of %d cycles after %d warm-up cycles) and /metrics scrape (%d scrapes)\n', CYCLES, WARMUP_CYCLES, SCRAPES);
  console.log('| netns | entities | cycle CPU ms | warm-up cycles 2-%d CPU ms | cycle wall ms | series | scrape p50 ms | scrape p99 ms |', WARMUP_CYCLES);
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);

  // The peer: node-exporter collects on every scrape, so its CPU per scrape is its collection cost.
  const port = await freePort();
  const ne = spawn('prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  try {
    const url = `http://127.0.0.1:${port}/metrics`;
    for (let i = 0; i < 50; i++) {
      if (await fetch(url).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const peer = await timeScrapes(url, () => processCpuMs(ne.pid!));
    const host = new Agent({ ...agentOptions, log });
    await host.start();
    await host.collector.stop();
    for (let i = 0; i < WARMUP_CYCLES; i++) await host.collector.collect();
    const own = await timeScrapes(`http://127.0.0.1:${host.server.address!.port}/metrics`);
    const cycles: number[] = [];
    for (let i = 0; i < CYCLES; i++) cycles.push((await host.collector.collect()).cpuMs);
    await host.stop();
    console.log('\nhost only, same run: kubesonar vs prometheus-node-exporter (default collectors)\n');
    console.log('| | series | scrape p50 ms | scrape p99 ms | CPU ms per collection |');
    console.log('|---|---|---|---|---|');
    console.log(`| kubesonar | ${own.series} | ${fmt(own.p50)} | ${fmt(own.p99)} | ${fmt(quantile(cycles, 0.5))} (per cycle, off the scrape path) |`);
    console.log(`| node-exporter | ${peer.series} | ${fmt(peer.p50)} | ${fmt(peer.p99)} | ${fmt(peer.cpuMs!)} (per scrape) |`);
    const hostRatio = quantile(cycles, 0.5) / peer.cpuMs!;
    console.log(`\nratios kubesonar / node-exporter: scrape p50 ${fmt(own.p50 / peer.p50)}, CPU per collection ${fmt(hostRatio)}`);
    console.log(JSON.stringify({
      cycle_cpu_ms_110: round(cycleCpuMs.get(110)!),
      cycle_cpu_ms_20: round(cycleCpuMs.get(20)!),
      host_cpu_ratio_vs_node_exporter: round(hostRatio),
    }));
  } finally {
    ne.kill('SIGTERM');
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

main().then(() => process.exit(0), (e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
