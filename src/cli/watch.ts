// `kubesonar watch`: follows the event stream of one or several agents (GET /events on
// event_config.port) and prints one aligned line per event, merged in arrival order, or the
// agents' JSON lines unchanged with `-o json` (exact nanosecond timestamps). Colors only on a
// terminal (and never with NO_COLOR). An agent that cannot be reached is reported on stderr
// and retried with backoff; the others keep streaming meanwhile.
//
// Agents that serve TLS are given as https://HOST:PORT (--ca-file names the CA that signed
// their certificate). Agents that ask for a token (401) get one: --token-file, or the
// kubeconfig user's (see watch-credentials.ts). 401 with a token and 403 end the watch.
import { readFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { get as getTls } from 'node:https';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENTS } from '../catalogue/index.js';
import { parseJsonLine, toTextLine } from '../events/format.js';
import { WatchCredentials } from './watch-credentials.js';

const DEFAULT_PORT = 19102;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** Agents send a heartbeat every 15 s; silence beyond this means a dead connection. */
const IDLE_TIMEOUT_MS = 45_000;
/** An event line longer than this (no newline) means the other end is not an agent: the connection is dropped. */
const MAX_LINE_BYTES = 1 << 20;
/** Bytes of an error answer kept for the message. */
const MAX_ERROR_BYTES = 4096;

interface Out {
  write(s: string): unknown;
  isTTY?: boolean;
}

export class UsageError extends Error {}

export interface WatchIO {
  stdout: Out;
  stderr: Out;
  env: Record<string, string | undefined>;
  /** Aborting ends the watch (SIGINT/SIGTERM in the CLI). */
  signal: AbortSignal;
}

/** Runs until `io.signal` aborts (exit 0) or an agent refuses the request itself (exit 2). */
export async function watch(args: string[], io: WatchIO): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      endpoint: { type: 'string', short: 'e', multiple: true },
      type: { type: 'string', multiple: true },
      namespace: { type: 'string', multiple: true },
      pod: { type: 'string', multiple: true },
      output: { type: 'string', short: 'o', default: 'text' },
      'token-file': { type: 'string' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      'ca-file': { type: 'string' },
      'insecure-skip-tls-verify': { type: 'boolean', default: false },
    },
  });
  const endpoints = values.endpoint ?? [];
  if (endpoints.length === 0) throw new UsageError('watch: give at least one agent with -e HOST[:PORT]');
  if (values.output !== 'json' && values.output !== 'text') throw new UsageError(`watch: -o must be json or text, got "${values.output}"`);
  const list = (v: string[] | undefined) => (v ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const types = list(values.type);
  const known = new Set<string>(EVENTS.map((e) => e.type));
  for (const t of types) if (!known.has(t)) throw new UsageError(`watch: unknown event type "${t}" (valid: ${[...known].join(', ')})`);

  const query = new URLSearchParams();
  if (types.length) query.set('type', types.join(','));
  if (list(values.namespace).length) query.set('namespace', list(values.namespace).join(','));
  if (list(values.pod).length) query.set('pod', list(values.pod).join(','));
  const targets = endpoints.map((ep) => ({ name: ep, url: eventsUrl(ep, query) }));
  let ca: Buffer | undefined;
  if (values['ca-file'] !== undefined) {
    try {
      ca = readFileSync(values['ca-file']);
    } catch (err) {
      throw new UsageError(`watch: --ca-file ${values['ca-file']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const tls: TlsOptions = { ca, rejectUnauthorized: !values['insecure-skip-tls-verify'] };
  const credentials = new WatchCredentials(values['token-file'], { file: values.kubeconfig, context: values.context, env: io.env });

  const json = values.output === 'json';
  const color = !json && io.stdout.isTTY === true && !io.env.NO_COLOR;
  if (color) io.stdout.write(`\x1b[2m${'TIME'.padEnd(15)} ${'NODE'.padEnd(16)} ${'TYPE'.padEnd(24)} ${'NAMESPACE/POD'.padEnd(36)} ${'NETNS'.padEnd(12)} DETAILS\x1b[0m\n`);
  const print = (line: string): void => {
    const view = json ? undefined : parseJsonLine(line);
    if (json) io.stdout.write(`${line}\n`);
    else if (view) io.stdout.write(`${toTextLine(view, { color, time: 'clock' })}\n`);
  };
  const note = (msg: string) => io.stderr.write(`kubesonar watch: ${msg}\n`);

  // The first agent to refuse the request (bad filter, not an event stream) ends the watch.
  const stop = new AbortController();
  const signal = AbortSignal.any([io.signal, stop.signal]);
  let fatal: string | undefined;
  await Promise.all(targets.map(async (t) => {
    let delay = BACKOFF_MIN_MS;
    let sendToken = credentials.upfront;
    let refreshed = false;
    let warned = false;
    const end = (message: string) => {
      fatal ??= `${t.name}: ${message}`;
      stop.abort();
    };
    while (!signal.aborted) {
      let auth: { token: string; source: string } | undefined;
      if (sendToken) {
        try {
          auth = await credentials.token(refreshed);
        } catch (err) {
          return end(`the agent asks for a token (HTTP 401), and there is none to send: ${(err as Error).message}`);
        }
        if (!warned && t.url.protocol === 'http:' && !isLoopbackHost(t.url.hostname)) {
          warned = true;
          note(`${t.name}: sending a bearer token without TLS (give https://${t.url.host} if the agent serves TLS)`);
        }
      }
      const r = await streamOnce(t.url, { token: auth?.token, tls }, signal, (line) => {
        if (line.startsWith('{"dropped":')) note(`${t.name}: ${JSON.parse(line).dropped} events dropped by the agent (this client read too slowly)`);
        else print(line);
      }, () => {
        note(`${t.name}: connected`);
        delay = BACKOFF_MIN_MS; // it answered: a later loss starts the backoff over
        refreshed = false;
      });
      if (signal.aborted) return;
      if (r.status === 401 && !sendToken) {
        sendToken = true; // the agent asks: offer the token, at once
        continue;
      }
      if (r.status === 401 && !credentials.upfront && !refreshed) {
        refreshed = true; // a kubeconfig token may have expired: once more with a fresh one
        continue;
      }
      if (r.status === 401 || r.status === 403) return end(`${r.message}${auth ? ` (token from ${auth.source})` : ''}`);
      if (r.fatal) return end(r.message);
      note(`${t.name}: ${r.message}; retrying in ${(delay / 1000).toFixed(1)}s`);
      await sleep(delay, undefined, { signal }).catch(() => {});
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }
  }));
  if (fatal) {
    note(fatal);
    return 2;
  }
  return 0;
}

/** `host`, `host:port`, `[v6]:port` or `http://host:port` → the /events URL. */
export function eventsUrl(endpoint: string, query: URLSearchParams): URL {
  let url: URL;
  try {
    url = new URL(endpoint.includes('://') ? endpoint : `http://${endpoint}`);
  } catch {
    throw new UsageError(`watch: -e ${endpoint}: expected HOST[:PORT]`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`watch: -e ${endpoint}: only http:// and https:// are supported`);
  if (!url.port) url.port = String(DEFAULT_PORT);
  url.pathname = '/events';
  url.search = query.toString();
  return url;
}

interface TlsOptions {
  ca?: Buffer;
  rejectUnauthorized: boolean;
}

/** localhost, 127.0.0.0/8 and ::1: a token sent there without TLS does not cross a network. */
function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

interface Outcome {
  message: string;
  /** The HTTP status of a refusal. */
  status?: number;
  /** The agent answered but refused the request: retrying will not help. */
  fatal?: boolean;
}

/** One connection: lines go to `onLine` until the stream ends; resolves with why it ended. */
function streamOnce(url: URL, opts: { token?: string; tls: TlsOptions }, signal: AbortSignal, onLine: (line: string) => void, onConnected: () => void): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const headers: Record<string, string> = { accept: 'application/x-ndjson', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) };
    const onResponse = (res: IncomingMessage) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d: string) => { if (body.length < MAX_ERROR_BYTES) body += d.slice(0, MAX_ERROR_BYTES - body.length); });
        res.on('end', () => resolve({
          message: `HTTP ${res.statusCode}: ${body.trim().split('\n')[0] || res.statusMessage}`,
          status: res.statusCode,
          fatal: res.statusCode === 400 || res.statusCode === 404,
        }));
        res.on('error', () => resolve({ message: `HTTP ${res.statusCode}`, status: res.statusCode }));
        return;
      }
      onConnected();
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        if (buf.length > MAX_LINE_BYTES && buf.indexOf('\n') < 0) {
          req.destroy(Object.assign(new Error(`a line longer than ${MAX_LINE_BYTES} bytes: not an event stream`), { code: 'LINE' }));
          return;
        }
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) onLine(line);
        }
      });
      res.on('close', () => resolve({ message: 'the agent closed the stream' }));
    };
    const req = url.protocol === 'https:'
      ? getTls(url, { headers, signal, ca: opts.tls.ca, rejectUnauthorized: opts.tls.rejectUnauthorized }, onResponse)
      : get(url, { headers, signal }, onResponse);
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('no data'), { code: 'IDLE' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ message: connectError(err, !isLoopbackHost(url.hostname)) }));
  });
}

function connectError(err: NodeJS.ErrnoException, remote: boolean): string {
  switch (err.code) {
    case 'ECONNREFUSED': return `cannot connect: connection refused (is the agent running, and is this its event_config.port?${remote
      ? ' Outside Kubernetes an agent\'s stream listens on 127.0.0.1 only unless its server.auth.events lets remote clients in.' : ''})`;
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'cannot connect: unknown host';
    case 'ETIMEDOUT': case 'EHOSTUNREACH': case 'ENETUNREACH': return `cannot connect: ${err.code === 'ETIMEDOUT' ? 'timed out' : 'unreachable'}`;
    case 'ECONNRESET': return 'connection reset (if the agent serves TLS, give https://HOST:PORT)';
    case 'HPE_INVALID_CONSTANT': case 'HPE_INVALID_VERSION': return 'not an HTTP answer (if the agent serves TLS, give https://HOST:PORT)';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT': case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE': case 'SELF_SIGNED_CERT_IN_CHAIN': case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `TLS: the agent's certificate is not trusted (${err.code}); give --ca-file with the CA that signed it`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID': return `TLS: ${err.message}`;
    case 'IDLE': return `no data for ${IDLE_TIMEOUT_MS / 1000} s`;
    default: return err.message;
  }
}
