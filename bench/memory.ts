// Memory benchmark: the agent's resident memory on a node with 110 network namespaces (the
// host and 109 others, each with a veth like a pod's eth0), every metric probe and the default
// event probes, with the stdout, Loki and remote write sinks on. The agent runs as the CLI does
// (`kubesonar run --config`), in a process of its own, with the Node options the image sets
// (the ENV lines of deploy/Dockerfile). On loopback: a Loki receiver that decodes every
// push, a remote write receiver, connections refused at a closed port (reset events for the
// Loki and stdout sinks), and a /metrics scrape every 5 s as Prometheus would. RSS is sampled
// from /proc every 250 ms over the run; the peak is the kernel's high-water mark (VmHWM).
// Run as root: `node dist/bench/memory.js [seconds]` (default 30; env MEMORY_BENCH_SECONDS;
// MEMORY_BENCH_NODE_OPTIONS instead of the image's options, to compare heap limits).
// Its last line is a JSON summary {"rss_mb_110": peak} (see bench/run.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createConnection, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LokiReceiver } from '../test/helpers/loki-receiver.js';
import { freePort } from '../test/helpers/net.js';
import { imageEnv } from './entry.js';
import { createNamespaces, removeNamespaces } from './namespaces.js';
import { statusKb } from './soak/process.js';

const NAMESPACES = 110;
const INTERVAL_S = 2; // collection cycles: shorter than the default 5 s, so a short run sees many
const SCRAPE_MS = 5000;
const SAMPLE_MS = 250;
const RESETS_PER_S = 50;
const root = fileURLToPath(new URL('../..', import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A remote write endpoint that accepts every push (the body is counted, not decoded). */
async function remoteWriteReceiver(): Promise<{ url: string; requests: () => number; bytes: () => number; close: () => Promise<void> }> {
  let requests = 0;
  let bytes = 0;
  const server = createHttpServer((req, res) => {
    req.on('data', (c: Buffer) => { bytes += c.length; });
    req.on('end', () => {
      requests++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`, requests: () => requests, bytes: () => bytes,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** VmRSS and VmHWM of a process, MB. */
function rssOf(pid: number): { rss: number; hwm: number } {
  const [rss, hwm] = statusKb(pid, 'VmRSS', 'VmHWM');
  return { rss: rss! / 1024, hwm: hwm! / 1024 };
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? process.env.MEMORY_BENCH_SECONDS ?? 30);
  if (!Number.isFinite(seconds) || seconds < 5) throw new Error(`seconds must be a number ≥ 5, got ${process.argv[2]}`);
  const loki = await new LokiReceiver().start();
  const rw = await remoteWriteReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'kubesonar-memory-'));
  const metricsPort = await freePort();
  const eventPort = await freePort();
  const closedPort = await freePort(); // nothing listens: every connection is refused with a reset
  writeFileSync(join(dir, 'config.yaml'), [
    'metric_config:',
    `  interval: ${INTERVAL_S}`,
    `  port: ${metricsPort}`,
    'event_config:',
    `  port: ${eventPort}`,
    '  sinks:',
    '    stdout: { enabled: true }',
    `    loki: { enabled: true, url: "${loki.url}" }`,
    `    remote_write: { enabled: true, url: "${rw.url}", interval_seconds: 5 }`,
    '',
  ].join('\n'));
  const image = imageEnv();
  const nodeOptions = process.env.MEMORY_BENCH_NODE_OPTIONS ?? image.NODE_OPTIONS ?? ''; // the override: to compare heap limits
  const ns = createNamespaces(NAMESPACES - 1, 'memory');
  let stdoutLines = 0;
  const agent = spawn(process.execPath, [join(root, 'dist/src/cli/main.js'), 'run', '--config', join(dir, 'config.yaml')], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, ...image, NODE_OPTIONS: nodeOptions, NODE_NAME: 'memory-bench', RUNTIME_SOCK: '/nonexistent.sock' },
  });
  agent.stdout.on('data', (c: Buffer) => { for (const b of c) if (b === 10) stdoutLines++; });
  const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
  let exitCode: number | null | undefined;
  void exited.then((c) => { exitCode = c; });
  const samples: Array<{ t: number; rss: number }> = [];
  let scrapes = 0;
  let scrapeBytes = 0;
  let resets = 0;
  try {
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const started = performance.now();
    // Up when /metrics answers with series of the first cycle.
    for (;;) {
      if (exitCode !== undefined) throw new Error(`the agent exited with ${exitCode} before serving /metrics`);
      if (performance.now() - started > 60_000) throw new Error('the agent did not serve /metrics within 60 s');
      const body = await fetch(metricsUrl).then((r) => (r.ok ? r.text() : ''), () => '');
      if (body.includes('netexporter_')) break;
      await sleep(200);
    }
    const startupS = (performance.now() - started) / 1000;
    const t0 = performance.now();
    let nextScrape = t0;
    let nextReset = t0;
    while (performance.now() - t0 < seconds * 1000) {
      if (exitCode !== undefined) throw new Error(`the agent exited with ${exitCode} during the run`);
      const now = performance.now();
      samples.push({ t: (now - t0) / 1000, rss: rssOf(agent.pid!).rss });
      if (now >= nextScrape) {
        nextScrape += SCRAPE_MS;
        const body = await fetch(metricsUrl).then((r) => r.text());
        scrapes++;
        scrapeBytes = body.length;
      }
      while (nextReset <= now) {
        nextReset += 1000 / RESETS_PER_S;
        resets++;
        createConnection(closedPort, '127.0.0.1').on('error', () => {});
      }
      await sleep(SAMPLE_MS);
    }
    const { hwm } = rssOf(agent.pid!);
    const rss = samples.map((s) => s.rss);
    const lokiEntries = loki.pushes.reduce((n, p) => n + p.streams.reduce((m, s) => m + s.entries.length, 0), 0);
    const at = (q: number) => [...rss].sort((a, b) => a - b)[Math.min(rss.length - 1, Math.floor(q * rss.length))]!;
    console.log(`\nagent RSS with ${NAMESPACES} network namespaces, stdout + Loki + remote write on, ${seconds} s after its first cycle (${INTERVAL_S} s cycles; node options "${nodeOptions}", MALLOC_ARENA_MAX ${image.MALLOC_ARENA_MAX ?? 'unset'})\n`);
    console.log('| peak (VmHWM) MB | max sampled MB | median MB | last MB | startup s | /metrics bytes | scrapes | Loki entries | stdout lines | remote write pushes | resets made |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    console.log(`| ${hwm.toFixed(0)} | ${Math.max(...rss).toFixed(0)} | ${at(0.5).toFixed(0)} | ${rss[rss.length - 1]!.toFixed(0)} | ${startupS.toFixed(1)} | ${scrapeBytes} | ${scrapes} | ${lokiEntries} | ${stdoutLines} | ${rw.requests()} | ${resets} |`);
    const step = Math.max(1, Math.floor(samples.length / 10));
    console.log(`\nRSS over time (MB): ${samples.filter((_, i) => i % step === 0).map((s) => `${s.t.toFixed(0)}s ${s.rss.toFixed(0)}`).join(', ')}`);
    console.log(JSON.stringify({ rss_mb_110: Math.round(hwm) }));
  } finally {
    agent.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (exitCode === undefined) agent.kill('SIGKILL');
    removeNamespaces(ns);
    await loki.stop();
    await rw.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
