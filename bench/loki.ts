// Loki push benchmark: N events through LokiSink (protobuf+snappy and gzip JSON) and through
// winston-loki, into the strict test receiver, in the same run. Each client runs in its own
// child process so its RSS and CPU are its own; the receiver (parent) checks every event
// arrived. `node dist/bench/loki.js [N]` (default 100 000; env LOKI_BENCH_EVENTS too).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EventRecord, NetEvent } from '../src/events/model.js';
import { LokiSink } from '../src/sinks/loki/index.js';
import { LokiReceiver } from '../test/helpers/loki-receiver.js';
import { benchEntry } from './entry.js';

const T0 = 1763880000000000000n;
const TYPES = ['TCP_RCV_RST_ESTAB', 'TCP_SEND_RST_NOSock', 'PACKETLOSS'] as const;
const BATCH = 1000; // the pipeline's default batch_max_events

function record(i: number): EventRecord {
  const type = TYPES[i % TYPES.length];
  const ns = T0 + BigInt(i) * 1000n + 7n;
  const event: NetEvent = {
    timeUnixNano: ns, type, probe: 'tcpreset', severity: 'WARN', msg: `event ${i}`, netns: 4026532000 + (i % 50),
    attrs: { protocol: 'tcp', saddr: `10.244.${i % 5}.${i % 200}`, sport: 30000 + (i % 30000), daddr: '10.96.0.10', dport: 53 },
  };
  return {
    event, timeUnixNano: ns, severityNumber: 13, severityText: 'WARN', body: event.msg,
    attributes: { 'event.type': type, 'event.probe': 'tcpreset', 'k8s.node.name': 'node-1', 'k8s.namespace.name': `ns-${i % 5}`, 'k8s.pod.name': `pod-${i % 50}`, netns: event.netns!, ...event.attrs },
  };
}

interface ChildResult { client: string; events: number; ms: number; cpuMs: number; maxRssMb: number; baseRssMb: number }

async function child(client: string, url: string, n: number): Promise<ChildResult> {
  const winston = (await import('winston')).default;
  const LokiTransport = (await import('winston-loki')).default;
  const baseRssMb = process.memoryUsage().rss / 2 ** 20;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  if (client === 'winston-loki') {
    const t = new LokiTransport({ host: url, interval: 1, replaceTimestamp: false, gracefulShutdown: false, format: winston.format.json() });
    const log = winston.createLogger({ transports: [t] });
    for (let i = 0; i < n; i += BATCH) {
      // Same hand-off rhythm as the pipeline: a batch, then yield to the event loop.
      for (let j = i; j < Math.min(n, i + BATCH); j++) {
        const r = record(j);
        const a = r.attributes;
        log.info({
          message: r.body, timestamp: new Date(Number(r.timeUnixNano / 1_000_000n)).toISOString(),
          labels: { k8s_node: a['k8s.node.name'], k8s_namespace: a['k8s.namespace.name'], type: a['event.type'] }, ...a,
        });
      }
      await new Promise((r) => setImmediate(r));
    }
    await t.flush();
    await t.close();
  } else {
    const sink = new LokiSink({ url, encoding: client === 'LokiSink json+gzip' ? 'json' : 'protobuf' }, { node: 'node-1' });
    for (let i = 0; i < n; i += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => record(i + k));
      const r = await sink.send(batch);
      if (r.delivered !== batch.length) throw new Error(`not delivered: ${JSON.stringify(r)}`);
    }
    await sink.close();
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { client, events: n, ms, cpuMs: (cpu.user + cpu.system) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024, baseRssMb };
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? process.env.LOKI_BENCH_EVENTS ?? 100_000);
  const rx = await new LokiReceiver().start();
  const rows: Array<ChildResult & { received: number; exactNs: boolean }> = [];
  for (const client of ['LokiSink protobuf+snappy', 'LokiSink json+gzip', 'winston-loki']) {
    rx.pushes.length = 0;
    const res = await new Promise<ChildResult>((resolve, reject) => {
      const c = fork(fileURLToPath(import.meta.url), ['child', client, rx.url, String(n)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      c.once('message', (m) => resolve(m as ChildResult));
      c.once('exit', (code) => code && reject(new Error(`${client} exited with ${code}`)));
    });
    const got = rx.entries();
    const want = new Set(Array.from({ length: n }, (_, i) => record(i).timeUnixNano));
    rows.push({ ...res, received: got.length, exactNs: got.length === n && got.every((e) => want.has(e.ns)) });
  }
  await rx.stop();
  console.log(`${n} events, batches of ${BATCH}, receiver on loopback (node ${process.version})\n`);
  console.log('| client | events/s | client CPU µs/event | max RSS MB (at start) | received | ns timestamps exact |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.client} | ${Math.round((r.events / r.ms) * 1000).toLocaleString('en-US')} | ${((r.cpuMs * 1000) / r.events).toFixed(1)} | ${r.maxRssMb.toFixed(0)} (${r.baseRssMb.toFixed(0)}) | ${r.received} | ${r.exactNs ? 'yes' : 'no'} |`);
  }
}

benchEntry(main, child);
