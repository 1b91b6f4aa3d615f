export { OtlpLogSink, type OtlpLogSinkOptions } from './logs.js';
export { OtlpMetricsPusher, type OtlpMetricsPusherOptions, type PushStats } from './metrics.js';
export { resolveOtlp, signalEnabled, type OtlpSinkConfig, type OtlpProtocol, type OtlpCompression } from './config.js';
