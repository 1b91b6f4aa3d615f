// Event lines for people and for pipes, shared by the stdout sink, the stream server and the
// `watch` command. The JSON form is KCE's `{"timestamp":<ns>,"type":"...","msg":"..."}` with
// the attribution fields and the event's attributes after it. The timestamp is written as an
// exact JSON integer: nanoseconds since the epoch do not fit a double (2^53 ns is ~104 days).
import type { EventRecord, Severity } from './model.js';
import { attributeOf, podOf, publishedEvent } from './record.js';

/** What a line shows, whether it comes from a record (agent side) or from JSON (watch side). */
export interface EventView {
  timestamp: bigint;
  type: string;
  severity: string;
  msg: string;
  node: string;
  namespace: string;
  pod: string;
  /** `ns<inode>`, or empty for node-wide events. */
  netns: string;
  /** True for the node's own network namespace. */
  host: boolean;
  attrs: Record<string, string | number>;
}

/** Keys the JSON line reserves; an event attribute of the same name is left out. */
const RESERVED = new Set(['timestamp', 'type', 'msg', 'severity', 'probe', 'node', 'namespace', 'pod', 'netns', 'host_network']);

export function viewOf(r: EventRecord): EventView {
  // attributeOf, podOf, publishedEvent: the pipeline's records build no attribute table and no event copy for a line.
  const e = publishedEvent(r);
  const pod = podOf(r);
  return {
    timestamp: r.timeUnixNano,
    type: e.type,
    severity: r.severityText,
    msg: r.body,
    node: String(attributeOf(r, 'k8s.node.name') ?? ''),
    namespace: pod?.namespace ?? '',
    pod: pod?.name ?? '',
    netns: e.netns === undefined ? '' : `ns${e.netns}`,
    host: attributeOf(r, 'netns.host') === 'true',
    attrs: e.attrs,
  };
}

/** One JSON object, no newline: KCE's three fields first, then attribution, then the event's attrs. */
export function toJsonLine(r: EventRecord): string {
  const v = viewOf(r);
  const rest: Record<string, string | number | boolean> = {
    type: v.type, msg: v.msg, severity: v.severity, probe: publishedEvent(r).probe,
    node: v.node, namespace: v.namespace, pod: v.pod, netns: v.netns,
  };
  if (v.host) rest.host_network = true;
  for (const [k, val] of Object.entries(v.attrs)) if (!RESERVED.has(k)) rest[k] = val;
  // BigInt has no JSON form; splice the integer in front of the rest of the object.
  return `{"timestamp":${v.timestamp.toString()},${JSON.stringify(rest).slice(1)}`;
}

/** Parses a line written by toJsonLine, keeping the timestamp exact. Undefined if it is not one. */
export function parseJsonLine(line: string): EventView | undefined {
  const m = /^\{"timestamp":(\d+),/.exec(line);
  if (!m) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const attrs: Record<string, string | number> = {};
  for (const [k, val] of Object.entries(o)) {
    if (!RESERVED.has(k) && (typeof val === 'string' || typeof val === 'number')) attrs[k] = val;
  }
  const s = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : '');
  return {
    timestamp: BigInt(m[1]), type: s('type'), severity: s('severity'), msg: s('msg'), node: s('node'),
    namespace: s('namespace'), pod: s('pod'), netns: s('netns'), host: o.host_network === true, attrs,
  };
}

/** `2025-03-05T08:38:29.810866660Z` (full), or `08:38:29.810866` (clock, for live watching). Always UTC. */
export function formatTime(ns: bigint, style: 'full' | 'clock' = 'full'): string {
  const seconds = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  const iso = new Date(Number(seconds) * 1000).toISOString(); // ....T08:38:29.000Z
  return style === 'full' ? `${iso.slice(0, 19)}.${frac}Z` : `${iso.slice(11, 19)}.${frac.slice(0, 6)}`;
}

const COLOR: Record<string, string> = { ERROR: '\x1b[31m', WARN: '\x1b[33m', INFO: '\x1b[36m' };
const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';
const RESET = '\x1b[0m';

export interface TextOptions {
  color?: boolean;
  time?: 'full' | 'clock';
}

/** Widths of the aligned columns; longer values push the rest of their line, never wrap. */
const W = { node: 16, type: 24, pod: 36, netns: 12 };

/** One aligned line: time, node, type, namespace/pod, netns, message and attributes. */
export function toTextLine(v: EventView, opts: TextOptions = {}): string {
  const paint = (code: string, s: string) => (opts.color ? `${code}${s}${RESET}` : s);
  const where = v.pod ? `${v.namespace || '-'}/${v.pod}` : v.host ? '(host)' : v.netns ? '(no pod)' : '(node)';
  const attrs = Object.entries(v.attrs).map(([k, val]) => `${k}=${val}`).join(' ');
  const columns = [
    paint(DIM, formatTime(v.timestamp, opts.time ?? 'full')),
    v.node.padEnd(W.node),
    paint(COLOR[v.severity as Severity] ?? '', v.type.padEnd(W.type)),
    paint(BOLD, where.padEnd(W.pod)),
    (v.netns || '-').padEnd(W.netns),
    attrs ? `${v.msg} ${paint(DIM, attrs)}` : v.msg,
  ];
  return columns.join(' ').trimEnd();
}
