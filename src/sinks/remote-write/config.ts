// event_config.sinks.remote_write: Prometheus remote write 1.0 (e.g. ARMS managed Prometheus).
import { bool, httpUrl, int, section, str, stringMap, type ConfigSection } from '../../util/schema.js';

export interface RemoteWriteSection {
  enabled: boolean;
  /** The receiver's write URL (ARMS: the Remote Write URL of the Prometheus instance); required when enabled. */
  url: string;
  /** Basic auth (ARMS AccessKey ID); the password (AccessKey secret) is read from `password_file` at every push. */
  username: string;
  password_file: string;
  headers: Record<string, string>;
  /** Seconds between pushes. */
  interval_seconds: number;
  /** How long a collection's samples are retried while the receiver is down, ms; then dropped (`retries_exhausted`, `max_age`). */
  max_age_ms: number;
  /** Bytes of encoded requests held while the receiver is down; beyond, the oldest are dropped (`queue_full`). */
  max_queue_bytes: number;
  /** Backoff between attempts, ms: a random wait below a bound doubling from min to max (Retry-After wins). */
  min_backoff_ms: number;
  max_backoff_ms: number;
}

export const REMOTE_WRITE_SECTION: ConfigSection<RemoteWriteSection> = {
  defaults: {
    enabled: false, url: '', username: '', password_file: '', headers: {}, interval_seconds: 30,
    max_age_ms: 15 * 60_000, max_queue_bytes: 32 << 20, min_backoff_ms: 250, max_backoff_ms: 5000,
  },
  schema: section('Prometheus remote write (ARMS managed Prometheus)', {
    enabled: bool('Push metrics with remote write', false),
    url: httpUrl('Remote write URL'),
    username: str('Basic auth user (ARMS AccessKey ID)'),
    password_file: str('File holding the basic auth password (ARMS AccessKey secret)'),
    headers: stringMap('Extra request headers'),
    interval_seconds: int(1, 3600, 30, 'Push interval in seconds'),
    max_age_ms: int(100, 86_400_000, 15 * 60_000, 'How long samples are kept and retried while the receiver is down (ms); then dropped and counted'),
    max_queue_bytes: int(1024, 2 ** 32, 32 << 20, 'Bytes of requests held while the receiver is down; beyond, the oldest are dropped and counted'),
    min_backoff_ms: int(1, 3_600_000, 250, 'Least bound of the wait between attempts (ms)'),
    max_backoff_ms: int(1, 3_600_000, 5000, 'Greatest bound of the wait between attempts (ms)'),
  }),
  validate(rw, isBad) {
    const problems: string[] = [];
    if (rw.enabled && rw.url === '' && !isBad('url')) problems.push('url: required when remote_write is enabled');
    if (rw.min_backoff_ms > rw.max_backoff_ms) problems.push(`min_backoff_ms: ${rw.min_backoff_ms} is above max_backoff_ms ${rw.max_backoff_ms}`);
    if (rw.username !== '' && rw.password_file === '') problems.push('password_file: required with username (basic auth)');
    return problems;
  },
};
