// A Loki build-info answer that `npm run fuzz` found reaching /status and the log over two
// lines, kept as found (test/fixtures/fuzz/sinks.loki.buildinfo-seed1-case862.json: the raw
// answers to GET buildinfo and to the push), written back by a raw loopback server.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { EventRecord } from '../../src/events/model.js';
import { createLogger } from '../../src/log.js';
import { LokiSink } from '../../src/sinks/loki/sink.js';
import { fixture } from '../helpers/paths.js';

test('a build-info version of only a newline is no version: the fields go in the line, said in one line (fuzz case 862)', async () => {
  const found = JSON.parse(readFileSync(fixture('fuzz', 'sinks.loki.buildinfo-seed1-case862.json'), 'utf8')).input as { buildinfo: string; push: string };
  assert.match(found.buildinfo, /"version":"\\n"/);
  const server = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.once('data', (d) => sock.end(Buffer.from(d.toString('latin1').startsWith('GET ') ? found.buildinfo : found.push, 'latin1')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const lines: string[] = [];
  const sink = new LokiSink({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, {
    node: 'node-1', maxRetryTimeMs: 0, requestTimeoutMs: 2000, logger: createLogger((l) => lines.push(l)),
  });
  const rec: EventRecord = {
    event: { timeUnixNano: 1n, type: 'TCP_RCV_RST_ESTAB', probe: 'tcpreset', severity: 'WARN', msg: 'reset', netns: 1, attrs: {} },
    timeUnixNano: 1n, severityNumber: 13, severityText: 'WARN', body: 'reset', attributes: { 'event.type': 'TCP_RCV_RST_ESTAB' },
  };
  try {
    assert.deepEqual(await sink.send([rec]), { delivered: 1 });
    const fields = sink.status().fields as { storage: string; version: string; why: string };
    assert.deepEqual([fields.storage, fields.version, fields.why], ['line', '', 'Loki did not say its version (a build without release flags): in the line']);
    assert.ok(lines.every((l) => !l.includes('\n')));
  } finally {
    await sink.close();
    server.close();
  }
});
