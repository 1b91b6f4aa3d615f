export { LokiSink, PUSH_PATH, parseRetryAfter } from './sink.js';
export type { LokiSinkConfig, LokiSinkDeps, Lookup, ResolvedAddress } from './sink.js';
export { LokiDiscovery, pickLokiService, DEFAULT_SERVICE_NAME, LOKI_PORT } from './discovery.js';
export type { DiscoveredLoki, LokiDiscoveryOptions } from './discovery.js';
export type { LokiEncoding } from './encode.js';
export { LOKI_SECTION, type LokiSection } from './config.js';
