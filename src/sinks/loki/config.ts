// event_config.sinks.loki: the Loki sink's section of the config file.
import { bool, int, lokiAddress, oneOf, section, str, stringMap, type ConfigSection } from '../../util/schema.js';

export interface LokiSection {
  /** Also set by `loki_enable`, or by `remoteLokiAddress` alone (installer values). */
  enabled: boolean;
  /**
   * Empty: discover the Service `service_name` through the Kubernetes API. Otherwise an
   * http(s) URL: `host[:port]` forms are normalized to `http://host:port` (port 3100 when
   * omitted). A URL whose path is `/` (or empty) gets `/loki/api/v1/push` appended by the
   * sink; any other path is the full push URL.
   */
  url: string;
  /** X-Scope-OrgID; empty: no header. */
  tenant: string;
  /** Basic auth user; the password is read from `password_file` (re-read on every push, so Secret rotations apply). */
  username: string;
  password_file: string;
  /** Bearer token file (mutually exclusive with basic auth); re-read on every push. */
  bearer_token_file: string;
  /** PEM CA bundle for https; empty: the system roots. */
  ca_file: string;
  insecure_skip_verify: boolean;
  /** Namespace searched first for the Service; empty: any namespace. */
  discovery_namespace: string;
  service_name: string;
  /** Push body: protobuf + snappy, or JSON (gzip). */
  encoding: 'protobuf' | 'json';
  /** Pipeline options of this sink (see SinkOptions in src/events/pipeline.ts). */
  batch_max_events: number;
  batch_max_wait_ms: number;
  max_queue_events: number;
  /** Estimated bytes of events held while Loki is slow or down; beyond, the oldest are dropped (`queue_full`). */
  max_queue_bytes: number;
  /** How long an event may wait for delivery (retries included), ms; then dropped (`retries_exhausted`, `max_age`). */
  max_age_ms: number;
  /** Backoff between attempts, ms: a random wait below a bound that doubles from min to max (Retry-After wins). */
  min_backoff_ms: number;
  max_backoff_ms: number;
  /** A directory for a disk spool of this sink's events (`<spool_dir>/loki`); empty: memory only. */
  spool_dir: string;
  /** Bytes the spool may take on disk; beyond, new events are dropped (`spool_full`). */
  spool_max_bytes: number;
  /** Extra stream labels on every push (label names: [A-Za-z_][A-Za-z0-9_]*). */
  static_labels: Record<string, string>;
}

const D: LokiSection = {
  enabled: false, url: '', tenant: '', username: '', password_file: '', bearer_token_file: '',
  ca_file: '', insecure_skip_verify: false, discovery_namespace: '', service_name: 'grafana-loki',
  encoding: 'protobuf', batch_max_events: 1000, batch_max_wait_ms: 1000, max_queue_events: 100000,
  max_queue_bytes: 32 << 20, max_age_ms: 15 * 60_000, min_backoff_ms: 250, max_backoff_ms: 10_000, spool_dir: '', spool_max_bytes: 256 << 20, static_labels: {},
};

export const LOKI_SECTION: ConfigSection<LokiSection> = {
  defaults: D,
  schema: section('Grafana Loki push API', {
    enabled: bool('Push events to Loki (same as loki_enable)', D.enabled),
    url: lokiAddress('Loki host[:port] or URL (same as loki_address); empty: discover service_name'),
    tenant: str('X-Scope-OrgID header; empty: none'),
    username: str('Basic auth user'),
    password_file: str('File holding the basic auth password'),
    bearer_token_file: str('File holding a bearer token'),
    ca_file: str('PEM CA bundle for https'),
    insecure_skip_verify: bool('Do not verify the server certificate', D.insecure_skip_verify),
    discovery_namespace: str('Namespace searched first for the Loki Service; empty: any'),
    service_name: str('Name of the Loki Service to discover', D.service_name),
    encoding: oneOf(['protobuf', 'json'], D.encoding, 'Push body: protobuf+snappy or gzipped JSON'),
    batch_max_events: int(1, 100000, D.batch_max_events, 'Events per push at most'),
    batch_max_wait_ms: int(1, 60000, D.batch_max_wait_ms, 'Longest an event waits for a batch to fill'),
    max_queue_events: int(1, 10000000, D.max_queue_events, 'Events held while Loki is slow or down; beyond, the oldest are dropped and counted'),
    max_queue_bytes: int(1024, 2 ** 32, D.max_queue_bytes, 'Estimated bytes of events held while Loki is slow or down; beyond, the oldest are dropped and counted'),
    max_age_ms: int(100, 86_400_000, D.max_age_ms, 'How long an event may wait for delivery, retries included (ms); then dropped and counted'),
    min_backoff_ms: int(1, 3_600_000, D.min_backoff_ms, 'Least bound of the wait between attempts (ms)'),
    max_backoff_ms: int(1, 3_600_000, D.max_backoff_ms, 'Greatest bound of the wait between attempts (ms)'),
    spool_dir: str('Directory of a disk spool that keeps queued events across restarts and outages longer than the memory queue; empty: none'),
    spool_max_bytes: int(65536, 2 ** 40, D.spool_max_bytes, 'Bytes the disk spool may take; beyond, new events are dropped and counted'),
    static_labels: stringMap('Extra stream labels'),
  }),
  read: {
    static_labels(value, problems) {
      const bad = Object.keys(value as object).filter((k) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k));
      for (const k of bad) problems.push(`label name ${JSON.stringify(k)} must be letters, digits and _, not starting with a digit`);
      return bad.length > 0 ? undefined : value;
    },
  },
  validate(l) {
    const problems: string[] = [];
    if (l.username !== '' && l.password_file === '') problems.push('password_file: required with username (basic auth)');
    if (l.min_backoff_ms > l.max_backoff_ms) problems.push(`min_backoff_ms: ${l.min_backoff_ms} is above max_backoff_ms ${l.max_backoff_ms}`);
    if (l.username !== '' && l.bearer_token_file !== '') problems.push('bearer_token_file: conflicts with username (basic auth); use one of them');
    return problems;
  },
};
