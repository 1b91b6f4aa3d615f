export {
  RemoteWritePusher, toTimeSeries, REMOTE_WRITE_RETRYABLE,
  type RemoteWriteConfig, type RemoteWritePusherOptions, type RemoteWriteStats,
} from './pusher.js';
export { REMOTE_WRITE_SECTION, type RemoteWriteSection } from './config.js';
