// Event pipeline benchmark: N events published into an EventPipeline whose only sink is the
// Loki sink (protobuf + snappy), the same into a pipeline whose only sink is the OTLP log sink
// (http/protobuf), and winston-loki pushing the same N events, in the same run. Each client
// runs in its own child process (so CPU and peak RSS are its own); the strict receivers run
// in the parent on loopback, decode every request and check every event arrived once, with
// its exact nanosecond timestamp where the client keeps it. Events/s is end to end: from the
// parent's "go" until the receiver holds the N-th event.
// `node dist/bench/events.js [N]` (default 100 000; env EVENTS_BENCH_EVENTS too). Its last line is
// a JSON summary (see bench/run.ts). The clients run with the image's Node options (deploy/Dockerfile,
// ENV NODE_OPTIONS; env EVENTS_BENCH_NODE_OPTIONS instead, to compare).
//
// The pipeline runs with the agent's default sink options (Loki 1000 events per batch,
// OTLP 512, both 1 s wait and 10 000 queued). The producer publishes 1000 events per
// event-loop turn, as a ring-buffer consumer would, and waits (1 ms timers) while the sink's
// queue has no room for the next 1000: the figures are the sink's sustained rate, not a
// count of queue_full drops. Any drop is still counted and shown. winston-loki gets the same
// 1000 events per turn; it has no bound to wait for (it buffers everything it is given).
//
// Warm-up: before the measured N, each client sends 20 000 events (env EVENTS_BENCH_WARMUP;
// 0 for none) through the same pipeline, sink and connection to the same receiver, and waits
// until they are delivered. The figures are then those of an agent that has been running
// (the one it is on a node for days), not of its first second: a process's first events
// pay for compiling the hot code (V8's optimizing compiler runs on its worker threads, and
// process CPU counts them) and for the first connection, about 0.3 s of CPU once. That
// once-per-process price is not hidden: the table shows the warm-up events' CPU per event.
// Peak RSS is the whole child's, warm-up included.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NetEvent } from '../src/events/model.js';
import type { PodRef } from '../src/model.js';
import type { SinkStats } from '../src/events/pipeline.js';
import { benchEntry, imageEnv } from './entry.js';

const T0 = 1763880000000000000n;
const TYPES = ['TCP_RCV_RST_ESTAB', 'TCP_SEND_RST_NOSock', 'PACKETLOSS'] as const;
const CHUNK = 1000;
const CLIENTS = ['pipeline → LokiSink protobuf+snappy', 'pipeline → OtlpLogSink http/protobuf', 'winston-loki'] as const;
type Client = (typeof CLIENTS)[number];

const nsOf = (i: number): bigint => T0 + BigInt(i) * 1000n + 7n;

function netEvent(i: number): NetEvent {
  return {
    timeUnixNano: nsOf(i), type: TYPES[i % TYPES.length], probe: 'tcpreset', severity: 'WARN', msg: `event ${i}`,
    netns: 4026532000 + (i % 50),
    attrs: { protocol: 'tcp', saddr: `10.244.${i % 5}.${i % 200}`, sport: 30000 + (i % 30000), daddr: '10.96.0.10', dport: 53 },
  };
}
/** The pod of a netns, as the agent's resolver would answer (a map lookup). */
const PODS: PodRef[] = Array.from({ length: 50 }, (_, k) => ({ name: `pod-${k}`, namespace: `ns-${k % 5}`, uid: `uid-${k}`, source: 'cri' }));

interface ChildResult {
  client: Client;
  cpuUs: number;
  /** CPU of the warm-up events (the first ones a process sends: compiling, first connection). */
  warmupCpuUs: number;
  maxRssMb: number;
  baseRssMb: number;
  published?: number;
  rejected?: number;
  stats?: SinkStats;
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Events sent before the measured ones, as a running agent has sent many: see the header. */
const WARMUP = Number(process.env.EVENTS_BENCH_WARMUP ?? 20_000);

/** A client: sends events [from, from + count) and resolves once they are delivered; then finishes. */
interface Sender {
  send(from: number, count: number): Promise<void>;
  finish(): Promise<Partial<ChildResult>>;
}

async function sender(client: Client, url: string): Promise<Sender> {
  if (client === 'winston-loki') {
    const winston = (await import('winston')).default;
    const LokiTransport = (await import('winston-loki')).default;
    const t = new LokiTransport({ host: url, interval: 1, replaceTimestamp: false, gracefulShutdown: false, format: winston.format.json() });
    const log = winston.createLogger({ transports: [t] });
    return {
      async send(from, count) {
        for (let i = from; i < from + count; i += CHUNK) {
          for (let j = i; j < Math.min(from + count, i + CHUNK); j++) {
            const e = netEvent(j);
            const pod = PODS[j % 50];
            log.info({
              message: e.msg, timestamp: new Date(Number(e.timeUnixNano / 1_000_000n)).toISOString(),
              labels: { k8s_node: 'node-1', k8s_namespace: pod.namespace, type: e.type },
              'event.type': e.type, 'event.probe': e.probe, 'k8s.node.name': 'node-1', 'k8s.namespace.name': pod.namespace,
              'k8s.pod.name': pod.name, netns: `ns${e.netns}`, ...e.attrs,
            });
          }
          await tick();
        }
        await t.flush();
      },
      async finish() {
        await t.close();
        return {};
      },
    };
  }
  const { EventPipeline } = await import('../src/events/pipeline.js');
  const pipeline = new EventPipeline({ nodeName: 'node-1', resolve: (netns) => PODS[(netns - 4026532000) % 50] });
  let name: string;
  if (client === 'pipeline → LokiSink protobuf+snappy') {
    const { LokiSink } = await import('../src/sinks/loki/index.js');
    const sink = new LokiSink({ url, encoding: 'protobuf' }, { node: 'node-1' });
    pipeline.setSink(sink, { batchMaxEvents: 1000, batchMaxWaitMs: 1000, maxQueueEvents: 10_000 }); // the agent's Loki defaults
    name = sink.name;
  } else {
    const { OtlpLogSink } = await import('../src/sinks/otlp/index.js');
    const { SINK_OPTIONS } = await import('../src/runtime/sinks.js');
    const sink = new OtlpLogSink({ config: { endpoint: url, protocol: 'http/protobuf', compression: 'none' }, nodeName: 'node-1', env: {} });
    pipeline.setSink(sink, SINK_OPTIONS.otlp);
    name = sink.name;
  }
  const held = () => {
    const s = pipeline.stats()[name];
    return s.queued + s.inFlight;
  };
  return {
    async send(from, count) {
      for (let i = from; i < from + count; i += CHUNK) {
        while (10_000 - held() < CHUNK) await sleep(1);
        for (let j = i; j < Math.min(from + count, i + CHUNK); j++) pipeline.publish(netEvent(j));
        await tick();
      }
      while (held() > 0) await sleep(1);
    },
    async finish() {
      await pipeline.close(60_000); // delivers what is queued (nothing by now), then closes the sink
      return { published: pipeline.published, rejected: pipeline.rejected, stats: pipeline.stats()[name] };
    },
  };
}

async function child(client: Client, url: string, n: number): Promise<ChildResult> {
  const s = await sender(client, url);
  const baseRssMb = process.memoryUsage().rss / 2 ** 20;
  // Warm-up events are numbered from n on: the receiver's tally is reset before the measured ones.
  const warm0 = process.cpuUsage();
  if (WARMUP > 0) await s.send(n, WARMUP);
  const warm = process.cpuUsage(warm0);
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send!('ready');
  });
  const cpu0 = process.cpuUsage();
  await s.send(0, n);
  const extra = await s.finish();
  const cpu = process.cpuUsage(cpu0);
  return { client, cpuUs: cpu.user + cpu.system, warmupCpuUs: warm.user + warm.system, maxRssMb: process.resourceUsage().maxRSS / 1024, baseRssMb, ...extra };
}

/**
 * What the receiver got: per event index, how often it came and its first ns timestamp, plus
 * undecodable arrivals. Typed arrays and no regex: the receiver runs in this process and its
 * cost per event is on the path of every push, so it stays small.
 */
class Tally {
  count = 0;
  doneAt = 0;
  lastAt = 0;
  private readonly times: Uint32Array;
  private readonly firstNs: BigInt64Array;
  bad = 0;
  constructor(private readonly n: number, private readonly t0: () => number) {
    this.times = new Uint32Array(n);
    this.firstNs = new BigInt64Array(n);
  }
  add(body: string, ns: bigint): void {
    this.count++;
    this.lastAt = performance.now();
    if (this.count === this.n) this.doneAt = this.lastAt - this.t0();
    const i = eventIndex(body);
    if (i < 0) {
      this.bad++;
      return;
    }
    if (i >= this.n) return; // not one of ours: received, never unique
    if (this.times[i]++ === 0) this.firstNs[i] = ns;
  }
  verdict(): { unique: number; duplicates: number; exactNs: number; exactMs: number } {
    let unique = 0;
    let duplicates = 0;
    let exactNs = 0;
    let exactMs = 0;
    for (let i = 0; i < this.n; i++) {
      const times = this.times[i]!;
      if (times === 0) continue;
      unique++;
      duplicates += times - 1;
      const got = this.firstNs[i]!;
      if (got === nsOf(i)) exactNs++;
      if (got / 1_000_000n === nsOf(i) / 1_000_000n) exactMs++;
    }
    return { unique, duplicates, exactNs, exactMs };
  }
}

/** The i of the first "event <i>" (a whole word) in a line or body; -1 if there is none. */
function eventIndex(text: string): number {
  for (let at = text.indexOf('event '); at >= 0; at = text.indexOf('event ', at + 1)) {
    const before = at === 0 ? 32 : text.charCodeAt(at - 1);
    if (isWordChar(before)) continue;
    let i = 0;
    let k = at + 6;
    for (; k < text.length; k++) {
      const c = text.charCodeAt(k);
      if (c < 48 || c > 57) break;
      i = i * 10 + (c - 48);
    }
    if (k === at + 6 || (k < text.length && isWordChar(text.charCodeAt(k)))) continue;
    return i;
  }
  return -1;
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? process.env.EVENTS_BENCH_EVENTS ?? 100_000);
  if (!Number.isInteger(n) || n < 1 || n > 10_000_000) throw new Error(`N must be an integer in 1..10 000 000, got ${process.argv[2]}`);
  const { LokiReceiver } = await import('../test/helpers/loki-receiver.js');
  const { OtlpReceiver } = await import('../test/helpers/otlp-receiver.js');
  const loki = await new LokiReceiver().start();
  const otlp = new OtlpReceiver();
  const otlpPort = await otlp.start();

  let t0 = 0;
  let tally = new Tally(n, () => t0);
  // Count each event as the receiver accepts it (hooking the arrays the receivers append to).
  const lokiPush = loki.pushes.push.bind(loki.pushes);
  loki.pushes.push = (...items) => {
    for (const p of items) for (const s of p.streams) for (const e of s.entries) tally.add(e.line, e.ns);
    return lokiPush(...items.map((p) => ({ ...p, streams: [] }))); // keep counts, not 100k decoded entries
  };
  const otlpPush = otlp.requests.push.bind(otlp.requests);
  otlp.requests.push = (...items) => {
    for (const r of items) {
      if (r.error) console.error(`OTLP receiver rejected a request: ${r.error}`);
      for (const rl of r.message?.resourceLogs ?? []) {
        for (const sl of rl.scopeLogs ?? []) for (const lr of sl.logRecords ?? []) tally.add(String(lr.body?.stringValue ?? ''), BigInt(lr.timeUnixNano ?? 0));
      }
    }
    return otlpPush(...items.map((r) => ({ ...r, message: undefined }))); // keep counts, not 100k decoded records
  };

  // The agent's clients run under the heap limits its image sets; winston-loki under Node's
  // defaults (it holds every event it is given and would not fit them).
  const image = imageEnv();
  const nodeOptions = (process.env.EVENTS_BENCH_NODE_OPTIONS ?? image.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
  const { NODE_OPTIONS: _, ...imageRest } = image;
  const rows: Array<ChildResult & { ms: number; received: number; unique: number; duplicates: number; exactNs: number; exactMs: number; bad: number }> = [];
  for (const client of CLIENTS) {
    loki.pushes.length = 0;
    otlp.requests.length = 0;
    tally = new Tally(n, () => t0);
    const url = client.includes('Otlp') ? `http://127.0.0.1:${otlpPort}` : loki.url;
    const c = fork(fileURLToPath(import.meta.url), ['child', client, url, String(n)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...(client === 'winston-loki' ? [] : nodeOptions)], env: client === 'winston-loki' ? process.env : { ...process.env, ...imageRest } });
    const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
    const res = await new Promise<ChildResult>((resolve, reject) => {
      c.on('message', (m) => {
        if (m === 'ready') {
          tally = new Tally(n, () => t0); // the warm-up events are delivered and answered by now
          t0 = performance.now();
          c.send('go');
        } else resolve(m as ChildResult);
      });
      void exited.then((code) => reject(new Error(`${client} exited with ${code} before reporting`)));
    });
    await exited;
    // Everything the client delivered has been answered by now; wait briefly for stragglers only if short.
    for (let waited = 0; tally.count < n && waited < 3000; waited += 10) await sleep(10);
    const v = tally.verdict();
    const ms = tally.count >= n ? tally.doneAt : tally.lastAt - t0;
    rows.push({ ...res, ms, received: tally.count, bad: tally.bad, ...v });
  }
  await loki.stop();
  await otlp.close();

  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(`${fmt(n)} events per client, one child process each, receivers on loopback (node ${process.version}; the agent's clients with options "${nodeOptions.join(' ')}")\n`);
  console.log(`| client | events/s end to end | client CPU µs/event | CPU µs/event of the ${fmt(WARMUP)} warm-up events | peak RSS MB (after imports) | received / unique / exact ns | lost | dropped (pipeline) |`);
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const dropped = r.stats ? Object.entries(r.stats.dropped).map(([k, v]) => `${k} ${v}`).join(', ') || '0' : 'not counted';
    console.log(`| ${r.client} | ${fmt((r.unique / r.ms) * 1000)} | ${(r.cpuUs / n).toFixed(1)} | ${WARMUP > 0 ? (r.warmupCpuUs / WARMUP).toFixed(1) : '-'} | ${r.maxRssMb.toFixed(0)} (${r.baseRssMb.toFixed(0)}) | ${r.received} / ${r.unique} / ${r.exactNs} | ${n - r.unique} | ${dropped} |`);
  }
  const w = rows.find((r) => r.client === 'winston-loki')!;
  console.log('\nRatios against winston-loki (events/s higher is better; CPU and RSS lower is better):');
  for (const r of rows) {
    if (r === w) continue;
    const rate = r.unique / r.ms / (w.unique / w.ms);
    console.log(`  ${r.client}: events/s ×${rate.toFixed(2)}, CPU/event ×${(r.cpuUs / w.cpuUs).toFixed(2)}, peak RSS ×${(r.maxRssMb / w.maxRssMb).toFixed(2)}`);
  }
  for (const r of rows) {
    if (r.stats && r.published !== n + WARMUP) console.log(`  ${r.client}: published ${r.published}, rejected ${r.rejected}`);
    if (r.exactNs < r.unique) console.log(`  ${r.client}: ${r.unique - r.exactNs} timestamps not exact to the ns; ${r.exactMs} of ${r.unique} right to the ms`);
    if (r.duplicates || r.bad) console.log(`  ${r.client}: ${r.duplicates} duplicates, ${r.bad} unrecognised entries`);
  }
  const lokiRow = rows.find((r) => r.client.includes('LokiSink'))!;
  console.log(JSON.stringify({
    loki_events_per_s: Math.round((lokiRow.unique / lokiRow.ms) * 1000),
    loki_us_per_event: Math.round((lokiRow.cpuUs / n) * 100) / 100,
    loki_peak_rss_mb: Math.round(lokiRow.maxRssMb),
  }));
  if (rows.some((r) => r.unique !== n)) process.exitCode = 2;
}

benchEntry(main, (client, url, n) => child(client as Client, url, n));
