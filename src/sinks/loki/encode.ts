// Events → Loki streams. Few stream labels (node, namespace, type, static ones) keep the
// number of streams small, which is what Loki's index is built for; everything with high
// cardinality (pod, netns, tuple, reason, stack) goes into structured metadata (protobuf) or
// into the JSON line, where LogQL still filters on it.
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { EventRecord } from '../../events/model.js';
import { attributeOf, forEachAttribute } from '../../events/record.js';
import { SnappyCompressor } from '../../util/snappy.js';
import { ProtoWriter } from './wire.js';

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

export function labelString(labels: Record<string, string>): string {
  return `{${Object.keys(labels).sort().map((k) => `${k}=${quote(labels[k])}`).join(', ')}}`;
}

/**
 * Where an event's fields (pod, reason, tuple, stack, ...) go: structured metadata beside the
 * line (Loki 3.x), or into the JSON line itself (Loki 2.x, which accepts structured metadata
 * and silently drops it; and the JSON encoding, which has none).
 */
export type FieldStorage = 'metadata' | 'line';

/** One stream of a batch: its labels and its records, sorted by event time. */
export interface StreamGroup {
  labels: Record<string, string>;
  records: EventRecord[];
}

/**
 * Groups records into streams (first-seen order), records sorted by their event time within
 * each stream (stable: equal times keep the batch order).
 */
export function groupStreams(records: readonly EventRecord[], node: string, staticLabels: Record<string, string>): StreamGroup[] {
  // node → namespace → type: three lookups of short strings, no key built per record.
  const byNode = new Map<string, Map<string, Map<string, StreamGroup>>>();
  const out: StreamGroup[] = [];
  for (const r of records) {
    const node_ = String(attributeOf(r, 'k8s.node.name') ?? node);
    const type = String(attributeOf(r, 'event.type') ?? r.event.type);
    const namespace = attributeOf(r, 'k8s.namespace.name');
    const ns = namespace === undefined ? '' : String(namespace);
    let byNs = byNode.get(node_);
    if (!byNs) byNode.set(node_, (byNs = new Map()));
    let byType = byNs.get(ns);
    if (!byType) byNs.set(ns, (byType = new Map()));
    let g = byType.get(type);
    if (!g) {
      const labels: Record<string, string> = { ...staticLabels, k8s_node: node_, type };
      if (ns !== '') labels.k8s_namespace = ns; // Loki ignores empty labels anyway
      byType.set(type, (g = { labels, records: [] }));
      out.push(g);
    }
    g.records.push(r);
  }
  for (const g of out) if (!inOrder(g.records)) g.records.sort((x, y) => (x.timeUnixNano < y.timeUnixNano ? -1 : x.timeUnixNano > y.timeUnixNano ? 1 : 0));
  return out;
}

function inOrder(rs: EventRecord[]): boolean {
  for (let i = 1; i < rs.length; i++) if (rs[i - 1].timeUnixNano > rs[i].timeUnixNano) return false;
  return true;
}

// An entry's fields, collected into arrays reused for every entry (encoding is synchronous):
// `level` first, then the record's attributes that are not stream labels, under their Loki
// names; a name met twice keeps its first place and its last value (as an object would).
const fieldNames: string[] = [];
const fieldValues: Array<string | number> = [];

const LEVEL: Record<string, string> = { INFO: 'info', WARN: 'warn', ERROR: 'error' };

let fieldCount = 0;

/**
 * Where a metadata name went in the entry being collected: its index, valid while `entry` is
 * the current entry's stamp. One slot per name, shared by the keys that map to it (`a.b` and
 * `a_b`), so a name met twice is found without searching the entry's fields.
 */
interface FieldSlot {
  readonly name: string;
  entry: number;
  index: number;
}
const LEVEL_SLOT: FieldSlot = { name: 'level', entry: -1, index: 0 };
/** Attribute key → its name's slot; null for the attributes that are stream labels. */
const slotsByKey = new Map<string, FieldSlot | null>();
const slotsByName = new Map<string, FieldSlot>([['level', LEVEL_SLOT]]);
let entryStamp = 0;

function slotOf(key: string): FieldSlot | null {
  let slot = slotsByKey.get(key);
  if (slot === undefined) {
    if (LABEL_ATTRS.has(key)) {
      slot = null;
    } else {
      const name = metadataName(key);
      slot = slotsByName.get(name);
      if (!slot) slotsByName.set(name, (slot = { name, entry: -1, index: 0 }));
    }
    slotsByKey.set(key, slot);
  }
  return slot;
}

function addField(k: string, v: string | number): void {
  const slot = slotOf(k);
  if (slot === null) return;
  if (slot.entry === entryStamp) {
    fieldValues[slot.index] = v; // met before in this entry: its first place, its last value
    return;
  }
  slot.entry = entryStamp;
  slot.index = fieldCount;
  fieldNames[fieldCount] = slot.name;
  fieldValues[fieldCount++] = v;
}

/** Fills fieldNames/fieldValues for `r`; returns how many there are. */
function collectFields(r: EventRecord): number {
  if (slotsByKey.size > 10_000) {
    // Attribute keys are a small fixed set; should they not be, the slots start over (between entries only).
    slotsByKey.clear();
    slotsByName.clear();
    slotsByName.set('level', LEVEL_SLOT);
  }
  entryStamp = (entryStamp + 1) % Number.MAX_SAFE_INTEGER;
  LEVEL_SLOT.entry = entryStamp;
  fieldNames[0] = 'level';
  fieldValues[0] = LEVEL[r.severityText] ?? String(r.severityText).toLowerCase();
  fieldCount = 1;
  // In place for the pipeline's records: their attribute table is never built for Loki.
  forEachAttribute(r, addField, undefined);
  return fieldCount;
}

const LINE_HEAD = '{"timestamp":';

const quoted = new Map<string, string>();
/** JSON.stringify of a string from a small set (types, field names), remembered. */
function jsonName(s: string): string {
  let q = quoted.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (quoted.size < 10_000) quoted.set(s, q);
  }
  return q;
}

/**
 * The KCE line: {"timestamp":<ns>,"type":...,"msg":...}, then (storage "line") the fields.
 * The ns timestamp is written as the exact integer (JSON numbers have no size limit;
 * JSON.stringify would round it). Uses the fields collectFields() left.
 */
function lineOf(r: EventRecord, nsText: string, type: string, fields: number, storage: FieldStorage): string {
  let line = `${LINE_HEAD}${nsText},"type":${jsonName(type)},"msg":${JSON.stringify(r.body)}`;
  if (storage === 'line') {
    for (let j = 0; j < fields; j++) {
      const k = fieldNames[j];
      if (k !== 'timestamp' && k !== 'type' && k !== 'msg') line += `,${jsonName(k)}:${JSON.stringify(fieldValues[j]) ?? 'null'}`;
    }
  }
  return `${line}}`;
}

export interface PushBody {
  body: Uint8Array;
  headers: Record<string, string>;
}

const NS_PER_S = 1_000_000_000n;
const U64 = 2n ** 64n;
const nsWord = new BigUint64Array(1);
const nsHalves = new Uint32Array(nsWord.buffer);
/** Which half holds the high 32 bits (the platform's byte order). */
const HIGH = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0;
let nsSeconds = 0;
let nsNanos = 0;

/**
 * Sets nsSeconds and nsNanos to the seconds and nanoseconds of `ns` (0 <= ns < 2^64) without
 * BigInt division (two allocations and two runtime calls per event): the two 32-bit halves
 * are divided by 10^9 in 16-bit steps, every intermediate exact in a double.
 */
function splitNs(ns: bigint): void {
  if (ns < 0n || ns >= U64) {
    nsSeconds = Number(ns / NS_PER_S);
    nsNanos = Number(ns % NS_PER_S);
    return;
  }
  nsWord[0] = ns;
  const hi = nsHalves[HIGH]!;
  const lo = nsHalves[1 - HIGH]!;
  const d = 1e9;
  let r = hi % d;
  const qHi = (hi - r) / d;
  let x = r * 65536 + (lo >>> 16);
  const qMid = Math.floor(x / d);
  r = x - qMid * d;
  x = r * 65536 + (lo & 0xffff);
  const qLo = Math.floor(x / d);
  nsNanos = x - qLo * d;
  nsSeconds = qHi * 4294967296 + qMid * 65536 + qLo;
}
const writer = new ProtoWriter();
const snappy = new SnappyCompressor();

/** The request body and its content headers for `records`. */
export async function pushBody(records: readonly EventRecord[], node: string, staticLabels: Record<string, string>, storage: FieldStorage, encoding: LokiEncoding): Promise<PushBody> {
  const groups = groupStreams(records, node, staticLabels);
  if (encoding === 'json') {
    const doc = {
      streams: groups.map((g) => ({
        stream: g.labels,
        values: g.records.map((r) => {
          const ns = r.timeUnixNano.toString();
          return [ns, lineOf(r, ns, g.labels.type, collectFields(r), 'line')];
        }),
      })),
    };
    return { body: await gzip(JSON.stringify(doc)), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } };
  }
  // Loki reads the raw snappy block format (not the framed stream format).
  return { body: snappy.compress(encodeProtobuf(groups, storage)), headers: { 'content-type': 'application/x-protobuf' } };
}

/**
 * logproto.PushRequest (Grafana Loki's pkg/push/push.proto): streams = 1 { labels = 1,
 * entries = 2 { timestamp = 1 { seconds = 1, nanos = 2 }, line = 2, structuredMetadata = 3
 * { name = 1, value = 2 } } }. The bytes are the shared writer's: use them before the next call.
 */
export function encodeProtobuf(groups: readonly StreamGroup[], storage: FieldStorage): Buffer {
  const w = writer;
  for (const g of groups) {
    const stream = w.begin(1);
    w.string(1, labelString(g.labels));
    const type = g.labels.type;
    const typePart = `,"type":${jsonName(type)},"msg":`; // the same for the stream's every line
    for (const r of g.records) {
      const ns = r.timeUnixNano;
      const fields = collectFields(r);
      const entry = w.begin(2);
      splitNs(ns);
      const seconds = nsSeconds;
      const nanos = nsNanos;
      // A time before 1970 is no kernel's: the entry keeps the zero time, its line the digits.
      if (ns >= 0n) w.timestamp(1, seconds, nanos);
      else w.timestamp(1, 0, 0);
      // The line (same text as lineOf's), written in place rather than built as a string.
      const line = w.begin(2);
      w.text(LINE_HEAD);
      if (ns >= 0n) w.decimalNs(seconds, nanos);
      else w.text(ns.toString());
      w.text(typePart);
      w.jsonString(r.body);
      if (storage === 'line') {
        for (let j = 0; j < fields; j++) {
          const k = fieldNames[j];
          if (k === 'timestamp' || k === 'type' || k === 'msg') continue;
          w.text(',');
          w.text(jsonName(k));
          w.text(':');
          const v = fieldValues[j];
          if (typeof v === 'string') w.jsonString(v);
          else w.text(JSON.stringify(v) ?? 'null');
        }
      }
      w.text('}');
      w.end(line);
      if (storage === 'metadata') {
        for (let j = 0; j < fields; j++) {
          w.pair(3, fieldNames[j], fieldValues[j]);
        }
      }
      w.end(entry);
    }
    w.end(stream);
  }
  return w.finish();
}
