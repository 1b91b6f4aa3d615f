// The push API's protobuf schema, written from Grafana Loki's public pkg/push/push.proto
// (package logproto): only the messages a client sends. gogoproto options are dropped:
// they change Go code generation, not the wire format. Kept inline so the compiled output
// needs no .proto file beside it.
import protobuf from 'protobufjs';

const TIMESTAMP_PROTO = `
syntax = "proto3";
package google.protobuf;
message Timestamp {
  int64 seconds = 1;
  int32 nanos = 2;
}`;

export const PUSH_PROTO = `
syntax = "proto3";
package logproto;
import "google/protobuf/timestamp.proto";

message PushRequest {
  repeated StreamAdapter streams = 1;
}

message StreamAdapter {
  // Prometheus-style selector: {name="value", ...}
  string labels = 1;
  repeated EntryAdapter entries = 2;
  // Set by Loki internally; clients leave it 0.
  uint64 hash = 3;
}

message LabelPairAdapter {
  string name = 1;
  string value = 2;
}

message EntryAdapter {
  google.protobuf.Timestamp timestamp = 1;
  string line = 2;
  repeated LabelPairAdapter structuredMetadata = 3;
}`;

const root = new protobuf.Root();
protobuf.parse(TIMESTAMP_PROTO, root, { keepCase: true });
protobuf.parse(PUSH_PROTO, root, { keepCase: true });
root.resolveAll();

export const PushRequest = root.lookupType('logproto.PushRequest');

export interface PushEntry {
  timestamp: { seconds: number; nanos: number };
  line: string;
  structuredMetadata: Array<{ name: string; value: string }>;
}
export interface PushStream {
  labels: string;
  entries: PushEntry[];
}

export function encodePushRequest(streams: PushStream[]): Uint8Array {
  return PushRequest.encode({ streams }).finish();
}
