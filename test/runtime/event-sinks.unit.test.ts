// Sinks from config, across reloads: added, replaced without losing queued events, updated in
// place, removed; a sink that cannot be built keeps its previous instance and is reported.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { DEFAULT_CONFIG, type EventConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import type { NetEvent } from '../../src/events/model.js';
import { EventPipeline } from '../../src/events/pipeline.js';
import { EventSinks } from '../../src/runtime/sinks.js';
import { freePort } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';

const TS = 1741163909810866660n;
const ev = (i: number): NetEvent => ({
  timeUnixNano: TS + BigInt(i), type: 'TCP_RETRANS', probe: 'tcpretrans', severity: 'INFO', msg: `event ${i}`, attrs: {},
});

function config(change: (c: EventConfig) => void): EventConfig {
  const c = structuredClone(DEFAULT_CONFIG.event_config);
  c.port = 0; // any free port (the schema would not allow 0; tests build the object directly)
  change(c);
  return c;
}

function status(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path }, (res) => { res.resume(); resolve(res.statusCode!); req.destroy(); });
    req.on('error', () => resolve(0));
  });
}

const logs: string[] = [];
const pipeline = new EventPipeline({ nodeName: 'node-a', resolve: () => undefined });
const out = new PassThrough();
let printed = '';
out.on('data', (d: Buffer) => { printed += d.toString(); });
const sinks = new EventSinks(pipeline, { nodeName: 'node-a', log: createLogger((l) => logs.push(l)), stdout: out, streamHost: '127.0.0.1' });
after(() => pipeline.close(1000));

test('the defaults: stdout (JSON) and the stream server', async () => {
  assert.deepEqual(await sinks.apply(config(() => {})), []);
  assert.deepEqual(pipeline.sinkNames().sort(), ['stdout', 'stream']);
  const port = sinks.stream!.address!.port;
  assert.equal(await status(port, '/'), 200);
  pipeline.publish(ev(0));
  await waitFor('a JSON line', () => printed.includes('"msg":"event 0"'), 5000);
  assert.match(printed, /^\{"timestamp":1741163909810866660,"type":"TCP_RETRANS"/);
});

test('a changed sink is replaced with its queue; an unchanged one is left alone; stream limits apply in place', async () => {
  const stream = sinks.stream;
  printed = '';
  // Queue events for stdout (its batches wait 200 ms), then switch it to text before they go.
  pipeline.publish(ev(1));
  pipeline.publish(ev(2));
  assert.deepEqual(await sinks.apply(config((c) => { c.sinks.stdout.format = 'text'; c.sinks.stream.max_clients = 1; })), []);
  await waitFor('two text lines', () => printed.trimEnd().split('\n').length === 2 && printed.includes('event 2'), 5000);
  assert.match(printed, /^2025-03-05T08:38:29\.810866661Z node-a +TCP_RETRANS +\(node\) +- +event 1\n/);
  assert.equal(sinks.stream, stream, 'the stream server was not rebuilt');
  const port = stream!.address!.port;
  const held = get({ host: '127.0.0.1', port, path: '/events' });
  held.on('error', () => {});
  await waitFor('one client', () => stream!.clientInfo().length === 1, 5000);
  assert.equal(await status(port, '/events'), 503, 'max_clients 1 applies to the running server');
  held.destroy();
  assert.equal(pipeline.stats().stdout.dropped.queue_full, undefined);
});

test('a new stream port: the new server listens, the old one is closed', async () => {
  const oldPort = sinks.stream!.address!.port;
  const newPort = await freePort();
  assert.deepEqual(await sinks.apply(config((c) => { c.port = newPort; })), []);
  assert.equal(sinks.stream!.address!.port, newPort);
  assert.equal(await status(newPort, '/'), 200);
  await waitFor('nothing listening on the old port', async () => (await status(oldPort, '/')) === 0, 2000);
});

test('a port in use keeps the running server and is reported', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const busyPort = (busy.address() as { port: number }).port;
  const before = sinks.stream;
  const problems = await sinks.apply(config((c) => { c.port = busyPort; }));
  busy.close();
  assert.deepEqual(problems, [`event_config.sinks.stream: event stream: cannot listen on port ${busyPort}: address already in use (the previous settings stay in use)`]);
  assert.equal(sinks.stream, before);
  assert.deepEqual(sinks.status().errors, problems);
});

test('overlapping reloads apply in order', async () => {
  printed = '';
  const stdout = () => pipeline.stats().stdout;
  await Promise.all([
    sinks.apply(config((c) => { c.sinks.stdout.format = 'json'; })),
    sinks.apply(config((c) => { c.sinks.stdout.format = 'text'; })),
  ]);
  pipeline.publish(ev(9));
  await waitFor('the line', () => printed.includes('event 9'), 5000);
  assert.match(printed, /^2025-03-05T08:38:29\.810866669Z /, 'the last reload wins');
  assert.equal(stdout().dropped.queue_full, undefined);
});

test('sinks turned off are removed; Loki and OTLP are built from their sections', async () => {
  const problems = await sinks.apply(config((c) => {
    c.enabled = false;
    c.sinks.stdout.enabled = false;
    c.sinks.loki.enabled = true;
    c.sinks.loki.url = 'http://127.0.0.1:9';
    c.sinks.loki.batch_max_events = 50;
    c.sinks.otlp.enabled = true;
    c.sinks.otlp.logs_endpoint = 'http://127.0.0.1:9/v1/logs';
  }));
  assert.deepEqual(problems, []);
  assert.deepEqual(pipeline.sinkNames().sort(), ['loki', 'otlp']);
  assert.equal(sinks.stream, undefined);
  assert.deepEqual(Object.keys(sinks.status().sinks).sort(), ['loki', 'otlp']);
  await sinks.apply(config((c) => { c.enabled = false; c.sinks.stdout.enabled = false; }));
  assert.deepEqual(pipeline.sinkNames(), []);
  assert.ok(logs.some((l) => l.includes('"event sink removed"')));
});
