// TLS on both servers with a CA made in the test: the certificate is verified by clients, a
// certificate replaced on disk is what the next handshake presents, a broken replacement keeps
// the last good one; and the limits: a slowloris client (headers dripped, nothing sent, no TLS
// ClientHello) is cut off within the header timeout, idle keep-alive connections are closed,
// oversized headers and bodies are refused, open connections are bounded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsServer } from '../../src/exporters/http-server.js';
import { SERVER_SECTION, type ServerConfig } from '../../src/exporters/server-config.js';
import { createLogger } from '../../src/log.js';
import { StreamSink } from '../../src/sinks/stream.js';
import { EventPipeline } from '../../src/events/pipeline.js';
import { fakeEndpointSource } from '../helpers/endpoint-source.js';
import { httpGet } from '../helpers/http-client.js';
import { makeCa, makeCert, type TestCa } from '../helpers/tls.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'kubesonar-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logs: string[] = [];
const log = createLogger((l) => logs.push(l));

const source = fakeEndpointSource();

const config = (patch: (c: ServerConfig) => void): ServerConfig => {
  const c = structuredClone(SERVER_SECTION.defaults);
  patch(c);
  return c;
};

/** Replaces `dest` the way a Secret volume or cert-manager does: a complete new file moved into place. */
function replace(src: string, dest: string): void {
  copyFileSync(src, `${dest}.tmp`);
  renameSync(`${dest}.tmp`, dest);
}

describe('TLS', () => {
  let ca: TestCa;
  const live = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  let metrics: MetricsServer;
  let stream: StreamSink;
  const fingerprints: Record<string, string> = {};

  before(() => {
    ca = makeCa(dir);
    for (const name of ['agent-a', 'agent-b', 'agent-c']) fingerprints[name] = makeCert(dir, ca, name).fingerprint;
    replace(join(dir, 'agent-a.crt'), live.certFile);
    replace(join(dir, 'agent-a.key'), live.keyFile);
  });
  after(async () => {
    await metrics?.close();
    await stream?.close();
  });

  test('both servers speak TLS with the configured pair; clients verify it against the CA; plain HTTP gets nothing', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'scrape-token\n');
    const c = config((x) => { x.tls = { cert_file: live.certFile, key_file: live.keyFile }; x.auth.metrics = 'bearer'; x.auth.events = 'loopback'; x.bearer_token_file = tokenFile; });
    metrics = new MetricsServer(source, { log, env: {} });
    await metrics.listen(0, c);
    stream = new StreamSink({ log, env: {} });
    await stream.listen(0, '127.0.0.1', c);
    const ok = await httpGet(stream.address!.port, '/events', { ca: ca.pem, headersOnly: true });
    assert.equal(ok.status, 200);
    assert.equal(ok.fingerprint, fingerprints['agent-a']);
    // Auth and TLS together.
    assert.equal((await httpGet(metrics.address!.port, '/metrics', { ca: ca.pem })).status, 401);
    const scraped = await httpGet(metrics.address!.port, '/metrics', { ca: ca.pem, token: 'scrape-token' });
    assert.equal(scraped.status, 200);
    // A client that does not trust the CA refuses the handshake; a plain HTTP client gets no HTTP answer.
    await assert.rejects(httpGet(metrics.address!.port, '/healthz', { ca: makeCa(mkdtempSync(join(dir, 'other-')), 'other CA').pem }), /self-signed|unable to verify|certificate/i);
    await assert.rejects(httpGet(metrics.address!.port, '/healthz'), /socket hang up|ECONNRESET|Parse Error/);
    const st = metrics.status() as { tls: { subject: string; sha256: string; altNames: string; error: string | null } };
    assert.equal(st.tls.subject, 'CN=agent-a');
    assert.equal(st.tls.sha256, fingerprints['agent-a']);
    assert.match(st.tls.altNames, /IP Address:127\.0\.0\.1/);
    assert.equal(st.tls.error, null);
  });

  test('a certificate replaced on disk is presented at the next handshake, on both ports', async () => {
    replace(join(dir, 'agent-b.key'), live.keyFile);
    replace(join(dir, 'agent-b.crt'), live.certFile);
    for (const port of [metrics.address!.port, stream.address!.port]) {
      const r = await httpGet(port, port === stream.address!.port ? '/events' : '/healthz', { ca: ca.pem, headersOnly: true });
      assert.equal(r.status, 200);
      assert.equal(r.fingerprint, fingerprints['agent-b'], 'the very next handshake has the new certificate');
    }
    assert.ok(logs.some((l) => l.includes('TLS certificate reloaded') && l.includes('CN=agent-b')));
  });

  test('a half-written renewal (a key that does not match) keeps the last good pair and says why; the completed renewal is taken', async () => {
    replace(join(dir, 'agent-c.crt'), live.certFile); // the key is still agent-b's
    const r = await httpGet(metrics.address!.port, '/healthz', { ca: ca.pem });
    assert.equal(r.fingerprint, fingerprints['agent-b']);
    const st = metrics.status() as { tls: { error: string | null } };
    assert.match(st.tls.error ?? '', /do not form a certificate and its key/);
    await httpGet(metrics.address!.port, '/healthz', { ca: ca.pem });
    assert.equal(logs.filter((l) => l.includes('TLS certificate not reloaded')).length, 1, 'logged once (only the metrics server had connections)');
    replace(join(dir, 'agent-c.key'), live.keyFile);
    const after = await httpGet(metrics.address!.port, '/healthz', { ca: ca.pem });
    assert.equal(after.fingerprint, fingerprints['agent-c']);
    assert.equal((metrics.status() as { tls: { error: string | null } }).tls.error, null);
  });

  test('TLS turned off and on again on the same port (a config reload) keeps serving', async () => {
    const port = metrics.address!.port;
    await metrics.listen(port, config(() => {}));
    assert.equal((await httpGet(port, '/healthz')).status, 200);
    await metrics.listen(port, config((x) => { x.tls = { cert_file: live.certFile, key_file: live.keyFile }; }));
    assert.equal((await httpGet(port, '/healthz', { ca: ca.pem })).status, 200);
    // A missing file refuses the change and the running server stays as it was.
    await assert.rejects(metrics.listen(port, config((x) => { x.tls = { cert_file: join(dir, 'none.crt'), key_file: live.keyFile }; })),
      /server\.tls\.cert_file .*none\.crt: ENOENT/);
    assert.equal((await httpGet(port, '/healthz', { ca: ca.pem })).status, 200);
  });
});

/** Opens a raw TCP connection; resolves with how long it stayed open and what the server sent. */
function holdOpen(port: number, drip?: (s: Socket) => NodeJS.Timeout): Promise<{ ms: number; got: string }> {
  return new Promise((resolve) => {
    const start = Date.now();
    const s = connect(port, '127.0.0.1');
    let got = '';
    let timer: NodeJS.Timeout | undefined;
    s.on('connect', () => { timer = drip?.(s); });
    s.on('data', (d) => { got += d.toString(); });
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      resolve({ ms: Date.now() - start, got });
    });
  });
}

describe('limits', () => {
  const HEADER_MS = 1000;
  // Node checks the timeouts every HEADER_MS / 10; the rest is scheduling on a busy machine.
  const SLACK_MS = 100 + 400;
  let metrics: MetricsServer;
  let stream: StreamSink;
  let ca: TestCa;
  let tlsServer: MetricsServer;

  before(async () => {
    const c = config((x) => {
      x.limits = { ...x.limits, header_timeout_ms: HEADER_MS, request_timeout_ms: 2000, idle_timeout_ms: 2000, max_header_bytes: 2048, max_body_bytes: 16, max_connections: 4 };
    });
    metrics = new MetricsServer(source, { log, env: {} });
    await metrics.listen(0, c);
    stream = new StreamSink({ log, env: {} });
    await stream.listen(0, '127.0.0.1', c);
    ca = makeCa(mkdtempSync(join(dir, 'limits-')));
    const cert = makeCert(dir, ca, 'limits');
    tlsServer = new MetricsServer(source, { log, env: {} });
    await tlsServer.listen(0, { ...c, tls: { cert_file: cert.certFile, key_file: cert.keyFile } });
  });
  after(async () => {
    await metrics?.close();
    await stream?.close();
    await tlsServer?.close();
  });

  test('slowloris: headers dripped a line at a time are cut off with 408 within the header timeout, on both servers', async () => {
    for (const port of [metrics.address!.port, stream.address!.port]) {
      const r = await holdOpen(port, (s) => {
        s.write('GET /events HTTP/1.1\r\nHost: x\r\n');
        return setInterval(() => s.write('X-Slow: 1\r\n'), 100);
      });
      assert.match(r.got, /^HTTP\/1\.1 408 Request Timeout/);
      assert.ok(r.ms >= HEADER_MS - 50 && r.ms <= HEADER_MS + SLACK_MS, `cut off after ${r.ms} ms (header timeout ${HEADER_MS})`);
    }
  });

  test('a connection that sends nothing, and a TLS connection that never says hello, are closed within the header timeout', async () => {
    for (const port of [metrics.address!.port, stream.address!.port, tlsServer.address!.port]) {
      const r = await holdOpen(port);
      assert.ok(r.ms >= HEADER_MS - 50 && r.ms <= HEADER_MS + SLACK_MS, `port ${port} closed after ${r.ms} ms`);
    }
  });

  test('an idle keep-alive connection is closed after the idle timeout', async () => {
    const r = await holdOpen(metrics.address!.port, (s) => {
      s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      return setInterval(() => {}, 1000);
    });
    assert.match(r.got, /^HTTP\/1\.1 200 OK/);
    assert.ok(r.ms >= 1900 && r.ms <= 2000 + SLACK_MS, `idle connection closed after ${r.ms} ms (idle timeout 2000)`);
  });

  test('a stream reader that keeps reading stays connected past the idle timeout; one that stopped reading is closed', async () => {
    const pipeline = new EventPipeline({ nodeName: 'node-a', resolve: () => undefined });
    pipeline.setSink(stream, { batchMaxWaitMs: 1 });
    const port = stream.address!.port;
    // A reader with nothing to read: the heartbeats keep the connection from looking idle.
    const healthy = connect(port, '127.0.0.1');
    healthy.on('error', () => {});
    let healthyClosed = false;
    healthy.on('close', () => { healthyClosed = true; });
    healthy.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    healthy.resume();
    // A reader that stopped: it reads nothing once connected, so the server's writes stall.
    const stalled = connect(port, '127.0.0.1');
    stalled.on('error', () => {});
    stalled.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause();
    await waitFor('both clients registered', () => stream.clientInfo().length === 2, 5000);
    // Enough events to fill the stalled reader's socket buffers many times over.
    const msg = 'x'.repeat(2000);
    let published = 0;
    const publishedUntil = await waitFor('the stalled reader\'s writes to back up', async () => {
      for (let i = 0; i < 2000; i++) pipeline.publish({ timeUnixNano: 1n, type: 'TCP_SEND_RST_NOSock', probe: 'tcpreset', severity: 'WARN', msg, netns: 1, attrs: {} });
      published += 2000;
      await new Promise((r) => setTimeout(r, 20));
      return stream.clientInfo().some((c) => c.dropped > 0) ? Date.now() : undefined;
    }, 20_000);
    // The server side lets it go (the paused client itself reads nothing, not even the close).
    const closedAt = await waitFor('the stalled reader closed by the server', () => (stream.clientInfo().length === 1 ? Date.now() : undefined), 10_000);
    // Drops start when the agent's own buffer for it is full; the kernel's socket buffers still
    // take data for a moment, then nothing moves and the idle timeout (2 s) runs out.
    const after = closedAt - publishedUntil;
    assert.ok(after >= 1900 && after <= 8000, `closed ${after} ms after its writes backed up (idle timeout 2000)`);
    assert.ok(published > 0);
    await holdsFor('the healthy reader stays connected', () => !healthyClosed, 3000);
    healthy.destroy();
    stalled.destroy();
    await pipeline.close(500);
  });

  test('bodies: over max_body_bytes 413, undeclared (chunked) 411; headers over max_header_bytes 431', async () => {
    const port = metrics.address!.port;
    const big = await holdOpen(port, (s) => { s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n'); return setInterval(() => {}, 1000); });
    assert.match(big.got, /^HTTP\/1\.1 413 /);
    assert.match(big.got, /request body over 16 bytes/);
    const chunked = await holdOpen(port, (s) => { s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'); return setInterval(() => {}, 1000); });
    assert.match(chunked.got, /^HTTP\/1\.1 411 /);
    assert.ok(big.ms < HEADER_MS && chunked.ms < HEADER_MS, 'the connection is closed at once');
    const small = await httpGet(port, '/healthz', { headers: { 'content-length': '0' } });
    assert.equal(small.status, 200);
    const huge = await holdOpen(port, (s) => { s.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`); return setInterval(() => {}, 1000); });
    assert.match(huge.got, /^HTTP\/1\.1 431 /);
  });

  test('open connections are bounded: beyond max_connections a new one is closed at once', async () => {
    const port = metrics.address!.port;
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const s = connect(port, '127.0.0.1');
        s.on('error', () => {});
        held.push(s);
        await new Promise((r) => s.once('connect', r));
      }
      const extra = await holdOpen(port);
      assert.ok(extra.ms < HEADER_MS / 2, `the fifth connection lasted ${extra.ms} ms`);
      assert.equal(extra.got, '');
    } finally {
      for (const s of held) s.destroy();
    }
    // Once they are gone, connections are accepted again.
    await waitFor('a request accepted again', async () => (await httpGet(port, '/healthz')).status === 200, 5000);
  });

  test('on the TLS port, a client sending plain HTTP instead of a ClientHello is dropped at once', async () => {
    const good = await new Promise<boolean>((resolve) => {
      const s = tlsConnect({ port: tlsServer.address!.port, host: '127.0.0.1', ca: ca.pem });
      s.on('error', () => resolve(false));
      s.on('secureConnect', () => { s.destroy(); resolve(true); });
    });
    assert.ok(good, 'a real handshake works');
    const bad = await holdOpen(tlsServer.address!.port, (s) => { s.write('GET / HTTP/1.1\r\n\r\n'); return setInterval(() => {}, 1000); });
    assert.ok(bad.ms < HEADER_MS, `plain HTTP on the TLS port closed after ${bad.ms} ms`);
  });
});
