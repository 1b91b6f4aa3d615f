export { HttpTransport, type HttpTransportOptions, type PostOptions, type PostResult, type RetryEvent, type TargetProvider } from './http.js';
export { backoffMs, parseRetryAfter, type RetryPolicy } from './retry.js';
export { checkTlsFiles, osResolver, type Lookup, type ResolvedAddress, type TlsOptions } from './connection.js';
export type { AuthOptions } from './auth.js';
export { logReachability, type ReachabilityChange } from './reachability.js';
export { PushQueue, type PushQueueOptions, type PushQueueStats, type QueuedOutcome } from './queue.js';
export { QueuedPusher, type PusherHooks, type QueuedPusherOptions } from './pusher.js';
