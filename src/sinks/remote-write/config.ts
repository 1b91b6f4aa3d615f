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
}

export const REMOTE_WRITE_SECTION: ConfigSection<RemoteWriteSection> = {
  defaults: { enabled: false, url: '', username: '', password_file: '', headers: {}, interval_seconds: 30 },
  schema: section('Prometheus remote write (ARMS managed Prometheus)', {
    enabled: bool('Push metrics with remote write', false),
    url: httpUrl('Remote write URL'),
    username: str('Basic auth user (ARMS AccessKey ID)'),
    password_file: str('File holding the basic auth password (ARMS AccessKey secret)'),
    headers: stringMap('Extra request headers'),
    interval_seconds: int(1, 3600, 30, 'Push interval in seconds'),
  }),
  validate(rw, isBad) {
    const problems: string[] = [];
    if (rw.enabled && rw.url === '' && !isBad('url')) problems.push('url: required when remote_write is enabled');
    if (rw.username !== '' && rw.password_file === '') problems.push('password_file: required with username (basic auth)');
    return problems;
  },
};
