// A strict Grafana Loki push receiver for tests. It decodes the body the way Loki's push
// handler does: Content-Type application/x-protobuf → raw snappy → logproto.PushRequest,
// application/json (optionally Content-Encoding gzip) → the JSON push format; the stream
// label string is parsed like Loki's label parser. Malformed bodies get 400, unknown media
// types 415. The protobuf decoder here is written against the wire format by hand, not
// with the sink's schema, so a wrong field number or type in the sink shows up as a failure.
// GET /loki/api/v1/status/buildinfo answers the version the receiver plays. Playing a 2.x Loki
// (as 2.7.7 was measured to behave) it accepts entries with structured metadata with 204 and
// stores only their line and stream labels: the metadata is gone.
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import snappy from 'snappyjs';

/**
 * A self-signed test certificate (EC P-256, valid until 2126) for `loki.test`, `kubernetes`
 * and 127.0.0.1, so TLS tests need no openssl at run time. It doubles as its own CA.
 */
export const TEST_TLS = {
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzwaYhqRM2HjWKSaL
CncrORug6LjmBOo1XlGNIGiVca6hRANCAASBgVQ18fF4GriwOfn+8DOEVuSwtrCj
485iTMs5y8cme2ZuQXrK+xSxeUIp5G/n7pnLIOjTCiTpyzsXzFLq54FQ
-----END PRIVATE KEY-----
`,
  cert: `-----BEGIN CERTIFICATE-----
MIIBqDCCAU2gAwIBAgIUEpC9h4/O6E73p2wteW6+LLWf01kwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9raS50ZXN0MCAXDTI2MTEyMzA3NDQ1MloYDzIxMjYxMDMw
MDc0NDUyWjAUMRIwEAYDVQQDDAlsb2tpLnRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASBgVQ18fF4GriwOfn+8DOEVuSwtrCj485iTMs5y8cme2ZuQXrK+xSx
eUIp5G/n7pnLIOjTCiTpyzsXzFLq54FQo3sweTAdBgNVHQ4EFgQUKSZ4z+PUoKVk
KMW/H67AkhlZVu8wHwYDVR0jBBgwFoAUKSZ4z+PUoKVkKMW/H67AkhlZVu8wDwYD
VR0TAQH/BAUwAwEB/zAmBgNVHREEHzAdgglsb2tpLnRlc3SCCmt1YmVybmV0ZXOH
BH8AAAEwCgYIKoZIzj0EAwIDSQAwRgIhAIVit+JSK4Lb1BEqDGYVwXRwMpwnt35i
tgue5si3qYK8AiEA8tHyX3oR6XCGC50uzmiwiyEGDNi91ZoDikX1Vuk0pz4=
-----END CERTIFICATE-----
`,
};

export interface ReceivedEntry {
  /** The entry timestamp, exact ns. */
  ns: bigint;
  line: string;
  metadata: Record<string, string>;
}
export interface ReceivedStream {
  labels: Record<string, string>;
  entries: ReceivedEntry[];
}
export interface ReceivedPush {
  headers: IncomingMessage['headers'];
  encoding: 'protobuf' | 'json';
  streams: ReceivedStream[];
}
export interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait before answering (a slow Loki). */
  delayMs?: number;
}

export class LokiReceiver {
  /** Pushes answered with 2xx (what Loki would have ingested). */
  readonly pushes: ReceivedPush[] = [];
  /** Every request: its status, and when it arrived. */
  readonly requests: Array<{ status: number; at: number; path: string; headers: IncomingMessage['headers'] }> = [];
  /** Responses for the next requests, in order; then 204. */
  readonly script: Scripted[] = [];
  private server?: Server;
  private port: number;

  /** GET buildinfo requests answered (not in `requests`, which are the pushes). */
  buildinfoRequests = 0;

  constructor(private readonly opts: {
    port?: number; tls?: { key: string; cert: string }; host?: string;
    /** The version buildinfo answers (default 3.4.2; '' as a build without release flags does). Below 3.0, structured metadata is dropped. */
    version?: string;
    /** Overrides what the version implies: a Loki 3 configured without structured metadata. */
    keepsMetadata?: boolean;
  } = {}) {
    this.port = opts.port ?? 0;
  }

  get version(): string {
    return this.opts.version ?? '3.4.2';
  }

  /** Whether this Loki keeps structured metadata (3.0 and later, with their defaults). */
  get keepsMetadata(): boolean {
    return this.opts.keepsMetadata ?? Number(/^v?(\d+)\./.exec(this.version)?.[1] ?? 0) >= 3;
  }

  get url(): string {
    return `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }
  get boundPort(): number {
    return this.port;
  }

  async start(): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    const server = this.opts.tls ? createHttps(this.opts.tls, handler) : createHttp(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening and cuts open connections (Loki down); `start()` again reuses the port. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Every accepted entry with its stream labels, in arrival order. */
  entries(): Array<ReceivedEntry & { labels: Record<string, string> }> {
    return this.pushes.flatMap((p) => p.streams.flatMap((s) => s.entries.map((e) => ({ ...e, labels: s.labels }))));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/loki/api/v1/status/buildinfo') {
      this.buildinfoRequests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version: this.version, revision: '', branch: '', buildUser: '', buildDate: '', goVersion: '' }));
      return;
    }
    const record = { status: 0, at: Date.now(), path: req.url ?? '', headers: req.headers };
    this.requests.push(record);
    const answer = (status: number, body = '', headers: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(body);
    };
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      return; // client went away
    }
    if (req.method !== 'POST' || req.url !== '/loki/api/v1/push') return answer(404, '404 page not found\n');

    let push: ReceivedPush;
    try {
      let body = Buffer.concat(chunks);
      const enc = (req.headers['content-encoding'] ?? '').toLowerCase();
      if (enc === 'gzip') body = gunzipSync(body);
      else if (enc === 'deflate') body = inflateSync(body);
      else if (enc !== '') return answer(415, `unsupported Content-Encoding ${enc}\n`);
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
      if (type === 'application/x-protobuf') {
        const raw = snappy.uncompress(body); // a Buffer for a Buffer
        push = { headers: req.headers, encoding: 'protobuf', streams: decodePushRequest(Buffer.isBuffer(raw) ? raw : Buffer.from(raw)) };
      } else if (type === 'application/json') {
        push = { headers: req.headers, encoding: 'json', streams: decodeJson(body.toString('utf8')) };
      } else {
        return answer(415, `unsupported Content-Type ${type}\n`);
      }
    } catch (err) {
      return answer(400, `loghttp push: ${(err as Error).message}\n`);
    }

    const s = this.script.shift() ?? { status: 204 };
    if (s.delayMs) await new Promise((r) => setTimeout(r, s.delayMs));
    if (res.destroyed || req.socket.destroyed) {
      record.status = -1; // the client gave up before the answer
      return;
    }
    if (s.status >= 200 && s.status < 300) {
      // A 2.x Loki: the push is accepted, the structured metadata is not stored.
      if (!this.keepsMetadata) for (const st of push.streams) for (const e of st.entries) e.metadata = {};
      this.pushes.push(push);
    }
    answer(s.status, s.body ?? '', s.headers);
  }
}

// --- protobuf wire format --------------------------------------------------------------

// One reader walks the whole request: a nested message is read by narrowing `end` to it and
// restoring it after (no sub-buffer or reader object per field), tags are split by the caller
// (no pair allocated per field). Every check of the format stays.
/** Buffer's own decoders, which toString(encoding, start, end) calls after checking its arguments. */
type NativeSlices = Buffer & { utf8Slice(start: number, end: number): string; latin1Slice(start: number, end: number): string };

const SHORT_STRING = 32;
/** Short ASCII strings seen, by a hash of their bytes (bounded: a receiver in a long test). */
const shortStrings = new Map<number, string>();

function sameAscii(s: string, buf: Buffer, start: number, end: number): boolean {
  if (s.length !== end - start) return false;
  for (let i = start; i < end; i++) if (s.charCodeAt(i - start) !== buf[i]) return false;
  return true;
}

class Reader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    public end = buf.length,
  ) {}
  get done(): boolean {
    return this.pos >= this.end;
  }
  /** An unsigned varint as a number (exact up to 2^53, which covers every field Loki sends). */
  varint(): number {
    let v = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (this.pos >= this.end) throw new Error('proto: unexpected EOF in varint');
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) {
        if (v > Number.MAX_SAFE_INTEGER) throw new Error('proto: varint beyond 2^53 (this receiver does not expect one)');
        return v;
      }
    }
    throw new Error('proto: integer overflow');
  }
  /** Reads a length prefix; returns the end of the field's bytes (which start at `pos`). */
  length(): number {
    const n = this.varint();
    if (this.pos + n > this.end) throw new Error('proto: unexpected EOF in length-delimited field');
    return this.pos + n;
  }
  /** Enters a nested message: returns the outer end, to give back to leave(). */
  enter(): number {
    const outer = this.end;
    this.end = this.length();
    return outer;
  }
  leave(outer: number): void {
    this.pos = this.end;
    this.end = outer;
  }
  string(): string {
    const end = this.length();
    const buf = this.buf;
    const start = this.pos;
    this.pos = end;
    if (end - start <= SHORT_STRING) {
      // Short ASCII strings (metadata names, most values) repeat from entry to entry: found by
      // a hash of their bytes and checked byte for byte, instead of a native call each.
      let h = end - start;
      let i = start;
      for (; i < end; i++) {
        const c = buf[i]!;
        if (c >= 0x80) break;
        h = Math.imul(h ^ c, 16777619);
      }
      if (i === end) {
        const known = shortStrings.get(h);
        if (known !== undefined && sameAscii(known, buf, start, end)) return known;
        const s = (buf as NativeSlices).latin1Slice(start, end); // ASCII: the same text in UTF-8
        if (known === undefined && shortStrings.size < 4096) shortStrings.set(h, s);
        return s;
      }
    }
    // utf8Slice: what toString('utf8', start, end) calls after checking its arguments.
    const s = (buf as NativeSlices).utf8Slice(start, end);
    // A replacement character either was sent as such or marks invalid UTF-8.
    if (s.includes('\ufffd') && !Buffer.from(s, 'utf8').equals(buf.subarray(start, end))) throw new Error('proto: invalid UTF-8 in a string field');
    return s;
  }
  /** The next tag: field number (`tag >>> 3`, never 0) and wire type (`tag & 7`). */
  tag(): number {
    const t = this.varint();
    if (t >>> 3 === 0) throw new Error('proto: illegal tag 0');
    return t;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.pos = this.length();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`proto: illegal wire type ${wire}`);
    if (this.pos > this.end) throw new Error('proto: unexpected EOF');
  }
  expect(wire: number, want: number, what: string): void {
    if (wire !== want) throw new Error(`proto: wrong wire type ${wire} for ${what}`);
  }
}

/** logproto.PushRequest { repeated StreamAdapter streams = 1; } */
function decodePushRequest(buf: Buffer): ReceivedStream[] {
  const r = new Reader(buf);
  const streams: ReceivedStream[] = [];
  while (!r.done) {
    const t = r.tag();
    if (t >>> 3 === 1) {
      r.expect(t & 7, 2, 'PushRequest.streams');
      const outer = r.enter();
      streams.push(decodeStream(r));
      r.leave(outer);
    } else r.skip(t & 7);
  }
  return streams;
}

/** StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; } */
function decodeStream(r: Reader): ReceivedStream {
  let labels: Record<string, string> | undefined;
  const entries: ReceivedEntry[] = [];
  while (!r.done) {
    const t = r.tag();
    const f = t >>> 3;
    if (f === 1) {
      r.expect(t & 7, 2, 'StreamAdapter.labels');
      labels = parseLabels(r.string());
    } else if (f === 2) {
      r.expect(t & 7, 2, 'StreamAdapter.entries');
      const outer = r.enter();
      entries.push(decodeEntry(r));
      r.leave(outer);
    } else if (f === 3) {
      r.expect(t & 7, 0, 'StreamAdapter.hash');
      r.varint();
    } else r.skip(t & 7);
  }
  if (!labels) throw new Error('error at least one label pair is required per stream');
  return { labels, entries };
}

/** EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; } */
function decodeEntry(r: Reader): ReceivedEntry {
  let ns = 0n;
  let line = '';
  const metadata: Record<string, string> = {};
  while (!r.done) {
    const t = r.tag();
    const f = t >>> 3;
    if (f === 1) {
      r.expect(t & 7, 2, 'EntryAdapter.timestamp');
      const outer = r.enter();
      ns = decodeTimestamp(r);
      r.leave(outer);
    } else if (f === 2) {
      r.expect(t & 7, 2, 'EntryAdapter.line');
      line = r.string();
    } else if (f === 3) {
      r.expect(t & 7, 2, 'EntryAdapter.structuredMetadata');
      const outer = r.enter();
      let name = '';
      let value = '';
      while (!r.done) {
        const pt = r.tag();
        const pf = pt >>> 3;
        if (pf === 1) (r.expect(pt & 7, 2, 'LabelPairAdapter.name'), (name = r.string()));
        else if (pf === 2) (r.expect(pt & 7, 2, 'LabelPairAdapter.value'), (value = r.string()));
        else r.skip(pt & 7);
      }
      r.leave(outer);
      if (name in metadata) throw new Error(`duplicate structured metadata ${name}`);
      metadata[name] = value;
    } else r.skip(t & 7);
  }
  return { ns, line, metadata };
}

/** google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; } */
function decodeTimestamp(r: Reader): bigint {
  let seconds = 0;
  let nanos = 0;
  while (!r.done) {
    const t = r.tag();
    const f = t >>> 3;
    if (f === 1) (r.expect(t & 7, 0, 'Timestamp.seconds'), (seconds = r.varint()));
    else if (f === 2) (r.expect(t & 7, 0, 'Timestamp.nanos'), (nanos = r.varint()));
    else r.skip(t & 7);
  }
  if (nanos < 0 || nanos >= 1_000_000_000) throw new Error(`timestamp: nanos ${nanos} out of range`);
  return BigInt(seconds) * 1_000_000_000n + BigInt(nanos);
}

// --- JSON push format ---------------------------------------------------------------------

function decodeJson(text: string): ReceivedStream[] {
  const doc = JSON.parse(text) as unknown;
  const streams = (doc as { streams?: unknown }).streams;
  if (!Array.isArray(streams)) throw new Error('"streams" must be an array');
  return streams.map((s: { stream?: unknown; values?: unknown }) => {
    if (!s.stream || typeof s.stream !== 'object' || Array.isArray(s.stream)) throw new Error('"stream" must be an object of labels');
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.stream)) {
      if (typeof v !== 'string') throw new Error(`label ${k}: value must be a string`);
      checkLabelName(k);
      labels[k] = v;
    }
    if (Object.keys(labels).length === 0) throw new Error('error at least one label pair is required per stream');
    if (!Array.isArray(s.values)) throw new Error('"values" must be an array');
    const entries = s.values.map((v: unknown) => {
      if (!Array.isArray(v) || v.length < 2 || v.length > 3) throw new Error('a value must be [ts, line] or [ts, line, metadata]');
      const [ts, line, meta] = v as [unknown, unknown, unknown];
      if (typeof ts !== 'string' || !/^\d+$/.test(ts)) throw new Error(`timestamp ${JSON.stringify(ts)}: must be a string of ns`);
      if (typeof line !== 'string') throw new Error('line must be a string');
      const metadata: Record<string, string> = {};
      if (meta !== undefined) {
        if (!meta || typeof meta !== 'object' || Array.isArray(meta)) throw new Error('structured metadata must be an object');
        for (const [k, mv] of Object.entries(meta)) {
          if (typeof mv !== 'string') throw new Error(`structured metadata ${k}: value must be a string`);
          metadata[k] = mv;
        }
      }
      return { ns: BigInt(ts), line, metadata };
    });
    return { labels, entries };
  });
}

// --- label selector string: {name="value", ...} ---------------------------------------------

function checkLabelName(n: string): void {
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(n)) throw new Error(`invalid label name ${JSON.stringify(n)}`);
}

/** Parses `{a="x", b="y\"z"}` as Loki does (Go string escapes); throws on any deviation. */
export function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const ws = () => {
    while (s[i] === ' ' || s[i] === '\t' || s[i] === '\n') i++;
  };
  const fail = (what: string): never => {
    throw new Error(`parse error at position ${i} of ${JSON.stringify(s)}: ${what}`);
  };
  ws();
  if (s[i++] !== '{') fail('expected {');
  ws();
  if (s[i] === '}') fail('error at least one label pair is required per stream');
  for (;;) {
    ws();
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
    if (!m) fail('expected a label name');
    const name = m![0];
    i += name.length;
    ws();
    if (s[i++] !== '=') fail('expected =');
    ws();
    if (s[i++] !== '"') fail('expected "');
    let v = '';
    for (;;) {
      const c = s[i++];
      if (c === undefined) fail('unterminated string');
      if (c === '"') break;
      if (c === '\n') fail('newline in string');
      if (c === '\\') {
        const e = s[i++];
        const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };
        if (e in map) v += map[e];
        else fail(`unknown escape \\${e}`);
      } else v += c;
    }
    if (name in out) fail(`duplicate label name ${name}`);
    out[name] = v;
    ws();
    const sep = s[i++];
    if (sep === '}') break;
    if (sep !== ',') fail('expected , or }');
  }
  ws();
  if (i !== s.length) fail('trailing characters');
  return out;
}
