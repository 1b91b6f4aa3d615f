// OTLP partial-success answers that `npm run fuzz` found read as impossible counts, kept as
// they were found (test/fixtures/fuzz/): the raw HTTP answers, whose bodies are read here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { PullMetricReader } from '../../src/exporters/telemetry.js';
import { rejectedCount } from '../../src/sinks/otlp/encode.js';
import { OtlpMetricsPusher } from '../../src/sinks/otlp/index.js';
import { OtlpReceiver } from '../helpers/otlp-receiver.js';
import { fixture } from '../helpers/paths.js';

/** The body of a saved raw HTTP/1.1 answer (Content-Length or one chunk). */
function bodyOf(file: string): Buffer {
  const raw = Buffer.from(JSON.parse(readFileSync(fixture('fuzz', file), 'utf8')).input as string, 'latin1');
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end).toString('latin1');
  const rest = raw.subarray(end + 4);
  if (!/transfer-encoding: chunked/i.test(head)) return rest;
  const eol = rest.indexOf('\r\n');
  const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
  return rest.subarray(eol + 2, eol + 2 + size);
}

test('a protobuf partial success rejecting 2^63 records reads as at most 2^53 - 1 (fuzz case 43)', () => {
  const body = bodyOf('sinks.otlp.response-seed1-case43.json');
  const r = rejectedCount(body, 'http/protobuf', 'rejectedLogRecords');
  assert.equal(r.rejected, Number.MAX_SAFE_INTEGER);
  assert.equal(r.message, '1_000');
});

test('a JSON partial success with an int64 past 2^53 and a number as its message: a safe count, no message (fuzz case 121)', () => {
  const body = bodyOf('sinks.otlp.response-seed1-case121.json');
  assert.equal(JSON.parse(body.toString()).partialSuccess.rejectedLogRecords, '18446744073709551615');
  assert.deepEqual(rejectedCount(body, 'http/json', 'rejectedLogRecords'), { rejected: Number.MAX_SAFE_INTEGER });
});

test('negative, fractional and non-numeric counts are no rejection; a real one is kept', () => {
  const json = (ps: unknown) => Buffer.from(JSON.stringify({ partialSuccess: ps }));
  for (const v of ['-7', -1, 1.5, 'NaN', {}, null]) assert.equal(rejectedCount(json({ rejectedDataPoints: v }), 'http/json', 'rejectedDataPoints').rejected, 0, String(v));
  assert.deepEqual(rejectedCount(json({ rejectedDataPoints: '3', errorMessage: 'too long' }), 'http/json', 'rejectedDataPoints'), { rejected: 3, message: 'too long' });
});

test('metrics: a receiver saying it rejected 2^63 points counts only the points it was sent as dropped', async () => {
  const rx = new OtlpReceiver();
  await rx.start();
  // The exact answer of fuzz case 43, as a metrics response: the same protobuf shape.
  rx.okBody = () => bodyOf('sinks.otlp.response-seed1-case43.json');
  const reader = new PullMetricReader();
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'kubesonar-agent' }), readers: [reader] });
  provider.getMeter('kubesonar').createCounter('netexporter_tcp_outrsts').add(5, { netns: 'ns1' });
  const pusher = new OtlpMetricsPusher({ config: { endpoint: `http://127.0.0.1:${rx.port}` }, collect: async () => (await reader.collect()).resourceMetrics, env: {}, onError: () => undefined });
  try {
    assert.equal(await pusher.pushOnce(), true);
    const s = pusher.stats();
    assert.deepEqual([s.pointsSent, s.pointsDropped], [0, { rejected: 1 }]);
  } finally {
    await pusher.close();
    await provider.shutdown();
    await rx.close();
  }
});
