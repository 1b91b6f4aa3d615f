// What the push sinks do with a backend's answer: the shared transport (status, Retry-After,
// body read with a bound) under each sink's retry rule, then what the sink reads from the
// body (OTLP's partial success). The backend is a loopback TCP server that writes the fuzzed
// response bytes as they are (status line, headers, body: so broken framing reaches undici
// too) and closes. Contracts (src/transport/http.ts): post() never throws and never ends in
// `internal_error`; ok only with a 2xx; rejectedCount() a count, never NaN or negative;
// parseRetryAfter() a finite wait or undefined.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RawBackend } from '../backend.js';
import { fixture } from '../paths.js';
import type { EventRecord, NetEvent } from '../../src/events/model.js';
import { createLogger } from '../../src/log.js';
import { LOKI_RETRYABLE, LokiSink } from '../../src/sinks/loki/sink.js';
import { OTLP_RETRYABLE } from '../../src/sinks/otlp/config.js';
import { rejectedCount } from '../../src/sinks/otlp/encode.js';
import { REMOTE_WRITE_RETRYABLE } from '../../src/sinks/remote-write/pusher.js';
import { HttpTransport, parseRetryAfter } from '../../src/transport/index.js';
import { check, showText, type Target } from '../harness.js';
import { mutateBytes, mutateJson, mutateText, randomValue, TOKENS } from '../mutate.js';
import type { Rng } from '../prng.js';

/** The answers the backends give (status, content type, body), as their documentation and code write them. */
interface Answer { status: number; type?: string; body: Buffer }
const text = (status: number, body: string): Answer => ({ status, type: 'text/plain; charset=utf-8', body: Buffer.from(body) });

/** protobuf ExportLogsServiceResponse / ExportMetricsServiceResponse with a partial success. */
function partialSuccess(rejected: number, message: string): Buffer {
  const varint = (n: number) => { const out: number[] = []; do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 0x80; out.push(b); } while (n > 0); return Buffer.from(out); };
  const msg = Buffer.from(message);
  const inner = Buffer.concat([Buffer.from([0x08]), varint(rejected), Buffer.from([0x12]), varint(msg.length), msg]);
  return Buffer.concat([Buffer.from([0x0a]), varint(inner.length), inner]);
}

const LOKI: Answer[] = [
  { status: 204, body: Buffer.alloc(0) },
  text(400, 'entry for stream \'{job="kubesonar", node="n1"}\' has timestamp too old: 2024-01-01T00:00:00Z, oldest acceptable timestamp is: 2024-01-08T00:00:00Z\n'),
  text(400, 'error at least one label pair is required per stream\n'),
  text(429, 'Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec) while attempting to ingest \'1000\' lines totaling \'1048576\' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased\n'),
  text(500, 'rpc error: code = Unavailable desc = connection error\n'),
  text(503, 'no healthy ring members\n'),
  { status: 200, type: 'application/json', body: Buffer.from('{"version":"2.7.7","revision":"1b9bba0","branch":"HEAD","goVersion":"go1.20.4"}') },
];
const OTLP: Answer[] = [
  { status: 200, type: 'application/x-protobuf', body: Buffer.alloc(0) },
  { status: 200, type: 'application/x-protobuf', body: partialSuccess(3, 'dropped 3 log records: attribute value too long') },
  { status: 200, type: 'application/json', body: Buffer.from('{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"2 records over the size limit"}}') },
  { status: 200, type: 'application/json', body: Buffer.from('{"partialSuccess":{"rejectedDataPoints":1}}') },
  { status: 200, type: 'application/json', body: Buffer.from('{}') },
  { status: 400, type: 'application/x-protobuf', body: Buffer.from('0a0c696e76616c69642064617461', 'hex') },
  { status: 400, type: 'application/json', body: Buffer.from('{"code":3,"message":"unmarshal: invalid wire type"}') },
  { status: 429, type: 'application/json', body: Buffer.from('{"code":8,"message":"too many requests"}') },
  { status: 503, type: 'text/plain', body: Buffer.from('Service Unavailable') },
];
const REMOTE_WRITE: Answer[] = [
  { status: 204, body: Buffer.alloc(0) },
  text(400, 'out of order sample\n'),
  text(400, 'duplicate sample for timestamp\n'),
  text(415, 'unsupported Content-Type\n'),
  text(429, 'rate limited\n'),
  text(500, 'storage error\n'),
];

/** Answers a real backend gave (`npm run fuzz -- --capture`: test/fixtures/http/), read back into status, type and body. */
function captured(prefix: string): Answer[] {
  const dir = fixture('http');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.startsWith(prefix)).sort().map((f) => {
    const rawBytes = readFileSync(join(dir, f));
    const end = rawBytes.indexOf('\r\n\r\n');
    const head = rawBytes.subarray(0, end).toString('latin1');
    const type = /^content-type:\s*(.*)$/im.exec(head)?.[1];
    return { status: Number(head.split(' ')[1]), ...(type ? { type } : {}), body: rawBytes.subarray(end + 4) };
  });
}

const RETRY_AFTER = ['5', '0', '120', ' 7 ', '-1', '1.5', 'Wed, 21 Oct 2015 07:28:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT', 'now', '', '9'.repeat(400), '99999999999999999999'];

/** An answer as raw HTTP/1.1 bytes, sometimes framed wrongly on purpose. */
function raw(rng: Rng, a: Answer, retryAfter: string | undefined): Buffer {
  const status = rng.chance(0.85) ? a.status : rng.pick([100, 101, 199, 200, 201, 204, 206, 299, 301, 304, 401, 413, 429, 500, 502, 503, 504, 599, 600, 999, 0]);
  const chunked = rng.chance(0.15);
  const headers = [`HTTP/1.1 ${status} ${rng.chance(0.9) ? 'Whatever' : rng.pick(TOKENS)}`];
  if (a.type) headers.push(`Content-Type: ${a.type}`);
  if (retryAfter !== undefined) headers.push(`Retry-After: ${retryAfter}`);
  if (rng.chance(0.05)) headers.push(`Retry-After: ${rng.pick(RETRY_AFTER)}`);
  let body = a.body;
  if (chunked) {
    headers.push('Transfer-Encoding: chunked');
    body = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from(body.length ? '\r\n0\r\n\r\n' : '\r\n')]);
  } else if (rng.chance(0.9)) {
    headers.push(`Content-Length: ${rng.chance(0.9) ? a.body.length : rng.pick([0, a.body.length + 1, a.body.length + 1000])}`);
  }
  headers.push('Connection: close');
  return Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`), body]);
}

interface Sink {
  name: string;
  path: string;
  answers: Answer[];
  retryable: (status: number) => boolean;
  /** What the sink reads from a delivered answer's body. */
  read?: (body: Uint8Array | undefined) => void;
  /** A body built with odd values where the sink reads them. */
  generate?: (rng: Rng) => Answer;
}

const count = (r: { rejected: number; message?: string }) => {
  check(Number.isSafeInteger(r.rejected) && r.rejected >= 0, `rejected is ${r.rejected}`);
  check(r.message === undefined || typeof r.message === 'string', `a message that is not text: ${JSON.stringify(r.message)}`);
};

const SINKS: Sink[] = [
  { name: 'sinks.loki.response', path: '/loki/api/v1/push', answers: LOKI, retryable: LOKI_RETRYABLE },
  {
    name: 'sinks.otlp.response', path: '/v1/logs', answers: OTLP, retryable: OTLP_RETRYABLE,
    generate: (rng) => {
      const odd = () => (rng.chance(0.5) ? randomValue(rng) : rng.pick([-1, '-7', '1e400', 2 ** 64, '18446744073709551615', 1.5, 'NaN', ' 3 ']));
      if (rng.chance(0.5)) return { status: 200, type: 'application/x-protobuf', body: partialSuccess(rng.pick([0, 1, 2 ** 31, 2 ** 53, 2 ** 63, 2 ** 64 - 1]), rng.pick(TOKENS)) };
      const ps = { [rng.pick(['rejectedLogRecords', 'rejectedDataPoints'])]: odd(), ...(rng.chance(0.5) ? { errorMessage: odd() } : {}) };
      return { status: 200, type: 'application/json', body: Buffer.from(JSON.stringify({ partialSuccess: rng.chance(0.9) ? ps : odd() })) };
    },
    read: (body) => {
      count(rejectedCount(body, 'http/protobuf', 'rejectedLogRecords'));
      count(rejectedCount(body, 'http/json', 'rejectedLogRecords'));
      count(rejectedCount(body, 'http/json', 'rejectedDataPoints'));
    },
  },
  { name: 'sinks.remote-write.response', path: '/api/v1/write', answers: [...REMOTE_WRITE, ...captured('remote-write-')], retryable: REMOTE_WRITE_RETRYABLE },
];

export function sinkResponseTargets(): Target<Buffer>[] {
  return SINKS.map((s) => {
    const backend = new RawBackend();
    let transport: HttpTransport | undefined;
    const corpus = s.answers.map((a) => a.body);
    return {
      name: s.name,
      hangMs: 3000,
      async open() {
        await backend.start();
        transport = new HttpTransport({
          target: `http://127.0.0.1:${backend.port}${s.path}`, timeoutMs: 1000,
          retry: { retryable: s.retryable, minBackoffMs: 1, maxBackoffMs: 2 },
        });
      },
      async close() {
        await transport?.close();
        await backend.stop();
      },
      make(rng) {
        const a = s.generate && rng.chance(0.3) ? s.generate(rng) : rng.pick(s.answers);
        const answer = { ...a, body: rng.chance(0.5) ? mutateBytes(rng, a.body, corpus) : a.body };
        const r = raw(rng, answer, rng.chance(0.3) ? rng.pick(RETRY_AFTER) : undefined);
        return rng.chance(0.3) ? mutateBytes(rng, r, [], 2) : r;
      },
      async feed(answer) {
        backend.answer = () => answer;
        const res = await transport!.post(Buffer.from('x'), { 'content-type': 'application/octet-stream' }, { deadline: Date.now() });
        check(res.reason !== 'internal_error', `internal_error: ${res.error}`);
        check(!res.ok || (res.status! >= 200 && res.status! < 300), `ok with status ${res.status}`);
        check(res.ok || typeof res.reason === 'string', 'a failure without a reason');
        check(res.error === undefined || !res.error.includes('\n'), 'an error that is not one line');
        if (res.ok) s.read?.(res.body);
      },
      show: (b, max) => showText(b.toString('latin1'), max),
      save: (b) => b.toString('latin1'),
    };
  });
}

export function retryAfterTarget(): Target<string> {
  return {
    name: 'transport.retry-after',
    make: (rng) => (rng.chance(0.3) ? rng.pick(RETRY_AFTER) : mutateText(rng, rng.pick(RETRY_AFTER), RETRY_AFTER)),
    feed(v) {
      const ms = parseRetryAfter(v, 1_700_000_000_000);
      check(ms === undefined || (Number.isFinite(ms) && ms >= 0), `a wait of ${ms} ms`);
    },
    show: showText,
  };
}

// ---- Loki: the version the sink reads from GET buildinfo, then the push ----

const BUILDINFO = [
  { version: '2.7.7', revision: '1b9bba0', branch: 'HEAD', buildUser: 'root@buildkitsandbox', buildDate: '2023-05-03T16:01:13Z', goVersion: 'go1.20.4' },
  { version: '3.4.2', revision: 'a2a4e2b', branch: 'release-3.4.x', buildUser: 'root@buildkitsandbox', buildDate: '2025-02-12T09:07:22Z', goVersion: 'go1.23.6' },
  { version: 'v3.0.0-rc.1', revision: '', branch: '', buildUser: '', buildDate: '', goVersion: '' },
  { version: '', revision: '', branch: '', buildUser: '', buildDate: '', goVersion: 'go1.22.2' },
];

function lokiRecord(): EventRecord {
  const event: NetEvent = {
    timeUnixNano: 1_767_225_600_000_000_000n, type: 'TCP_RCV_RST_ESTAB', probe: 'tcpreset', severity: 'WARN', msg: 'reset received', netns: 4026532801,
    attrs: { protocol: 'tcp', saddr: '10.244.1.7', sport: 40000, daddr: '10.96.0.10', dport: 53 },
  };
  return {
    event, timeUnixNano: event.timeUnixNano, severityNumber: 13, severityText: 'WARN', body: event.msg,
    attributes: { 'event.type': event.type, 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'cart-7d9f', netns: 4026532801 },
  };
}

export function lokiBuildinfoTarget(): Target<{ buildinfo: Buffer; push: Buffer }> {
  const backend = new RawBackend();
  const corpus = BUILDINFO.map((b) => Buffer.from(JSON.stringify(b)));
  return {
    name: 'sinks.loki.buildinfo',
    hangMs: 4000,
    open: () => backend.start(),
    close: () => backend.stop(),
    make(rng) {
      const doc = rng.pick(BUILDINFO);
      const r = rng.int(3);
      const body = r === 0 ? Buffer.from(JSON.stringify(mutateJson(rng, doc)) ?? '') : r === 1 ? mutateBytes(rng, Buffer.from(JSON.stringify(doc)), corpus) : Buffer.from(JSON.stringify(doc));
      const status = rng.chance(0.85) ? 200 : rng.pick([404, 500, 401]);
      const buildinfo = raw(rng, { status, type: 'application/json', body }, undefined);
      return { buildinfo: rng.chance(0.2) ? mutateBytes(rng, buildinfo, [], 2) : buildinfo, push: raw(rng, rng.pick(LOKI), undefined) };
    },
    async feed({ buildinfo, push }) {
      backend.answer = (head) => (head.startsWith('GET ') ? buildinfo : push);
      const lines: string[] = [];
      const sink = new LokiSink({ url: `http://127.0.0.1:${backend.port}`, min_backoff_ms: 1, max_backoff_ms: 2 }, {
        node: 'node-1', maxRetryTimeMs: 0, requestTimeoutMs: 1000, logger: createLogger((l) => lines.push(l)),
      });
      try {
        const r = await sink.send([lokiRecord()]);
        const dropped = Object.entries(r.dropped ?? {});
        check(r.delivered + dropped.reduce((n, [, v]) => n + v, 0) === 1, `1 record, ${JSON.stringify(r)}`);
        check(!dropped.some(([reason]) => reason === 'internal_error'), `internal_error: ${lines.join(' ')}`);
        const fields = sink.status().fields as { storage?: unknown; version?: unknown; why?: unknown } | null;
        if (fields) {
          check(fields.storage === 'line' || fields.storage === 'metadata', `storage ${JSON.stringify(fields.storage)}`);
          check(typeof fields.version === 'string' && typeof fields.why === 'string' && !/\n/.test(fields.why), `fields ${JSON.stringify(fields)}`);
        }
      } finally {
        await sink.close();
      }
    },
    show: ({ buildinfo, push }, max) => `buildinfo=${showText(buildinfo.toString('latin1'), max)} push=${showText(push.toString('latin1'), max)}`,
    save: ({ buildinfo, push }) => ({ buildinfo: buildinfo.toString('latin1'), push: push.toString('latin1') }),
  };
}
