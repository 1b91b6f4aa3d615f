// Request bodies for OTLP/HTTP. Protobuf comes from @opentelemetry/otlp-transformer's
// serializers. JSON does not: their JSON writes int64 fields (intValue, asInt, count,
// bucketCounts) as JSON numbers, but the proto3 JSON mapping that OTLP/JSON follows encodes
// 64-bit integers as decimal strings, and a 64-bit counter above 2^53 would lose digits.
import { gzip as gzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import type { HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { createRequire } from 'node:module';
import type { EventRecord } from '../../events/model.js';
import type { OtlpCompression, OtlpProtocol } from './config.js';

const gzip = promisify(gzipCb);

// The serializers are loaded on first use: with their generated protobuf code they weigh about
// 8 MB of the agent's RSS, spent for nothing on a node without an OTLP sink. (The package is
// CommonJS only, so require() gives the very module an import would.)
type Transformer = typeof import('@opentelemetry/otlp-transformer');
let transformer: Transformer | undefined;
const otlp = (): Transformer => (transformer ??= createRequire(import.meta.url)('@opentelemetry/otlp-transformer') as Transformer);
const NS = 1_000_000_000n;

/** Exact: HrTime is [seconds, nanoseconds], and the transformer recombines it with BigInt. */
export function nanosToHrTime(ns: bigint): HrTime {
  return [Number(ns / NS), Number(ns % NS)];
}

export interface Scope { name: string; version: string }

type Attr = string | number;

function anyValueJson(v: Attr): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (Number.isInteger(v)) return { intValue: String(v) };
  // JSON has no NaN/Infinity literals; proto3 JSON spells them as strings.
  return { doubleValue: Number.isFinite(v) ? v : String(v) };
}

const kvJson = (attrs: Record<string, Attr>) => Object.entries(attrs).map(([key, v]) => ({ key, value: anyValueJson(v) }));

function logsJson(records: readonly EventRecord[], resource: Record<string, Attr>, scope: Scope, observedNs: bigint): Uint8Array {
  const logRecords = records.map((r) => ({
    timeUnixNano: r.timeUnixNano.toString(),
    observedTimeUnixNano: observedNs.toString(),
    severityNumber: r.severityNumber,
    severityText: r.severityText,
    body: { stringValue: r.body },
    attributes: kvJson(r.attributes),
  }));
  const req = { resourceLogs: [{ resource: { attributes: kvJson(resource) }, scopeLogs: [{ scope, logRecords }] }] };
  return Buffer.from(JSON.stringify(req));
}

function logsProtobuf(records: readonly EventRecord[], resource: Resource, scope: Scope, observedNs: bigint): Uint8Array {
  const observed = nanosToHrTime(observedNs);
  const readable: ReadableLogRecord[] = records.map((r) => ({
    hrTime: nanosToHrTime(r.timeUnixNano),
    hrTimeObserved: observed,
    severityNumber: r.severityNumber,
    severityText: r.severityText,
    body: r.body,
    attributes: r.attributes,
    droppedAttributesCount: 0,
    resource,
    instrumentationScope: scope, // one object: the serializer groups records by scope identity
  }));
  return otlp().ProtobufLogsSerializer.serializeRequest(readable)!;
}

export function encodeLogs(protocol: OtlpProtocol, records: readonly EventRecord[], resource: Resource, scope: Scope, observedNs: bigint): Uint8Array {
  return protocol === 'http/json'
    ? logsJson(records, resource.attributes as Record<string, Attr>, scope, observedNs)
    : logsProtobuf(records, resource, scope, observedNs);
}

const INT64_JSON_KEYS = new Set(['asInt', 'count', 'intValue', 'bucketCounts', 'zeroCount', 'startTimeUnixNano', 'timeUnixNano']);

/** Rewrites the transformer's JSON numbers of 64-bit integer fields as strings, in place. */
function int64AsStrings(node: unknown): void {
  if (Array.isArray(node)) { for (const n of node) int64AsStrings(n); return; }
  if (!node || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  for (const [k, v] of Object.entries(obj)) {
    if (INT64_JSON_KEYS.has(k) && typeof v === 'number') obj[k] = String(v);
    else if (k === 'bucketCounts' && Array.isArray(v)) obj[k] = v.map(String);
    else int64AsStrings(v);
  }
}

export function encodeMetrics(protocol: OtlpProtocol, rm: ResourceMetrics): Uint8Array {
  if (protocol !== 'http/json') return otlp().ProtobufMetricsSerializer.serializeRequest(rm)!;
  const req = JSON.parse(Buffer.from(otlp().JsonMetricsSerializer.serializeRequest(rm)!).toString());
  int64AsStrings(req);
  return Buffer.from(JSON.stringify(req));
}

/** Body and content headers of one OTLP request (configured headers are the transport's). */
export async function otlpRequest(body: Uint8Array, protocol: OtlpProtocol, compression: OtlpCompression,
  userAgent: string): Promise<{ body: Uint8Array; headers: Record<string, string> }> {
  const headers: Record<string, string> = {
    'content-type': protocol === 'http/json' ? 'application/json' : 'application/x-protobuf',
    'user-agent': userAgent,
  };
  if (compression === 'gzip') {
    headers['content-encoding'] = 'gzip';
    body = await gzip(body);
  }
  return { body, headers };
}

/** Rejected count of an ExportLogs/MetricsServiceResponse partial_success (protobuf or JSON). */
/**
 * What a receiver says it rejected, as a count: a negative, fractional or non-numeric int64 is
 * 0, one beyond 2^53 is 2^53 - 1 (callers cap it at what they sent); the message only if text.
 */
function partial(rejected: unknown, message: unknown): { rejected: number; message?: string } {
  const n = Number(rejected ?? 0);
  const count = n > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : Number.isSafeInteger(n) && n > 0 ? n : 0;
  return { rejected: count, ...(typeof message === 'string' ? { message } : {}) };
}

export function rejectedCount(body: Uint8Array | undefined, protocol: OtlpProtocol, field: 'rejectedLogRecords' | 'rejectedDataPoints'): { rejected: number; message?: string } {
  if (!body || body.length === 0) return { rejected: 0 };
  try {
    if (protocol === 'http/json') {
      const ps = JSON.parse(Buffer.from(body).toString())?.partialSuccess;
      return partial(ps?.[field], ps?.errorMessage);
    }
    // Both responses are `partial_success = 1 { int64 rejected = 1; string error_message = 2 }`;
    // the logs deserializer reads that shape for either signal.
    const ps = otlp().ProtobufLogsSerializer.deserializeResponse(body).partialSuccess;
    return partial(ps?.rejectedLogRecords, ps?.errorMessage);
  } catch {
    return { rejected: 0 };
  }
}
