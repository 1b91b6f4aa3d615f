// Public surface of the config module.
export { CONFIG_SCHEMA, isCidr, isHttpUrl, isIpv4Prefix, isLokiAddress } from './schema.js';
export { ConfigError, DEFAULT_CONFIG, DEFAULT_CONFIG_PATH, loadConfigFile, parseConfig } from './load.js';
export type {
  AgentConfig, ChecksConfig, Env, EventConfig, EventSinksConfig, LoadOptions, LokiSinkConfig, MetricConfig, MetricNaming, OtlpSinkConfig,
  RemoteWriteSinkConfig, ServerConfig, StdoutSinkConfig, StreamSinkConfig,
} from './load.js';
export { ConfigWatcher } from './watch.js';
export type { ConfigWatcherEvents, ConfigWatcherOptions } from './watch.js';
