// Events → Loki streams. Few stream labels (node, namespace, type, static ones) keep the
// number of streams small, which is what Loki's index is built for; everything with high
// cardinality (pod, netns, tuple, reason, stack) goes into structured metadata (protobuf) or
// into the JSON line, where LogQL still filters on it.
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import snappy from 'snappyjs';
import type { EventRecord } from '../../events/model.js';
import { encodePushRequest, type PushStream } from './push-proto.js';

const gzip = promisify(gzipCb);

export type LokiEncoding = 'protobuf' | 'json';

/** Stream label names the sink sets itself; static labels may not override them. */
export const EVENT_LABELS = ['k8s_node', 'k8s_namespace', 'type'] as const;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Record attributes that become stream labels (so they are not repeated as metadata). */
const LABEL_ATTRS = new Set(['event.type', 'k8s.node.name', 'k8s.namespace.name']);
/** Friendlier names for the pipeline's OTel attribute keys. */
const RENAME: Record<string, string> = { 'k8s.pod.name': 'k8s_pod', 'event.probe': 'probe' };

export function validateStaticLabels(labels: Record<string, string>): void {
  for (const name of Object.keys(labels)) {
    if (!LABEL_NAME.test(name)) throw new Error(`loki static_labels: "${name}" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)`);
    if ((EVENT_LABELS as readonly string[]).includes(name)) throw new Error(`loki static_labels: "${name}" is set by the agent`);
  }
}

const names = new Map<string, string>();

/** A metadata name valid for Loki (`.`, `-`, ... become `_`, as Loki's OTLP path does). */
export function metadataName(key: string): string {
  let n = names.get(key);
  if (n === undefined) {
    const s = RENAME[key] ?? key.replace(/[^a-zA-Z0-9_]/g, '_');
    n = /^[0-9]/.test(s) ? `_${s}` : s;
    if (names.size < 10_000) names.set(key, n); // attribute keys are a small fixed set
  }
  return n;
}

/** Go string-literal quoting, which Loki's label parser (the PromQL one) reads back. */
function quote(v: string): string {
  return `"${v.replace(/[\\"\n\r\t]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!)}"`;
}

export interface EncodedEntry {
  ns: bigint;
  line: string;
  metadata: Array<{ name: string; value: string }>;
}
export interface EncodedStream {
  labels: Record<string, string>;
  entries: EncodedEntry[];
}

/**
 * Where an event's fields (pod, reason, tuple, stack, ...) go: structured metadata beside the
 * line (Loki 3.x), or into the JSON line itself (Loki 2.x, which accepts structured metadata
 * and silently drops it; and the JSON encoding, which has none).
 */
export type FieldStorage = 'metadata' | 'line';

/**
 * Groups records into streams (first-seen order), entries sorted by their event time
 * within each stream (stable: equal times keep the batch order).
 */
export function toStreams(records: readonly EventRecord[], node: string, staticLabels: Record<string, string>, storage: FieldStorage): EncodedStream[] {
  const streams = new Map<string, EncodedStream>();
  for (const r of records) {
    const a = r.attributes;
    const node_ = String(a['k8s.node.name'] ?? node);
    const type = String(a['event.type'] ?? r.event.type);
    const ns = a['k8s.namespace.name'];
    // Cheap key first; the sorted, quoted label string is built once per stream.
    const key = `${node_}\0${ns ?? ''}\0${type}`;
    let s = streams.get(key);
    if (!s) {
      const labels: Record<string, string> = { ...staticLabels, k8s_node: node_, type };
      if (ns !== undefined && ns !== '') labels.k8s_namespace = String(ns); // Loki ignores empty labels anyway
      streams.set(key, (s = { labels, entries: [] }));
    }

    // The KCE line: {"timestamp":<ns>,"type":...,"msg":...}; the ns timestamp is written as
    // the exact integer (JSON numbers have no size limit; JSON.stringify would round it).
    const fields: Record<string, string | number> = { level: r.severityText.toLowerCase() };
    for (const [k, v] of Object.entries(a)) if (!LABEL_ATTRS.has(k)) fields[metadataName(k)] = v;
    let line = `{"timestamp":${r.timeUnixNano},"type":${JSON.stringify(type)},"msg":${JSON.stringify(r.body)}`;
    let metadata: EncodedEntry['metadata'] = [];
    if (storage === 'line') {
      for (const [k, v] of Object.entries(fields)) if (k !== 'timestamp' && k !== 'type' && k !== 'msg') line += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
    } else {
      metadata = Object.entries(fields).map(([name, v]) => ({ name, value: String(v) }));
    }
    line += '}';
    s.entries.push({ ns: r.timeUnixNano, line, metadata });
  }
  const out = [...streams.values()];
  for (const s of out) s.entries.sort((x, y) => (x.ns < y.ns ? -1 : x.ns > y.ns ? 1 : 0));
  return out;
}

export function labelString(labels: Record<string, string>): string {
  return `{${Object.keys(labels).sort().map((k) => `${k}=${quote(labels[k])}`).join(', ')}}`;
}

export interface PushBody {
  body: Uint8Array;
  headers: Record<string, string>;
}

/** The request body and its content headers for `streams`. */
export async function pushBody(streams: EncodedStream[], encoding: LokiEncoding): Promise<PushBody> {
  if (encoding === 'json') {
    const doc = {
      streams: streams.map((s) => ({ stream: s.labels, values: s.entries.map((e) => [String(e.ns), e.line]) })),
    };
    return { body: await gzip(JSON.stringify(doc)), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } };
  }
  const ps: PushStream[] = streams.map((s) => ({
    labels: labelString(s.labels),
    entries: s.entries.map((e) => ({
      timestamp: { seconds: Number(e.ns / 1_000_000_000n), nanos: Number(e.ns % 1_000_000_000n) },
      line: e.line,
      structuredMetadata: e.metadata,
    })),
  }));
  // Loki reads the raw snappy block format (not the framed stream format).
  return { body: snappy.compress(encodePushRequest(ps)), headers: { 'content-type': 'application/x-protobuf' } };
}
