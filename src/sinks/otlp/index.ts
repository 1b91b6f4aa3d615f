export { OtlpLogSink, type OtlpLogSinkOptions } from './logs.js';
export { OtlpMetricsPusher, type OtlpMetricsPusherOptions, type PushStats } from './metrics.js';
export { OTLP_SECTION, resolveOtlp, signalEnabled, type OtlpSinkConfig, type OtlpSinkSection, type OtlpProtocol, type OtlpCompression } from './config.js';
