// Backend answers that `npm run fuzz` found the transport mishandling, kept as they were found
// (test/fixtures/fuzz/, written by `npm run fuzz -- --save`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { LOKI_RETRYABLE } from '../../src/sinks/loki/sink.js';
import { HttpTransport, parseRetryAfter } from '../../src/transport/index.js';
import { fixture } from '../helpers/paths.js';

const found = <T>(file: string): T => JSON.parse(readFileSync(fixture('fuzz', file), 'utf8')).input as T;

test('a 101 answer to a push is a one-line connection error, not undici\'s assertion text over three lines (fuzz case 58)', async () => {
  // The exact bytes, written by a raw server: node:http cannot answer 101 to a POST.
  const answer = Buffer.from(found<string>('sinks.loki.response-seed1-case58.json'), 'latin1');
  assert.match(answer.toString('latin1'), /^HTTP\/1\.1 101 /);
  const server = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.once('data', () => sock.end(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const transport = new HttpTransport({
    target: `http://127.0.0.1:${(server.address() as AddressInfo).port}/loki/api/v1/push`, timeoutMs: 2000,
    retry: { retryable: LOKI_RETRYABLE, minBackoffMs: 1, maxBackoffMs: 2 },
  });
  try {
    const res = await transport.post(Buffer.from('{}'), { 'content-type': 'application/json' }, { deadline: Date.now() });
    assert.equal(res.ok, false);
    assert.equal(res.reason, 'retries_exhausted');
    assert.doesNotMatch(res.error ?? '', /\n/);
    assert.match(res.error ?? '', /^ERR_ASSERTION: /);
  } finally {
    await transport.close();
    server.close();
  }
});

test('Retry-After of 400 digits is the longest wait a number of ms holds, not Infinity (fuzz case 5)', () => {
  const value = found<string>('transport.retry-after-seed1-case5.json');
  assert.match(value, /^9{400}$/);
  assert.equal(parseRetryAfter(value), Number.MAX_SAFE_INTEGER);
  assert.equal(parseRetryAfter('120'), 120_000);
});
