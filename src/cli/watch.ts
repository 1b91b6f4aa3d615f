// `kubesonar watch`: follows the event stream of one or several agents (GET /events on
// event_config.port) and prints one aligned line per event, merged in arrival order, or the
// agents' JSON lines unchanged with `-o json` (exact nanosecond timestamps). Colors only on a
// terminal (and never with NO_COLOR). An agent that cannot be reached is reported on stderr
// and retried with backoff; the others keep streaming meanwhile.
import { get, type IncomingMessage } from 'node:http';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENTS } from '../catalogue/index.js';
import { parseJsonLine, toTextLine } from '../events/format.js';

const DEFAULT_PORT = 19102;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** Agents send a heartbeat every 15 s; silence beyond this means a dead connection. */
const IDLE_TIMEOUT_MS = 45_000;

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
    while (!signal.aborted) {
      const r = await streamOnce(t.url, signal, (line) => {
        if (line.startsWith('{"dropped":')) note(`${t.name}: ${JSON.parse(line).dropped} events dropped by the agent (this client read too slowly)`);
        else print(line);
      }, () => {
        note(`${t.name}: connected`);
        delay = BACKOFF_MIN_MS; // it answered: a later loss starts the backoff over
      });
      if (signal.aborted) return;
      if (r.fatal) {
        fatal ??= `${t.name}: ${r.message}`;
        stop.abort();
        return;
      }
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
  if (url.protocol !== 'http:') throw new UsageError(`watch: -e ${endpoint}: only http is supported`);
  if (!url.port) url.port = String(DEFAULT_PORT);
  url.pathname = '/events';
  url.search = query.toString();
  return url;
}

interface Outcome {
  message: string;
  /** The agent answered but refused the request: retrying will not help. */
  fatal?: boolean;
}

/** One connection: lines go to `onLine` until the stream ends; resolves with why it ended. */
function streamOnce(url: URL, signal: AbortSignal, onLine: (line: string) => void, onConnected: () => void): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const req = get(url, { headers: { accept: 'application/x-ndjson' }, signal }, (res: IncomingMessage) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => resolve({
          message: `HTTP ${res.statusCode}: ${body.trim().split('\n')[0] || res.statusMessage}`,
          fatal: res.statusCode === 400 || res.statusCode === 404,
        }));
        res.on('error', () => resolve({ message: `HTTP ${res.statusCode}` }));
        return;
      }
      onConnected();
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) onLine(line);
        }
      });
      res.on('close', () => resolve({ message: 'the agent closed the stream' }));
    });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('no data'), { code: 'IDLE' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ message: connectError(err) }));
  });
}

function connectError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED': return 'cannot connect: connection refused (is the agent running, and is this its event_config.port?)';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'cannot connect: unknown host';
    case 'ETIMEDOUT': case 'EHOSTUNREACH': case 'ENETUNREACH': return `cannot connect: ${err.code === 'ETIMEDOUT' ? 'timed out' : 'unreachable'}`;
    case 'ECONNRESET': return 'connection reset';
    case 'IDLE': return `no data for ${IDLE_TIMEOUT_MS / 1000} s`;
    default: return err.message;
  }
}
