// `npm run bench` (root): every benchmark in turn, each in a process of its own so its CPU and
// memory figures are its own: collection and scrape (bench/collection.ts), the eBPF datapath
// (bench/bpf.ts), the event pipeline into the Loki sink (bench/events.ts), the agent's memory
// (bench/memory.ts) and the dns probe's cost (bench/dns.ts). Their tables pass
// through; each one's last line is a JSON object of figures, and the last line of this run is
// all of them merged into one JSON object with the keys below (null where one was not measured,
// and then the exit code is 1).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = ['collection.js', 'bpf.js', 'events.js', 'memory.js', 'dns.js'];
const KEYS = [
  'cycle_cpu_ms_110', 'cycle_cpu_ms_20', 'host_cpu_ratio_vs_node_exporter',
  'udp_loss_pct_default', 'udp_loss_pct_all', 'tcp_loss_pct_all',
  'rss_mb_110', 'loki_events_per_s', 'loki_us_per_event', 'loki_peak_rss_mb', 'dns_ns_per_non_dns_packet',
] as const;

/** Runs one benchmark, passing its output through; resolves to its last line parsed as JSON. */
function runBench(file: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(file, import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4096);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = tail.trimEnd().split('\n').pop() ?? '';
      try {
        const figures = JSON.parse(last) as Record<string, number>;
        if (code !== 0) process.exitCode = 1;
        resolve(figures);
      } catch {
        reject(new Error(`${file} exited with ${code} without a JSON summary as its last line`));
      }
    });
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const figures: Record<string, number> = {};
  for (const file of BENCHES) {
    console.log(`\n## ${file.replace(/\.js$/, '')}\n`);
    try {
      Object.assign(figures, await runBench(file));
    } catch (err) {
      console.error(`bench: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  }
  const summary = Object.fromEntries(KEYS.map((k) => [k, figures[k] ?? null]));
  const missing = KEYS.filter((k) => summary[k] === null);
  console.log(`\nall benchmarks: ${Math.round((Date.now() - started) / 1000)} s${missing.length ? `; not measured: ${missing.join(', ')}` : ''}`);
  if (missing.length) process.exitCode = 1;
  console.log(JSON.stringify(summary));
}

void main();
