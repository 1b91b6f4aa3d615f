// The subset of Prometheus remote write 1.0 (prompb types.proto / remote.proto) this agent
// sends, written from the public spec. The native-histogram and exemplar fields are left out;
// a receiver ignores fields it is not sent.
import protobuf from 'protobufjs';

export const REMOTE_WRITE_PROTO = `
syntax = "proto3";
package prometheus;

message WriteRequest {
  repeated TimeSeries timeseries = 1;
  reserved 2;
  repeated MetricMetadata metadata = 3;
}
message TimeSeries {
  // Sorted by name, names unique, __name__ among them.
  repeated Label labels = 1;
  // Oldest first.
  repeated Sample samples = 2;
}
message Label {
  string name = 1;
  string value = 2;
}
message Sample {
  double value = 1;
  // Milliseconds since the epoch.
  int64 timestamp = 2;
}
message MetricMetadata {
  enum MetricType {
    UNKNOWN = 0;
    COUNTER = 1;
    GAUGE = 2;
    HISTOGRAM = 3;
    GAUGEHISTOGRAM = 4;
    SUMMARY = 5;
    INFO = 6;
    STATESET = 7;
  }
  MetricType type = 1;
  string metric_family_name = 2;
  string help = 4;
  string unit = 5;
}
`;

export const remoteWriteRoot = protobuf.parse(REMOTE_WRITE_PROTO).root;
export const WriteRequest = remoteWriteRoot.lookupType('prometheus.WriteRequest');

export interface Label { name: string; value: string }
export interface Sample { value: number; timestamp: number }
export interface TimeSeries { labels: Label[]; samples: Sample[] }
export interface MetricMetadata { type: number; metricFamilyName: string; help: string; unit: string }

export const METRIC_TYPE = { COUNTER: 1, GAUGE: 2, HISTOGRAM: 3 } as const;

export function encodeWriteRequest(timeseries: TimeSeries[], metadata: MetricMetadata[]): Uint8Array {
  // The plain objects already have the message shapes: encode() takes them without fromObject().
  return WriteRequest.encode({ timeseries, metadata }).finish();
}
