// The push sinks' HTTP transport on its own, against real servers on loopback: which answers
// are retried per policy, Retry-After in both forms, the bounded jittered backoff, the caller's
// deadline, re-resolution of the host name, credentials and TLS files re-read when they change,
// close() during a wait, and the reachability hook.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOKI_RETRYABLE } from '../../src/sinks/loki/sink.js';
import { OTLP_RETRYABLE } from '../../src/sinks/otlp/config.js';
import { REMOTE_WRITE_RETRYABLE } from '../../src/sinks/remote-write/index.js';
import {
  backoffMs, HttpTransport, parseRetryAfter, type HttpTransportOptions, type ReachabilityChange, type RetryPolicy,
} from '../../src/transport/index.js';
import { TEST_TLS } from '../helpers/loki-receiver.js';
import { waitFor } from '../helpers/wait.js';

interface Seen { at: number; headers: IncomingHttpHeaders; body: string; servername?: string }
interface Answer { status: number; headers?: Record<string, string> | (() => Record<string, string>); body?: string; delayMs?: number }

/** A scripted HTTP(S) server: answers the next scripted status (then 204) and records each request. */
class Scripted {
  readonly seen: Seen[] = [];
  readonly script: Answer[] = [];
  private server?: Server;
  port = 0;

  constructor(private readonly opts: { host?: string; tls?: { key: string; cert: string; ca?: string; requestCert?: boolean } } = {}) {}

  async start(port = this.port): Promise<this> {
    const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.seen.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString(), servername: (req.socket as TLSSocket).servername || undefined });
        const a = this.script.shift() ?? { status: 204 };
        const answer = () => { if (!res.destroyed) res.writeHead(a.status, typeof a.headers === 'function' ? a.headers() : a.headers).end(a.body); };
        if (a.delayMs) setTimeout(answer, a.delayMs); else answer();
      });
    };
    const t = this.opts.tls;
    const server = t ? createHttpsServer({ key: t.key, cert: t.cert, ca: t.ca, requestCert: t.requestCert, rejectUnauthorized: t.requestCert }, handler) : createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.opts.host ?? '127.0.0.1', resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  url(host = this.opts.host ?? '127.0.0.1'): string {
    return `${this.opts.tls ? 'https' : 'http'}://${host}:${this.port}/push`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
}

const fast: RetryPolicy = { retryable: LOKI_RETRYABLE, minBackoffMs: 20, maxBackoffMs: 100 };
const body = Buffer.from('payload');
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

async function server(opts?: ConstructorParameters<typeof Scripted>[0]): Promise<Scripted> {
  const s = await new Scripted(opts).start();
  cleanups.push(() => s.stop());
  return s;
}

function transport(opts: Partial<HttpTransportOptions> & Pick<HttpTransportOptions, 'target'>): HttpTransport {
  const t = new HttpTransport({ retry: fast, timeoutMs: 2000, ...opts });
  cleanups.push(() => t.close());
  return t;
}

const inSeconds = (s: number) => ({ deadline: Date.now() + s * 1000 });

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'kubesonar-transport-')); });
after(() => rm(dir, { recursive: true, force: true }));

describe('retry policy', () => {
  test('Loki and remote write: 429 and 5xx are retried, other statuses are final', async () => {
    for (const retryable of [LOKI_RETRYABLE, REMOTE_WRITE_RETRYABLE]) {
      const rx = await server();
      rx.script.push({ status: 429 }, { status: 500 }, { status: 503 }, { status: 599 });
      const t = transport({ target: rx.url(), retry: { ...fast, retryable } });
      const ok = await t.post(body, {}, inSeconds(10));
      assert.deepEqual([ok.ok, ok.status, ok.attempts], [true, 204, 5]);
      for (const status of [400, 401, 404, 413]) {
        rx.script.push({ status, body: ` too\n  large ${status} ` });
        const r = await t.post(body, {}, inSeconds(10));
        assert.deepEqual({ ...r, body: undefined }, { ok: false, status, attempts: 1, reason: `http_${status}`, error: `HTTP ${status}: too large ${status}`, url: rx.url(), body: undefined });
      }
      assert.equal(rx.seen.length, 9);
    }
  });

  test('OTLP: only 429, 502, 503 and 504 are retried; 500 is final', async () => {
    const rx = await server();
    rx.script.push({ status: 429 }, { status: 502 }, { status: 503 }, { status: 504 });
    const t = transport({ target: rx.url(), retry: { ...fast, retryable: OTLP_RETRYABLE } });
    assert.deepEqual((await t.post(body, {}, inSeconds(10))).attempts, 5);
    rx.script.push({ status: 500 });
    const r = await t.post(body, {}, inSeconds(10));
    assert.deepEqual([r.ok, r.reason, r.attempts, r.error], [false, 'http_500', 1, 'HTTP 500']);
  });

  test('the final answer\'s body is returned (OTLP partial success), capped', async () => {
    const rx = await server();
    rx.script.push({ status: 200, body: 'x'.repeat(5000) });
    const t = transport({ target: rx.url(), maxResponseBytes: 1000 });
    const r = await t.post(body, {}, inSeconds(5));
    assert.equal(r.ok, true);
    assert.equal(Buffer.from(r.body!).toString(), 'x'.repeat(1000));
    // The connection stayed usable: the rest of the body was read and dropped.
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
  });

  test('an endless answer is cut off past the drain bound, not read until the attempt times out', async () => {
    let closed = 0;
    const endless = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => { while (!res.destroyed && res.write(chunk)); };
      res.on('drain', pump);
      res.on('close', () => closed++);
      pump();
    });
    await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => { endless.closeAllConnections(); endless.close(r); }));
    const t = transport({ target: `http://127.0.0.1:${(endless.address() as AddressInfo).port}/push`, maxResponseBytes: 1000, timeoutMs: 5000 });
    const started = Date.now();
    const r = await t.post(body, {}, inSeconds(10));
    assert.deepEqual([r.ok, r.attempts, Buffer.from(r.body!).toString()], [true, 1, 'x'.repeat(1000)]);
    assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms: the body was not cut off`);
    await waitFor('the server sees the connection closed', () => closed === 1, 5000);
  });
});

describe('Retry-After and backoff', () => {
  test('parseRetryAfter: delta-seconds and HTTP dates', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:27:58 GMT');
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter(['2', '9'], now), 2000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now), 2000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0, 'a date in the past means now');
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  test('Retry-After is honoured in both forms, instead of the backoff', async () => {
    const rx = await server();
    // An HTTP date has whole seconds: two seconds ahead of the answer is at least one second away.
    rx.script.push({ status: 429, headers: { 'retry-after': '1' } }, { status: 503, headers: () => ({ 'retry-after': new Date(Date.now() + 2000).toUTCString() }) });
    const retries: number[] = [];
    const t = transport({ target: rx.url(), onRetry: (e) => retries.push(e.waitMs) });
    assert.equal((await t.post(body, {}, inSeconds(10))).ok, true);
    assert.equal(rx.seen.length, 3);
    assert.equal(retries[0], 1000);
    assert.ok(retries[1]! > 0 && retries[1]! <= 2000, `date form: waited ${retries[1]} ms`);
    assert.ok(rx.seen[1]!.at - rx.seen[0]!.at >= 990, `delta-seconds: ${rx.seen[1]!.at - rx.seen[0]!.at} ms`);
    assert.ok(rx.seen[2]!.at - rx.seen[1]!.at >= retries[1]! - 10, `date: ${rx.seen[2]!.at - rx.seen[1]!.at} ms`);
  });

  test('backoff: exponential bound from min to max, full jitter below it', () => {
    const policy = { minBackoffMs: 100, maxBackoffMs: 1000 };
    assert.deepEqual([0, 1, 2, 3, 4, 10, 1000].map((n) => backoffMs(n, policy, () => 1)), [100, 200, 400, 800, 1000, 1000, 1000]);
    assert.deepEqual([0, 5].map((n) => backoffMs(n, policy, () => 0)), [0, 0]);
    const samples = Array.from({ length: 2000 }, () => backoffMs(3, policy));
    assert.ok(samples.every((v) => v >= 0 && v <= 800));
    // Spread over the whole interval, not clustered: every tenth of it is hit.
    const tenths = new Set(samples.map((v) => Math.min(9, Math.floor(v / 80))));
    assert.equal(tenths.size, 10);
  });

  test('backoff in the loop: waits stay below the doubling bound', async () => {
    const rx = await server();
    for (let i = 0; i < 6; i++) rx.script.push({ status: 503 });
    const waits: number[] = [];
    const t = transport({ target: rx.url(), retry: { ...fast, minBackoffMs: 10, maxBackoffMs: 40 }, onRetry: (e) => waits.push(e.waitMs) });
    assert.equal((await t.post(body, {}, inSeconds(10))).ok, true);
    assert.equal(waits.length, 6);
    waits.forEach((w, i) => assert.ok(w >= 0 && w <= Math.min(40, 10 * 2 ** i), `retry ${i}: ${w} ms`));
  });
});

describe('deadline', () => {
  test('retries stop at the deadline; no attempt starts after it', async () => {
    const rx = await server();
    for (let i = 0; i < 1000; i++) rx.script.push({ status: 503 });
    const started: number[] = [];
    const t = transport({ target: rx.url(), onAttempt: (e) => started.push(e.at) });
    const t0 = Date.now();
    const deadline = t0 + 600;
    const r = await t.post(body, {}, { deadline });
    const took = Date.now() - t0;
    assert.deepEqual([r.ok, r.reason, r.status, r.error], [false, 'retries_exhausted', 503, 'HTTP 503']);
    assert.ok(r.attempts >= 3 && r.attempts === rx.seen.length && started.length === r.attempts, `${r.attempts} attempts`);
    // When the transport started each attempt (the server sees it later on a busy machine).
    assert.ok(started.every((at) => at <= deadline), 'every attempt started before the deadline');
    assert.ok(took >= 500 && took < 2000, `gave up after ${took} ms`);
  });

  test('a Retry-After beyond the deadline gives up at once; the first attempt is made even past it', async () => {
    const rx = await server();
    rx.script.push({ status: 429, headers: { 'retry-after': '30' } });
    const t = transport({ target: rx.url() });
    const t0 = Date.now();
    assert.equal((await t.post(body, {}, inSeconds(10))).reason, 'retries_exhausted');
    assert.ok(Date.now() - t0 < 2000);
    // A part of a split batch whose budget is spent still gets its one attempt.
    const late = await t.post(body, {}, { deadline: Date.now() - 1 });
    assert.deepEqual([late.ok, late.attempts], [true, 1]);
  });

  test('an attempt is timed out by our own timer and retried', async () => {
    const rx = await server();
    rx.script.push({ status: 204, delayMs: 3000 });
    const reasons: string[] = [];
    const t = transport({ target: rx.url(), timeoutMs: 250, onRetry: (e) => reasons.push(e.reason) });
    const t0 = Date.now();
    const r = await t.post(body, {}, inSeconds(10));
    assert.deepEqual([r.ok, r.attempts, reasons], [true, 2, ['timeout']]);
    assert.ok(Date.now() - t0 < 2500, 'did not wait for the slow answer');
  });

  test('a provider without an address: waits for one until the deadline, then no_address', async () => {
    const rx = await server();
    let current: string | undefined;
    let asked = 0;
    const t = transport({
      target: async (deadline, signal) => {
        asked++;
        while (!current && Date.now() < deadline && !signal.aborted) await sleep(10);
        return current;
      },
    });
    const r = await t.post(body, {}, { deadline: Date.now() + 200 });
    assert.deepEqual([r.ok, r.reason, r.attempts], [false, 'no_address', 0]);
    const before = asked;
    const later = t.post(body, {}, inSeconds(10));
    await waitFor('the post to ask for an address', () => asked > before, 2000);
    current = rx.url();
    assert.equal((await later).ok, true);
    // A provider that throws is an internal error, not an exception.
    const broken = transport({ target: async () => { throw new Error('boom'); } });
    assert.deepEqual(await broken.post(body, {}, inSeconds(1)), { ok: false, attempts: 0, reason: 'internal_error', error: 'boom' });
  });
});

describe('name resolution', () => {
  test('a new answer moves requests to the new address; a connection error resolves again at once', async () => {
    const a = await server({ host: '127.0.0.1' });
    const b = await new Scripted({ host: '127.0.0.2' }).start(a.port);
    cleanups.push(() => b.stop());
    let answer = '127.0.0.1';
    const asked: string[] = [];
    const moves: string[] = [];
    const t = transport({
      target: `http://backend.test:${a.port}/push`, refreshAddressMs: 0,
      lookup: async (host) => { asked.push(host); return { address: answer, family: 4 }; },
      onAddress: (e) => moves.push(e.address),
    });
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    answer = '127.0.0.2';
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    assert.deepEqual([a.seen.length, b.seen.length], [2, 1]);
    assert.equal(a.seen[0]!.headers.host, `backend.test:${a.port}`);
    assert.deepEqual(moves, ['127.0.0.1', '127.0.0.2']);
    assert.ok(asked.length >= 3 && asked.every((h) => h === 'backend.test'));

    // Trusted for an hour, but a connection error ends the trust at once.
    answer = '127.0.0.1';
    const slow = transport({ target: `http://backend.test:${a.port}/push`, refreshAddressMs: 3_600_000, lookup: async () => ({ address: answer, family: 4 }) });
    assert.equal((await slow.post(body, {}, inSeconds(5))).ok, true);
    answer = '127.0.0.2';
    assert.equal((await slow.post(body, {}, inSeconds(5))).ok, true);
    assert.equal(a.seen.length, 4, 'within the refresh interval the address is kept');
    await a.stop();
    const r = await slow.post(body, {}, inSeconds(5));
    assert.deepEqual([r.ok, r.attempts], [true, 2]);
    assert.equal(b.seen.length, 2);
  });

  test('a lookup failure is retried like a connection error', async () => {
    const rx = await server();
    let fail = 2;
    const reasons: string[] = [];
    const t = transport({
      target: `http://backend.test:${rx.port}/push`,
      lookup: async () => { if (fail-- > 0) throw new Error('ENOTFOUND backend.test'); return { address: '127.0.0.1', family: 4 }; },
      onRetry: (e) => reasons.push(e.reason),
    });
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    assert.deepEqual(reasons, ['resolve', 'resolve']);
  });
});

describe('auth files', () => {
  test('tenant, static headers, bearer token re-read when it changes (same size, same second)', async () => {
    const rx = await server();
    const token = join(dir, 'token');
    await writeFile(token, 'tok-1\n');
    const t = transport({ target: rx.url(), auth: { tenant: 'team-a', bearerTokenFile: token, headers: { 'X-Extra': 'yes', Authorization: 'static' } } });
    assert.equal((await t.post(body, { 'Content-Type': 'text/plain' }, inSeconds(5))).ok, true);
    await writeFile(token, 'tok-2\n');
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    const [first, second] = rx.seen;
    assert.equal(first!.headers.authorization, 'Bearer tok-1', 'ours wins over a configured Authorization');
    assert.equal(first!.headers['x-scope-orgid'], 'team-a');
    assert.equal(first!.headers['x-extra'], 'yes');
    assert.equal(first!.headers['content-type'], 'text/plain');
    assert.equal(second!.headers.authorization, 'Bearer tok-2');
  });

  test('basic auth: the password file is re-read; unreadable: final or retried, per policy', async () => {
    const rx = await server();
    const password = join(dir, 'password');
    await writeFile(password, 'first\n');
    const basic = (p: string) => `Basic ${Buffer.from(`agent:${p}`).toString('base64')}`;
    const t = transport({ target: rx.url(), auth: { basic: { username: 'agent', passwordFile: password } }, retry: { ...fast, retryCredentials: false } });
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    await writeFile(password, 'second');
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    assert.deepEqual(rx.seen.map((s) => s.headers.authorization), [basic('first'), basic('second')]);

    await rm(password);
    const r = await t.post(body, {}, inSeconds(5));
    assert.deepEqual([r.ok, r.reason, r.attempts], [false, 'credentials', 0]);
    assert.match(r.error!, /ENOENT/);

    // Retried (a Secret being remounted): delivered once the file is back.
    const reasons: string[] = [];
    const patient = transport({ target: rx.url(), auth: { basic: { username: 'agent', passwordFile: password } }, onRetry: (e) => reasons.push(e.reason) });
    const sending = patient.post(body, {}, inSeconds(10));
    await waitFor('credential retries', () => reasons.length >= 2, 5000);
    await writeFile(password, 'third\n');
    assert.equal((await sending).ok, true);
    assert.equal(rx.seen.at(-1)!.headers.authorization, basic('third'));
  });
});

describe('TLS', () => {
  test('CA file, untrusted without it, insecure_skip_verify, SNI', async () => {
    const ca = join(dir, 'ca.pem');
    await writeFile(ca, TEST_TLS.cert);
    const rx = await server({ tls: TEST_TLS });
    const lookup = async () => ({ address: '127.0.0.1', family: 4 as const });
    const url = `https://loki.test:${rx.port}/push`;
    const trusted = transport({ target: url, lookup, tls: { caFile: ca } });
    assert.equal((await trusted.post(body, {}, inSeconds(5))).ok, true);
    assert.equal(rx.seen[0]!.servername, 'loki.test');
    const untrusted = transport({ target: url, lookup });
    const r = await untrusted.post(body, {}, { deadline: Date.now() + 300 });
    assert.equal(r.reason, 'retries_exhausted');
    assert.match(r.error!, /certificate/i);
    const insecure = transport({ target: url, lookup, tls: { insecureSkipVerify: true } });
    assert.equal((await insecure.post(body, {}, inSeconds(5))).ok, true);
    // An IP URL with a name to check: the certificate is verified against serverName.
    const named = transport({ target: rx.url(), tls: { caFile: ca, serverName: 'kubernetes' } });
    assert.equal((await named.post(body, {}, inSeconds(5))).ok, true);
    assert.equal(rx.seen.at(-1)!.servername, 'kubernetes');
    assert.equal(rx.seen.length, 3);
  });

  test('client certificate files that appear (or rotate) are used from the next push on', async () => {
    const ca = join(dir, 'mtls-ca.pem');
    const cert = join(dir, 'client.pem');
    const key = join(dir, 'client-key.pem');
    await writeFile(ca, TEST_TLS.cert);
    // The test certificate is its own CA: the server trusts it as a client certificate too.
    const rx = await server({ tls: { ...TEST_TLS, ca: TEST_TLS.cert, requestCert: true } });
    const t = transport({ target: rx.url(), tls: { caFile: ca, certFile: cert, keyFile: key } });
    const missing = await t.post(body, {}, { deadline: Date.now() + 200 });
    assert.equal(missing.reason, 'retries_exhausted');
    assert.match(missing.error!, /client certificate .*client\.pem/);
    await writeFile(cert, TEST_TLS.cert);
    await writeFile(key, TEST_TLS.key);
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    assert.equal(rx.seen.length, 1);
  });
});

describe('lifecycle', () => {
  test('close() during a backoff wait returns at once, the post resolves with shutdown', async () => {
    const rx = await server();
    rx.script.push({ status: 503, headers: { 'retry-after': '30' } });
    let waiting = false;
    const t = transport({ target: rx.url(), onRetry: () => { waiting = true; } });
    const sending = t.post(body, {}, inSeconds(60));
    await waitFor('the first attempt', () => rx.seen.length === 1, 5000);
    await waitFor('the Retry-After wait', () => waiting, 5000);
    const t0 = Date.now();
    await t.close();
    const r = await sending;
    assert.deepEqual([r.ok, r.reason, r.attempts], [false, 'shutdown', 1]);
    assert.ok(Date.now() - t0 < 1000, 'did not wait for Retry-After');
    assert.deepEqual(await t.post(body, {}, inSeconds(5)), { ok: false, attempts: 0, reason: 'shutdown' });
  });

  test('close() aborts a request in flight', async () => {
    const rx = await server();
    rx.script.push({ status: 204, delayMs: 5000 });
    const t = transport({ target: rx.url(), timeoutMs: 10_000 });
    const sending = t.post(body, {}, inSeconds(60));
    await waitFor('the request', () => rx.seen.length === 1, 5000);
    const t0 = Date.now();
    await t.close();
    assert.equal((await sending).reason, 'shutdown');
    assert.ok(Date.now() - t0 < 1000);
  });

  test('a fixed target must be an http(s) URL', () => {
    assert.throws(() => new HttpTransport({ target: 'ftp://x/y', retry: fast }), /not an http\(s\) URL/);
    assert.throws(() => new HttpTransport({ target: 'not a url', retry: fast }), /Invalid URL/);
  });
});

describe('reachability', () => {
  test('one change when the backend goes away, one when it is back; none in between', async () => {
    const rx = await server();
    const port = rx.port;
    const changes: ReachabilityChange[] = [];
    const t = transport({ target: rx.url(), onReachability: (c) => changes.push(c) });
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    assert.equal(changes.length, 0, 'reachable at start is not a change');

    await rx.stop();
    const down = await t.post(body, {}, { deadline: Date.now() + 300 });
    assert.ok(down.attempts >= 2, `${down.attempts} attempts`);
    assert.equal((await t.post(body, {}, { deadline: Date.now() + 200 })).reason, 'retries_exhausted');
    assert.equal(changes.length, 1);
    assert.deepEqual({ ...changes[0], error: undefined }, { reachable: false, url: `http://127.0.0.1:${port}/push`, reason: 'connection', error: undefined });
    assert.ok(changes[0]!.error, 'with the error');

    await rx.start(port);
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    assert.equal(changes.length, 2);
    assert.equal(changes[1]!.reachable, true);
    assert.ok(changes[1]!.downForMs! >= 200, `down for ${changes[1]!.downForMs} ms`);

    // A final rejection means the backend is there; a retryable status means it is not.
    rx.script.push({ status: 400 });
    assert.equal((await t.post(body, {}, inSeconds(5))).reason, 'http_400');
    assert.equal(changes.length, 2);
    rx.script.push({ status: 503 }, { status: 503 });
    assert.equal((await t.post(body, {}, inSeconds(5))).ok, true);
    assert.deepEqual(changes.slice(2).map((c) => [c.reachable, c.reason]), [[false, 'http_503'], [true, undefined]]);
  });

  test('unreachable from the start is a change', async () => {
    const rx = await server();
    await rx.stop();
    const changes: ReachabilityChange[] = [];
    const t = transport({ target: rx.url(), onReachability: (c) => changes.push(c) });
    await t.post(body, {}, { deadline: Date.now() + 200 });
    assert.deepEqual(changes.map((c) => c.reachable), [false]);
  });
});
