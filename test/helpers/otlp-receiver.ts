// A strict OTLP/HTTP receiver for tests. It decodes the real wire formats with its own copy of
// the opentelemetry-proto messages (written from the public .proto files, independent of the
// serializers under test): binary protobuf, and OTLP/JSON checked strictly (lowerCamelCase keys
// only, 64-bit integers as decimal strings, enums as numbers, trace/span ids as hex, at most
// one member of a oneof). Both decode to the same plain object (longs as strings, enums as
// numbers), so tests assert one shape for both protocols. Responses can be scripted.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

const PROTO = `
syntax = "proto3";
package otlp;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }

enum SeverityNumber {
  SEVERITY_NUMBER_UNSPECIFIED = 0; SEVERITY_NUMBER_TRACE = 1; SEVERITY_NUMBER_TRACE2 = 2;
  SEVERITY_NUMBER_TRACE3 = 3; SEVERITY_NUMBER_TRACE4 = 4; SEVERITY_NUMBER_DEBUG = 5;
  SEVERITY_NUMBER_DEBUG2 = 6; SEVERITY_NUMBER_DEBUG3 = 7; SEVERITY_NUMBER_DEBUG4 = 8;
  SEVERITY_NUMBER_INFO = 9; SEVERITY_NUMBER_INFO2 = 10; SEVERITY_NUMBER_INFO3 = 11;
  SEVERITY_NUMBER_INFO4 = 12; SEVERITY_NUMBER_WARN = 13; SEVERITY_NUMBER_WARN2 = 14;
  SEVERITY_NUMBER_WARN3 = 15; SEVERITY_NUMBER_WARN4 = 16; SEVERITY_NUMBER_ERROR = 17;
  SEVERITY_NUMBER_ERROR2 = 18; SEVERITY_NUMBER_ERROR3 = 19; SEVERITY_NUMBER_ERROR4 = 20;
  SEVERITY_NUMBER_FATAL = 21; SEVERITY_NUMBER_FATAL2 = 22; SEVERITY_NUMBER_FATAL3 = 23;
  SEVERITY_NUMBER_FATAL4 = 24;
}
message LogRecord {
  fixed64 time_unix_nano = 1;
  fixed64 observed_time_unix_nano = 11;
  SeverityNumber severity_number = 2;
  string severity_text = 3;
  AnyValue body = 5;
  repeated KeyValue attributes = 6;
  uint32 dropped_attributes_count = 7;
  fixed32 flags = 8;
  bytes trace_id = 9;
  bytes span_id = 10;
  string event_name = 12;
}
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ExportLogsPartialSuccess { int64 rejected_log_records = 1; string error_message = 2; }
message ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }

enum AggregationTemporality {
  AGGREGATION_TEMPORALITY_UNSPECIFIED = 0; AGGREGATION_TEMPORALITY_DELTA = 1; AGGREGATION_TEMPORALITY_CUMULATIVE = 2;
}
message Exemplar {
  repeated KeyValue filtered_attributes = 7;
  fixed64 time_unix_nano = 2;
  oneof value { double as_double = 3; sfixed64 as_int = 6; }
  bytes span_id = 4;
  bytes trace_id = 5;
}
message NumberDataPoint {
  repeated KeyValue attributes = 7;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
  repeated Exemplar exemplars = 5;
  uint32 flags = 8;
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  fixed64 count = 4;
  optional double sum = 5;
  repeated fixed64 bucket_counts = 6;
  repeated double explicit_bounds = 7;
  repeated Exemplar exemplars = 8;
  uint32 flags = 10;
  optional double min = 11;
  optional double max = 12;
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; AggregationTemporality aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; AggregationTemporality aggregation_temporality = 2; }
message Metric {
  string name = 1;
  string description = 2;
  string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; }
  repeated KeyValue metadata = 12;
}
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
message ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
`;

export const otlpRoot = protobuf.parse(PROTO).root;
const LogsRequest = otlpRoot.lookupType('otlp.ExportLogsServiceRequest');
const MetricsRequest = otlpRoot.lookupType('otlp.ExportMetricsServiceRequest');
export const LogsResponse = otlpRoot.lookupType('otlp.ExportLogsServiceResponse');

const INT64 = new Set(['int64', 'uint64', 'fixed64', 'sfixed64', 'sint64']);
const INT32 = new Set(['int32', 'uint32', 'fixed32', 'sfixed32', 'sint32']);
const HEX_IDS = new Set(['traceId', 'spanId']);

/** Throws naming the path of the first deviation from OTLP/JSON. */
function checkJson(type: protobuf.Type, value: unknown, path: string): void {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${path}: expected an object`);
  const fields = new Map(type.fieldsArray.map((f) => [f.name, f])); // names are lowerCamelCase after parse
  for (const oneof of type.oneofsArray) {
    const set = oneof.fieldsArray.filter((f) => f.name in (value as object));
    if (set.length > 1) throw new Error(`${path}: oneof ${oneof.name} has ${set.map((f) => f.name).join(' and ')}`);
  }
  for (const [key, v] of Object.entries(value)) {
    const field = fields.get(key);
    if (!field) throw new Error(`${path}.${key}: unknown field (keys must be lowerCamelCase)`);
    field.resolve();
    const items = field.repeated ? (Array.isArray(v) ? v : (() => { throw new Error(`${path}.${key}: expected an array`); })()) : [v];
    items.forEach((item, i) => {
      const p = field.repeated ? `${path}.${key}[${i}]` : `${path}.${key}`;
      if (field.resolvedType instanceof protobuf.Type) return checkJson(field.resolvedType, item, p);
      if (field.resolvedType instanceof protobuf.Enum) {
        if (!Number.isInteger(item)) throw new Error(`${p}: enum must be an integer, got ${JSON.stringify(item)}`);
        return;
      }
      const t = field.type;
      const bad = INT64.has(t) ? !(typeof item === 'string' && /^-?\d+$/.test(item))
        : INT32.has(t) ? !Number.isInteger(item)
        : t === 'double' || t === 'float' ? !(typeof item === 'number' || ['NaN', 'Infinity', '-Infinity'].includes(item as string))
        : t === 'bool' ? typeof item !== 'boolean'
        : t === 'bytes' ? !(typeof item === 'string' && (!HEX_IDS.has(key) || /^([0-9a-f]{2})*$/.test(item)))
        : typeof item !== 'string';
      if (bad) throw new Error(`${p}: ${JSON.stringify(item)} is not a valid OTLP/JSON ${INT64.has(t) ? `${t} (decimal string)` : t}`);
    });
  }
}

/** Trace/span ids are hex in OTLP/JSON but base64 in protobuf's JSON: convert before fromObject. */
function hexIdsToBase64(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(hexIdsToBase64);
  if (!node || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (HEX_IDS.has(k) && typeof v === 'string') (node as Record<string, unknown>)[k] = Buffer.from(v, 'hex').toString('base64');
    else hexIdsToBase64(v);
  }
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, bytes: String, defaults: false, oneofs: false };

export function decodeOtlp(type: protobuf.Type, body: Buffer, contentType: string): any {
  if (contentType === 'application/x-protobuf') return type.toObject(type.decode(body), TO_OBJECT);
  if (contentType === 'application/json') {
    const json = JSON.parse(body.toString('utf8'));
    checkJson(type, json, type.name);
    hexIdsToBase64(json);
    return type.toObject(type.fromObject(json), TO_OBJECT);
  }
  throw new Error(`unsupported content-type ${contentType}`);
}

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  contentType: string;
  /** The decoded ExportLogsServiceRequest / ExportMetricsServiceRequest, or undefined when answered by script. */
  message?: any;
  /** Decoding error: the request was answered 400. */
  error?: string;
  at: number;
}

export interface ScriptedResponse { status: number; headers?: Record<string, string>; body?: Buffer | string }

export class OtlpReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Answers for the next requests, in order (status 0: never answer); afterwards 200 with an empty response message. */
  readonly script: ScriptedResponse[] = [];
  /** When set, the body of 200 answers (e.g. a partial success). */
  okBody?: (req: ReceivedRequest) => Buffer | string | undefined;
  private server?: Server;

  /** Listens on 127.0.0.1; with `tls` (PEM key and certificate) it speaks HTTPS. */
  async start(port = 0, tls?: { key: Buffer; cert: Buffer }): Promise<number> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const path = (req.url ?? '').split('?')[0]!;
        const contentType = String(req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const rec: ReceivedRequest = { path, headers: req.headers, contentType, at: Date.now() };
        const scripted = this.script.shift();
        try {
          let body = Buffer.concat(chunks);
          const enc = req.headers['content-encoding'];
          if (enc === 'gzip') body = gunzipSync(body);
          else if (enc !== undefined) throw new Error(`unexpected content-encoding ${enc}`);
          if (req.method !== 'POST') throw new Error(`method ${req.method}`);
          const type = path.endsWith('/v1/logs') ? LogsRequest : path.endsWith('/v1/metrics') ? MetricsRequest : undefined;
          if (!type) throw new Error(`unknown path ${path}`);
          rec.message = decodeOtlp(type, body, contentType);
        } catch (err) {
          rec.error = (err as Error).message;
        }
        this.requests.push(rec);
        if (rec.error) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(rec.error);
        } else if (scripted?.status === 0) {
          // No answer at all (a hung receiver); close() ends the connection.
        } else if (scripted) {
          res.writeHead(scripted.status, scripted.headers).end(scripted.body);
        } else {
          res.writeHead(200, { 'content-type': contentType }).end(this.okBody?.(rec) ?? (contentType === 'application/json' ? '{}' : ''));
        }
      });
    };
    this.server = tls ? createHttpsServer(tls, handler) : createServer(handler);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', resolve);
    });
    return (this.server.address() as { port: number }).port;
  }

  get port(): number { return (this.server!.address() as { port: number }).port; }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((r) => this.server!.close(r));
  }
}

/** KeyValue list → plain object of the AnyValue members, for order-insensitive comparison. */
export function kv(list: { key: string; value: Record<string, unknown> }[] | undefined): Record<string, Record<string, unknown>> {
  return Object.fromEntries((list ?? []).map((e) => [e.key, e.value]));
}
