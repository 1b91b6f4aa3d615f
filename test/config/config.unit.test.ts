import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { ConfigMapMount } from '../helpers/configmap.js';
import { holdsFor } from '../helpers/wait.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_EVENT_PROBES, DEFAULT_METRIC_PROBES, EVENT_PROBES, METRIC_PROBES } from '../../src/catalogue/index.js';
import {
  CONFIG_SCHEMA, ConfigError, ConfigWatcher, DEFAULT_CONFIG, loadConfigFile, parseConfig,
} from '../../src/config/index.js';
import type { AgentConfig, ChecksConfig } from '../../src/config/index.js';
import { checkOptionsFromConfig } from '../../src/checks/config.js';
import { DEFAULT_CHECK_OPTIONS } from '../../src/checks/model.js';
import type { CheckOptions } from '../../src/checks/model.js';
import { ROOT } from '../helpers/paths.js';
import { OTLP_DELIVERY_DEFAULTS } from '../../src/sinks/otlp/config.js';

const SRC = '/etc/config/config.yaml';
// An empty environment, so OTEL_* variables of whoever runs the tests change nothing.
const parse = (text: string, env: Record<string, string> = {}): AgentConfig => parseConfig(text, SRC, env);

/** The ConfigError lines for `text`, without the common prefix. */
function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    parse(text, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.equal(err.message, err.problems.map((p) => `config ${SRC}: ${p}`).join('\n'));
    return [...err.problems];
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

const ALL_METRIC = [...METRIC_PROBES];
const ALL_EVENT = [...EVENT_PROBES];
const DEFAULT_METRIC = [...DEFAULT_METRIC_PROBES];
const DEFAULT_EVENT = [...DEFAULT_EVENT_PROBES];

describe('defaults', () => {
  test('empty, blank and comment-only files give the defaults', () => {
    for (const text of ['', '\n\n', '# nothing configured\n', '---\n']) assert.deepEqual(parse(text), DEFAULT_CONFIG);
  });

  test('default values', () => {
    assert.deepEqual(DEFAULT_CONFIG, {
      debugmode: false,
      metric_config: {
        enabled: true, interval: 5, port: 9102, probes: DEFAULT_METRIC, verbose: false, naming: 'netexporter',
        qdisc_devices: ['cali*', 'eth*'], qdisc_per_interface: false, pod_cidrs: [],
      },
      event_config: {
        enabled: true, port: 19102, probes: DEFAULT_EVENT, events_per_second: 100, latency_sample: 16, latency_threshold_ms: 100, packetloss: { reasons: [], exclude_reasons: [] }, dns: { timeout_ms: 2000, error_rcodes: ['SERVFAIL', 'REFUSED'], ports: [53] }, loki_enable: false, loki_address: '',
        sinks: {
          stdout: { enabled: true, format: 'json' },
          loki: {
            enabled: false, url: '', tenant: '', username: '', password_file: '', bearer_token_file: '', ca_file: '',
            insecure_skip_verify: false, discovery_namespace: '', service_name: 'grafana-loki', encoding: 'protobuf',
            batch_max_events: 1000, batch_max_wait_ms: 1000, max_queue_events: 100000, max_queue_bytes: 33554432,
            max_age_ms: 900000, min_backoff_ms: 250, max_backoff_ms: 10000, spool_dir: '', spool_max_bytes: 268435456, static_labels: {},
          },
          otlp: {
            enabled: false, endpoint: 'http://localhost:4318', logs_endpoint: 'http://localhost:4318/v1/logs',
            metrics_endpoint: 'http://localhost:4318/v1/metrics', protocol: 'http/protobuf', headers: {},
            compression: 'none', logs: true, metrics: true, interval_seconds: 30,
            max_age_ms: 900000, max_queue_bytes: 33554432, max_queue_events: 100000, min_backoff_ms: 1000, max_backoff_ms: 30000,
            spool_dir: '', spool_max_bytes: 268435456,
          },
          remote_write: {
            enabled: false, url: '', username: '', password_file: '', headers: {}, interval_seconds: 30,
            max_age_ms: 900000, max_queue_bytes: 33554432, min_backoff_ms: 250, max_backoff_ms: 5000,
          },
          stream: { max_clients: 16, client_buffer_events: 1000 },
        },
        checks: {},
      },
      server: {
        auth: { metrics: 'none', status: 'none', events: 'auto' },
        bearer_token_file: '',
        tls: { cert_file: '', key_file: '' },
        kubernetes: { audiences: [], allow_cache_seconds: 60, deny_cache_seconds: 10, cache_entries: 4096, max_pending_reviews: 64 },
        limits: { header_timeout_ms: 10000, request_timeout_ms: 30000, idle_timeout_ms: 60000, max_header_bytes: 16384, max_body_bytes: 4096, max_connections: 256 },
      },
    });
  });

  test('DEFAULT_CONFIG is frozen and parse results are independent copies', () => {
    assert.ok(Object.isFrozen(DEFAULT_CONFIG.metric_config.probes));
    const a = parse('');
    a.metric_config.probes.pop();
    assert.deepEqual(parse('').metric_config.probes, DEFAULT_METRIC);
  });

  test('`key:` with no value means not set', () => {
    assert.deepEqual(parse('debugmode:\nmetric_config:\n  port:\nevent_config:\n'), DEFAULT_CONFIG);
  });
});

describe('ACK inspector-config keys', () => {
  test('every key maps to the normalized config', () => {
    const c = parse(`
debugmode: true
metric_config:
  interval: 15
  port: 9200
  probes: [tcp, netdev, qdisc]
  verbose: true
  naming: inspector
  qdisc_devices: ["veth*", eth0]
  qdisc_per_interface: true
  pod_cidrs: [10.244.0.0/16, "fd00:10:244::/64"]
event_config:
  loki_enable: true
  loki_address: http://loki.monitoring:3100
  probes: [tcpreset, packetloss]
  port: 19200
`);
    assert.deepEqual(c, {
      debugmode: true,
      metric_config: {
        enabled: true, interval: 15, port: 9200, probes: ['netdev', 'tcp', 'qdisc'], verbose: true, naming: 'inspector',
        qdisc_devices: ['veth*', 'eth0'], qdisc_per_interface: true, pod_cidrs: ['10.244.0.0/16', 'fd00:10:244::/64'],
      },
      event_config: {
        enabled: true, port: 19200, probes: ['packetloss', 'tcpreset'], events_per_second: 100, latency_sample: 16, latency_threshold_ms: 100, packetloss: { reasons: [], exclude_reasons: [] }, dns: { timeout_ms: 2000, error_rcodes: ['SERVFAIL', 'REFUSED'], ports: [53] }, loki_enable: true,
        loki_address: 'http://loki.monitoring:3100',
        sinks: {
          ...DEFAULT_CONFIG.event_config.sinks,
          loki: { ...DEFAULT_CONFIG.event_config.sinks.loki, enabled: true, url: 'http://loki.monitoring:3100' },
        },
        checks: {},
      },
      server: DEFAULT_CONFIG.server,
    });
  });

  test('the default probe lists leave out the latency probes and dns (opt-in, they cost every packet); a list naming one turns it on', () => {
    const latency = ['net_softirq', 'socketlatency', 'netiftxlat', 'kernellatency', 'dns'];
    for (const p of latency) {
      assert.ok(!DEFAULT_CONFIG.metric_config.probes.includes(p) && !DEFAULT_CONFIG.event_config.probes.includes(p), p);
      assert.ok(ALL_METRIC.includes(p) && ALL_EVENT.includes(p), p);
    }
    assert.deepEqual(DEFAULT_METRIC, ALL_METRIC.filter((p) => !latency.includes(p)));
    assert.deepEqual(DEFAULT_EVENT, ALL_EVENT.filter((p) => !latency.includes(p)));
    assert.deepEqual(parse('metric_config: {probes: [tcpext, kernellatency]}').metric_config.probes, ['tcpext', 'kernellatency']);
  });

  test('empty probe lists mean every probe', () => {
    const c = parse('metric_config: {probes: []}\nevent_config: {probes: ""}');
    assert.deepEqual(c.metric_config.probes, ALL_METRIC);
    assert.deepEqual(c.event_config.probes, ALL_EVENT);
  });

  test('loki_address alone does not enable the push (loki_enable is the switch)', () => {
    const c = parse('event_config: {loki_address: "loki:3100"}');
    assert.equal(c.event_config.loki_enable, false);
    assert.equal(c.event_config.loki_address, 'loki:3100');
  });

  test('accepted Loki address forms', () => {
    for (const a of ['loki', 'loki:3100', 'grafana-loki.monitoring.svc', '10.0.0.7:3100', '[fd00::7]:3100',
      'https://logs.example.com/loki/api/v1/push']) {
      assert.equal(parse(`event_config: {loki_address: "${a}"}`).event_config.loki_address, a);
    }
  });
});

describe('installer values', () => {
  const values = `
enableMetricServer: false
enableEventServer: true
metricProbes: "tcp,udp"
eventProbes: [tcpretrans]
remoteLokiAddress: loki.monitoring:3100
metricLabelVerbose: true
metricServerPort: 9300
eventServerPort: 19300
enableLegacyVersion: true
`;
  const expected = (c: AgentConfig) => {
    assert.equal(c.metric_config.enabled, false);
    assert.equal(c.event_config.enabled, true);
    assert.deepEqual(c.metric_config.probes, ['tcp', 'udp']);
    assert.deepEqual(c.event_config.probes, ['tcpretrans']);
    assert.equal(c.event_config.loki_address, 'loki.monitoring:3100');
    assert.equal(c.event_config.loki_enable, true, 'remoteLokiAddress enables the push');
    assert.equal(c.metric_config.verbose, true);
    assert.equal(c.metric_config.port, 9300);
    assert.equal(c.event_config.port, 19300);
  };

  test('every key maps at the top level', () => expected(parse(values)));

  test('every key maps under config:', () => {
    expected(parse(`config:\n${values.trim().split('\n').map((l) => `  ${l}`).join('\n')}`));
  });

  test('enableLegacyVersion is accepted and changes nothing', () => {
    assert.deepEqual(parse('enableLegacyVersion: true'), DEFAULT_CONFIG);
    assert.deepEqual(parse('config: {enableLegacyVersion: false}'), DEFAULT_CONFIG);
  });

  test('lokiServerAddress (ACK walkthrough spelling) is remoteLokiAddress', () => {
    const c = parse('lokiServerAddress: 10.0.0.9');
    assert.equal(c.event_config.loki_address, '10.0.0.9');
    assert.equal(c.event_config.loki_enable, true);
  });

  test('explicit loki_enable wins over the remoteLokiAddress implication', () => {
    const c = parse('remoteLokiAddress: loki\nevent_config: {loki_enable: false}');
    assert.equal(c.event_config.loki_enable, false);
    assert.equal(c.event_config.loki_address, 'loki');
  });

  test('empty remoteLokiAddress (the chart default) keeps Loki off', () => {
    assert.equal(parse('config: {remoteLokiAddress: ""}').event_config.loki_enable, false);
  });

  test('ACK keys and installer keys combine', () => {
    const c = parse('metric_config: {interval: 30}\nconfig: {metricServerPort: 9400}\nenableEventServer: false');
    assert.equal(c.metric_config.interval, 30);
    assert.equal(c.metric_config.port, 9400);
    assert.equal(c.event_config.enabled, false);
  });

  test('the same value under several spellings is fine', () => {
    const c = parse('metric_config: {port: 9500, probes: [udp, tcp]}\nmetricServerPort: 9500\n' +
      'config: {metricServerPort: 9500, metricProbes: "tcp, udp"}');
    assert.equal(c.metric_config.port, 9500);
    assert.deepEqual(c.metric_config.probes, ['tcp', 'udp']);
  });
});

describe('event sinks', () => {
  test('every sink key maps to the normalized config', () => {
    const c = parse(`
event_config:
  sinks:
    stdout: {enabled: false, format: text}
    loki:
      enabled: true
      url: https://logs.example.com
      tenant: team-a
      username: loki
      password_file: /etc/loki/password
      ca_file: /etc/loki/ca.pem
      insecure_skip_verify: true
      discovery_namespace: monitoring
      service_name: loki-gateway
      encoding: json
      batch_max_events: 500
      batch_max_wait_ms: 200
      max_queue_events: 5000
      static_labels: {cluster: prod-1, region: cn-hangzhou}
    otlp:
      enabled: true
      endpoint: http://collector:4318/
      protocol: http/json
      headers: {Authorization: Bearer x}
      compression: gzip
      logs: true
      metrics: false
      interval_seconds: 60
    remote_write:
      enabled: true
      url: https://cn-hangzhou.arms.aliyuncs.com/prometheus/api/v1/write
      username: LTAIxxxx
      password_file: /etc/arms/secret
      headers: {X-Prometheus-Remote-Write-Version: 0.1.0}
      interval_seconds: 15
    stream: {max_clients: 4, client_buffer_events: 100}
`);
    assert.deepEqual(c.event_config.sinks, {
      stdout: { enabled: false, format: 'text' },
      loki: {
        enabled: true, url: 'https://logs.example.com', tenant: 'team-a', username: 'loki',
        password_file: '/etc/loki/password', bearer_token_file: '', ca_file: '/etc/loki/ca.pem', insecure_skip_verify: true,
        discovery_namespace: 'monitoring', service_name: 'loki-gateway', encoding: 'json', batch_max_events: 500,
        batch_max_wait_ms: 200, max_queue_events: 5000, static_labels: { cluster: 'prod-1', region: 'cn-hangzhou' },
        max_queue_bytes: 33554432, max_age_ms: 900000, min_backoff_ms: 250, max_backoff_ms: 10000, spool_dir: '', spool_max_bytes: 268435456,
      },
      otlp: {
        enabled: true, endpoint: 'http://collector:4318/', logs_endpoint: 'http://collector:4318/v1/logs',
        metrics_endpoint: 'http://collector:4318/v1/metrics', protocol: 'http/json',
        headers: { Authorization: 'Bearer x' }, compression: 'gzip', logs: true, metrics: false, interval_seconds: 60,
        max_age_ms: 900000, max_queue_bytes: 33554432, max_queue_events: 100000, min_backoff_ms: 1000, max_backoff_ms: 30000,
        spool_dir: '', spool_max_bytes: 268435456,
      },
      remote_write: {
        enabled: true, url: 'https://cn-hangzhou.arms.aliyuncs.com/prometheus/api/v1/write', username: 'LTAIxxxx',
        password_file: '/etc/arms/secret', headers: { 'X-Prometheus-Remote-Write-Version': '0.1.0' }, interval_seconds: 15,
        max_age_ms: 900000, max_queue_bytes: 33554432, min_backoff_ms: 250, max_backoff_ms: 5000,
      },
      stream: { max_clients: 4, client_buffer_events: 100 },
    });
    // The ACK keys mirror the Loki section.
    assert.equal(c.event_config.loki_enable, true);
    assert.equal(c.event_config.loki_address, 'https://logs.example.com');
  });

  test('ACK and installer Loki keys map onto sinks.loki; host[:port] becomes a URL', () => {
    const cases: [string, boolean, string][] = [
      ['event_config: {loki_enable: true}', true, ''], // no address: auto-discovery
      ['event_config: {loki_enable: true, loki_address: loki}', true, 'http://loki:3100'],
      ['event_config: {loki_enable: true, loki_address: "10.0.0.7:3200"}', true, 'http://10.0.0.7:3200'],
      ['event_config: {loki_enable: true, loki_address: "[fd00::7]"}', true, 'http://[fd00::7]:3100'],
      ['event_config: {loki_enable: true, loki_address: "[fd00::7]:3100"}', true, 'http://[fd00::7]:3100'],
      ['remoteLokiAddress: loki.monitoring:3100', true, 'http://loki.monitoring:3100'],
      ['config: {remoteLokiAddress: "https://loki.example.com/loki/api/v1/push"}', true, 'https://loki.example.com/loki/api/v1/push'],
      ['event_config: {loki_address: loki}', false, 'http://loki:3100'],
      ['event_config: {sinks: {loki: {enabled: true, url: "loki.monitoring"}}}', true, 'http://loki.monitoring:3100'],
    ];
    for (const [text, enabled, url] of cases) {
      const loki = parse(text).event_config.sinks.loki;
      assert.deepEqual([loki.enabled, loki.url], [enabled, url], text);
    }
  });

  test('OTLP: the OTEL_EXPORTER_OTLP_* variables are defaults, file keys win', () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://loki:3100/otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'X-Scope-OrgID=team-a, Authorization=Basic%20YTpi',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_METRIC_EXPORT_INTERVAL: '15000',
    };
    const fromEnv = parse('event_config: {sinks: {otlp: {enabled: true}}}', env).event_config.sinks.otlp;
    assert.deepEqual(fromEnv, {
      enabled: true, endpoint: 'http://loki:3100/otlp', logs_endpoint: 'http://loki:3100/otlp/v1/logs',
      metrics_endpoint: 'http://loki:3100/otlp/v1/metrics', protocol: 'http/json',
      headers: { 'X-Scope-OrgID': 'team-a', Authorization: 'Basic YTpi' }, compression: 'gzip', logs: true, metrics: true,
      interval_seconds: 15, ...OTLP_DELIVERY_DEFAULTS,
    });
    const file = parse(`event_config:
  sinks:
    otlp: {enabled: true, endpoint: "http://collector:4318", protocol: http/protobuf, compression: none,
           interval_seconds: 60, headers: {X-Scope-OrgID: team-b}}`, { ...env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://other/v1/logs' });
    assert.deepEqual(file.event_config.sinks.otlp, {
      enabled: true, endpoint: 'http://collector:4318', logs_endpoint: 'http://collector:4318/v1/logs',
      metrics_endpoint: 'http://collector:4318/v1/metrics', protocol: 'http/protobuf',
      headers: { 'X-Scope-OrgID': 'team-b', Authorization: 'Basic YTpi' }, compression: 'none', logs: true, metrics: true,
      interval_seconds: 60, ...OTLP_DELIVERY_DEFAULTS,
    });
    const signal = parse('', { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://gw:3100/otlp/v1/logs' }).event_config.sinks.otlp;
    assert.equal(signal.logs_endpoint, 'http://gw:3100/otlp/v1/logs');
    assert.equal(signal.metrics_endpoint, 'http://localhost:4318/v1/metrics');
  });

  test('OTLP: bad variables are errors only while OTLP is enabled', () => {
    const env = { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_HEADERS: 'novalue' };
    assert.equal(parse('', env).event_config.sinks.otlp.protocol, 'http/protobuf');
    assert.deepEqual(problems('event_config: {sinks: {otlp: {enabled: true}}}', env), [
      'OTEL_EXPORTER_OTLP_PROTOCOL (environment): must be "http/protobuf" or "http/json" (grpc is not supported), got "grpc"',
      'OTEL_EXPORTER_OTLP_HEADERS (environment): must be a list of key=value separated by commas, got "novalue"',
    ]);
    // A file key makes the variable irrelevant.
    assert.equal(parse('event_config: {sinks: {otlp: {enabled: true, protocol: http/json, headers: {}}}}',
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).event_config.sinks.otlp.protocol, 'http/json');
  });

  const S = 'event_config.sinks';
  const cases: [string, string, string[]][] = [
    ['stdout format', 'event_config: {sinks: {stdout: {format: yaml}}}', [`${S}.stdout.format: must be one of "json", "text", got "yaml"`]],
    ['unknown sink', 'event_config: {sinks: {kafka: {}}}', [`${S}: unknown key "kafka"`]],
    ['unknown sink key', 'event_config: {sinks: {loki: {tenat: a}}}', [`${S}.loki: unknown key "tenat" (did you mean "tenant"?)`]],
    ['Loki encoding', 'event_config: {sinks: {loki: {encoding: snappy}}}', [`${S}.loki.encoding: must be one of "protobuf", "json", got "snappy"`]],
    ['Loki batch size', 'event_config: {sinks: {loki: {batch_max_events: 0}}}', [`${S}.loki.batch_max_events: must be an integer 1..100000, got 0`]],
    ['Loki url', 'event_config: {sinks: {loki: {url: "ftp://x"}}}', [`${S}.loki.url: must be host, host:port or an http(s):// URL, got "ftp://x"`]],
    ['Loki label value', 'event_config: {sinks: {loki: {static_labels: {cluster: 5}}}}', [`${S}.loki.static_labels.cluster: must be a string, got 5`]],
    ['Loki label name', 'event_config: {sinks: {loki: {static_labels: {k8s-cluster: a}}}}',
      [`${S}.loki.static_labels: label name "k8s-cluster" must be letters, digits and _, not starting with a digit`]],
    ['Loki labels not a map', 'event_config: {sinks: {loki: {static_labels: [a]}}}', [`${S}.loki.static_labels: must be a mapping, got a list`]],
    ['Loki basic auth without password', 'event_config: {sinks: {loki: {username: u}}}', [`${S}.loki.password_file: required with username (basic auth)`]],
    ['Loki basic and bearer', 'event_config: {sinks: {loki: {username: u, password_file: /p, bearer_token_file: /t}}}',
      [`${S}.loki.bearer_token_file: conflicts with username (basic auth); use one of them`]],
    ['loki_enable against sinks.loki.enabled', 'event_config: {loki_enable: true, sinks: {loki: {enabled: false}}}',
      [`event_config.sinks.loki.enabled: false conflicts with event_config.loki_enable: true (two spellings of the same setting; keep one)`]],
    ['OTLP protocol', 'event_config: {sinks: {otlp: {protocol: grpc}}}', [`${S}.otlp.protocol: must be one of "http/protobuf", "http/json", got "grpc"`]],
    ['OTLP endpoint', 'event_config: {sinks: {otlp: {endpoint: "collector:4318"}}}', [`${S}.otlp.endpoint: must be an http(s):// URL, got "collector:4318"`]],
    ['OTLP header value', 'event_config: {sinks: {otlp: {headers: {X-Token: 5}}}}', [`${S}.otlp.headers.X-Token: must be a string, got 5`]],
    ['OTLP compression', 'event_config: {sinks: {otlp: {compression: zstd}}}', [`${S}.otlp.compression: must be one of "gzip", "none", got "zstd"`]],
    ['remote write without url', 'event_config: {sinks: {remote_write: {enabled: true}}}', [`${S}.remote_write.url: required when remote_write is enabled`]],
    ['remote write interval', 'event_config: {sinks: {remote_write: {interval_seconds: 0}}}', [`${S}.remote_write.interval_seconds: must be an integer 1..3600, got 0`]],
    ['stream clients', 'event_config: {sinks: {stream: {max_clients: 0}}}', [`${S}.stream.max_clients: must be an integer 1..1000, got 0`]],
    ['sinks not a mapping', 'event_config: {sinks: [stdout]}', [`${S}: must be a mapping, got a list`]],
  ];
  for (const [name, text, expected] of cases) {
    test(`error: ${name}`, () => assert.deepEqual(problems(text), expected));
  }
});

describe('probe lists', () => {
  test('comma-separated strings, spaces and trailing commas', () => {
    assert.deepEqual(parse('metricProbes: " netdev , tcpext,conntrack, "').metric_config.probes,
      ['netdev', 'tcpext', 'conntrack']);
  });

  test('aliases map to canonical names, case-insensitively, without duplicates', () => {
    const c = parse('metricProbes: [softnetstat, Softnet, acceptqueue, PodIP]\n' +
      'eventProbes: "tcp_reset,virtcmdlat,netsoftirq,KernelParam"');
    assert.deepEqual(c.metric_config.probes, ['softnet', 'sockbacklog', 'podip']);
    assert.deepEqual(c.event_config.probes, ['tcpreset', 'net_softirq', 'virtcmdlatency', 'kernelparam']);
  });

  test('catalogue order regardless of the order given', () => {
    assert.deepEqual(parse('metric_config: {probes: [podip, netdev]}').metric_config.probes, ['netdev', 'podip']);
  });
});

describe('errors: one line per problem', () => {
  const VALID_METRIC = `valid: ${METRIC_PROBES.join(', ')}`;
  const VALID_EVENT = `valid: ${EVENT_PROBES.join(', ')}`;
  const cases: [string, string, string[]][] = [
    ['port 70000', 'metric_config:\n  port: 70000', ['metric_config.port: must be an integer 1..65535, got 70000']],
    ['port 0', 'metric_config:\n  port: 0', ['metric_config.port: must be an integer 1..65535, got 0']],
    ['fractional port', 'eventServerPort: 9102.5', ['eventServerPort: must be an integer 1..65535, got 9102.5']],
    ['port as string', 'config: {metricServerPort: "9102"}', ['config.metricServerPort: must be an integer 1..65535, got "9102"']],
    ['interval too large', 'metric_config: {interval: 3601}', ['metric_config.interval: must be an integer 1..3600, got 3601']],
    ['boolean as yes', 'debugmode: yes', ['debugmode: must be true or false, got "yes"']],
    ['boolean as string', 'config: {enableEventServer: "true"}', ['config.enableEventServer: must be true or false, got "true"']],
    ['section not a mapping', 'metric_config: 5', ['metric_config: must be a mapping, got 5']],
    ['config not a mapping', 'config: [a]', ['config: must be a mapping, got a list']],
    ['top level not a mapping', '- debugmode', ['must be a mapping of settings, got a list']],
    ['top level scalar', 'hello', ['must be a mapping of settings, got "hello"']],
    ['naming', 'metric_config: {naming: prometheus}',
      ['metric_config.naming: must be one of "netexporter", "inspector", got "prometheus"']],
    ['probe list of mappings', 'metricProbes: {tcp: true}',
      ['metricProbes: must be a list of probe names or a comma-separated string, got a mapping']],
    ['probe item not a string', 'metric_config: {probes: [tcp, 5]}', ['metric_config.probes[1]: must be a string, got 5']],
    ['empty qdisc_devices', 'metric_config: {qdisc_devices: []}',
      ['metric_config.qdisc_devices: must be a non-empty list, got an empty list']],
    ['bad qdisc glob', 'metric_config: {qdisc_devices: ["eth 0"]}',
      ['metric_config.qdisc_devices[0]: must be an interface name or glob such as "eth*", got "eth 0"']],
    ['unknown key', 'metric_config:\n  intervall: 5',
      ['metric_config: unknown key "intervall" (did you mean "interval"?)']],
    ['unknown top-level key', 'loglevel: debug', ['unknown key "loglevel"']],
    ['unknown key, wrong case', 'EnableMetricServer: true',
      ['unknown key "EnableMetricServer" (did you mean "enableMetricServer"?)']],
    ['installer key inside a ConfigMap section', 'event_config: {eventServerPort: 1}',
      ['event_config: unknown key "eventServerPort"']],
    ['unknown probe', 'metric_config:\n  probes: [netdev, tcp, tcpx]',
      [`metric_config.probes[2]: unknown probe "tcpx" (${VALID_METRIC})`]],
    ['unknown probe in a comma list', 'eventProbes: "tcpreset,dropwatch"',
      [`eventProbes: unknown probe "dropwatch" (${VALID_EVENT})`]],
    ['event probe in a metric list', 'metric_config: {probes: [tcp, kernelparam]}',
      ['metric_config.probes[1]: "kernelparam" is an event probe, not a metric probe; list it in event_config.probes']],
    ['metric probe in an event list', 'config: {eventProbes: "tcpreset,conntrack"}',
      ['config.eventProbes: "conntrack" is a metric probe, not an event probe; list it in config.metricProbes']],
    ['alias of an event probe in a metric list', 'metricProbes: [virtcmdlat]',
      ['metricProbes[0]: "virtcmdlat" is an event probe, not a metric probe; list it in eventProbes']],
    ['bad CIDR', 'metric_config: {pod_cidrs: [10.244.0.0/16, 10.300.0.0/16]}',
      ['metric_config.pod_cidrs[1]: must be a CIDR such as 10.244.0.0/16 or fd00:10:244::/64, got "10.300.0.0/16"']],
    ['CIDR prefix too long', 'metric_config: {pod_cidrs: ["fd00::/129"]}',
      ['metric_config.pod_cidrs[0]: must be a CIDR such as 10.244.0.0/16 or fd00:10:244::/64, got "fd00::/129"']],
    ['CIDR without prefix', 'metric_config: {pod_cidrs: [10.244.0.0]}',
      ['metric_config.pod_cidrs[0]: must be a CIDR such as 10.244.0.0/16 or fd00:10:244::/64, got "10.244.0.0"']],
    ['bad Loki address', 'remoteLokiAddress: "ftp://loki"',
      ['remoteLokiAddress: must be host, host:port or an http(s):// URL, got "ftp://loki"']],
    ['Loki port out of range', 'event_config: {loki_address: "loki:99999"}',
      ['event_config.loki_address: must be host, host:port or an http(s):// URL, got "loki:99999"']],
    ['conflicting ports', 'metric_config:\n  port: 9102\nmetricServerPort: 9103',
      ['metricServerPort: 9103 conflicts with metric_config.port: 9102 (two spellings of the same setting; keep one)']],
    ['conflict between top level and config:', 'enableMetricServer: true\nconfig: {enableMetricServer: false}',
      ['config.enableMetricServer: false conflicts with enableMetricServer: true (two spellings of the same setting; keep one)']],
    ['conflicting probe lists', 'event_config: {probes: [tcpreset]}\neventProbes: "tcpreset,packetloss"',
      ['eventProbes: "tcpreset,packetloss" conflicts with event_config.probes: ["tcpreset"] (two spellings of the same setting; keep one)']],
    ['conflicting Loki addresses', 'event_config: {loki_address: a}\nconfig: {remoteLokiAddress: b}',
      ['config.remoteLokiAddress: "b" conflicts with event_config.loki_address: "a" (two spellings of the same setting; keep one)']],
    ['same port for both servers', 'metricServerPort: 19102',
      ['metricServerPort: port 19102 is used by both the metric and the event server; give them different ports']],
    ['YAML bad indentation', 'metric_config:\n  port: 9102\n interval: 5\ndebugmode: true\n',
      ['YAML syntax error at line 3, column 1: All mapping items must start at the same column']],
    ['YAML tab indentation', 'debugmode: true\nmetric_config:\n\tport: 5\n',
      ['YAML syntax error at line 3, column 1: Tabs are not allowed as indentation']],
    ['YAML unclosed flow list', 'metric_config:\n  probes: [tcp\n  interval: 5\ndebugmode: true\n',
      ['YAML syntax error at line 3, column 3: Flow sequence in block collection must be sufficiently indented and end with a ]']],
    ['YAML bad nesting', 'metric_config: port: 5', ['YAML syntax error at line 1, column 16: Nested mappings are not allowed in compact mappings']],
    ['YAML duplicate key', 'debugmode: true\ndebugmode: false', ['YAML syntax error at line 2, column 1: Map keys must be unique']],
    ['several YAML documents', 'debugmode: true\n---\ndebugmode: false',
      ['YAML syntax error at line 2, column 1: several YAML documents (---) in one file; only one is allowed']],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(problems(text), expected));
  }

  test('several problems: one prefixed line each', () => {
    assert.throws(() => parse('metric_config: {port: 0, interval: 0, probes: [nope]}\nfoo: 1'), {
      name: 'ConfigError',
      message: [
        'config /etc/config/config.yaml: unknown key "foo"',
        'config /etc/config/config.yaml: metric_config.interval: must be an integer 1..3600, got 0',
        'config /etc/config/config.yaml: metric_config.port: must be an integer 1..65535, got 0',
        `config /etc/config/config.yaml: metric_config.probes[0]: unknown probe "nope" (${VALID_METRIC})`,
      ].join('\n'),
    });
  });
});

describe('event_config.checks', () => {
  const FULL = `
event_config:
  checks:
    interval: 30
    reminder_interval: 7200
    emit_cleared: false
    kernel_params:
      rp_filter: 2
      proxy_arp: false          # not checked
      tcp_syncookies: 1
      tcp_sack:                 # null: the default (1)
      nf_conntrack_tcp_be_liberal: 0
      interfaces: [eth*, cali*, all]
    mtu: {min: 1400, max: 9000, compare_primary: different, ignore: [docker*, tunl0]}
    kernel_log:
      patterns: [neighbor table overflow, "nf_conntrack: table full", "dropping packet (rate"]
      hold: 300
      poll: 5
    iptables: {max_rules: 0, forward_drop: false}
    vpc_routes:
      - {dst: 10.0.0.0/8, gateway: 192.168.0.253, dev: eth0}
      - {dst: 172.16.0.0/12, table: 100}
    policy_rules:
      - {from: 10.244.1.0/24, table: 100, priority: 1000}
      - {to: 10.0.0.1, iif: eth1, oif: eth0, fwmark: 0x10, table: 101}
      - {fwmark: "0x20", table: 102}
      - {fwmark: "48", table: 103}
    cidrs:
      vpc: [192.168.0.0/16]
      service: [172.21.0.0/20, fd00:21::/112]
      pod: [10.244.0.0/16]
      docker: [172.17.0.0/16]
    kube_proxy: {healthz_url: "http://127.0.0.1:10256/healthz", namespace: kube-system, label_selector: component=kube-proxy}
    ip_masq_agent: {namespace: kube-system, name: ip-masq}
`;
  const EXPECTED: ChecksConfig = {
    interval: 30,
    reminder_interval: 7200,
    emit_cleared: false,
    kernel_params: { rp_filter: 2, proxy_arp: null, tcp_syncookies: 1, nf_conntrack_tcp_be_liberal: 0, interfaces: ['eth*', 'cali*', 'all'] },
    mtu: { min: 1400, max: 9000, compare_primary: 'different', ignore: ['docker*', 'tunl0'] },
    kernel_log: { patterns: ['neighbor table overflow', 'nf_conntrack: table full', 'dropping packet (rate'], hold: 300, poll: 5 },
    iptables: { max_rules: 0, forward_drop: false },
    vpc_routes: [{ dst: '10.0.0.0/8', gateway: '192.168.0.253', dev: 'eth0' }, { dst: '172.16.0.0/12', table: 100 }],
    policy_rules: [
      { from: '10.244.1.0/24', table: 100, priority: 1000 },
      { to: '10.0.0.1', iif: 'eth1', oif: 'eth0', fwmark: 16, table: 101 },
      { fwmark: 32, table: 102 },
      { fwmark: 48, table: 103 },
    ],
    cidrs: { vpc: ['192.168.0.0/16'], service: ['172.21.0.0/20', 'fd00:21::/112'], pod: ['10.244.0.0/16'], docker: ['172.17.0.0/16'] },
    kube_proxy: { healthz_url: 'http://127.0.0.1:10256/healthz', namespace: 'kube-system', label_selector: 'component=kube-proxy' },
    ip_masq_agent: { namespace: 'kube-system', name: 'ip-masq' },
  };

  test('a full section parses to ChecksConfig, and to the expected CheckOptions', () => {
    const config = parse(FULL);
    assert.deepEqual(config.event_config.checks, EXPECTED);
    // Nothing else changes.
    assert.deepEqual({ ...config, event_config: { ...config.event_config, checks: {} } }, DEFAULT_CONFIG);

    const expected: CheckOptions = {
      intervalSeconds: 30,
      reminderIntervalSeconds: 7200,
      emitCleared: false,
      kernelParams: {
        rpFilter: 2, proxyArp: undefined, tcpSyncookies: 1, tcpSack: 1, conntrackTcpBeLiberal: 0,
        interfaces: ['eth*', 'cali*', 'all'],
      },
      kernelLog: { patterns: ['neighbor table overflow', 'nf_conntrack: table full', 'dropping packet (rate'], holdSeconds: 300, pollSeconds: 5 },
      iptables: { maxRules: 0, forwardDrop: false },
      vpcRoutes: EXPECTED.vpc_routes!,
      policyRules: EXPECTED.policy_rules!,
      nodeName: 'node-1',
      cidrs: EXPECTED.cidrs as CheckOptions['cidrs'],
      kubeProxy: { healthzUrl: 'http://127.0.0.1:10256/healthz', namespace: 'kube-system', labelSelector: 'component=kube-proxy' },
      ipMasqAgent: { namespace: 'kube-system', name: 'ip-masq' },
      probeOptions: { mtu: EXPECTED.mtu },
    };
    assert.deepEqual(checkOptionsFromConfig(config.event_config.checks, 'node-1'), expected);
  });

  test('unset: {} and the checks\' own defaults', () => {
    assert.deepEqual(parse('').event_config.checks, {});
    assert.deepEqual(checkOptionsFromConfig(parse('').event_config.checks, DEFAULT_CHECK_OPTIONS.nodeName), DEFAULT_CHECK_OPTIONS);
    // null keys (the chart renders every unset key as null) and the sections they leave empty are not set.
    assert.deepEqual(parse('event_config:\n  checks:\n    interval:\n    mtu: {min: null}\n    kernel_params: {rp_filter: ~}\n').event_config.checks, {});
    assert.deepEqual(parse('event_config: {checks: {}}').event_config.checks, {});
  });

  test('false turns a kernel param check off; a partial section keeps the other defaults', () => {
    const checks = parse('event_config: {checks: {kernel_params: {rp_filter: false}, mtu: {max: 1500}}}').event_config.checks;
    assert.deepEqual(checks, { kernel_params: { rp_filter: null }, mtu: { max: 1500 } });
    const o = checkOptionsFromConfig(checks);
    assert.equal(o.kernelParams.rpFilter, undefined);
    assert.equal(o.kernelParams.proxyArp, DEFAULT_CHECK_OPTIONS.kernelParams.proxyArp);
    assert.deepEqual(o.probeOptions, { mtu: { max: 1500 } }); // the mtu probe lays it over its defaults
  });

  test('kernel_log patterns are substrings, not regexes: regex syntax is taken literally', () => {
    const checks = parse('event_config: {checks: {kernel_log: {patterns: ["(", "a[b", "*"]}}}').event_config.checks;
    assert.deepEqual(checks.kernel_log?.patterns, ['(', 'a[b', '*']);
  });

  test('the commented checks example of examples/inspector-config.yaml loads once uncommented', async () => {
    const text = await readFile(join(ROOT, 'examples/inspector-config.yaml'), 'utf8');
    const start = text.indexOf('  # checks:');
    assert.ok(start > 0, 'the example has a commented checks section');
    const uncommented = text.slice(0, start) + text.slice(start).replace(/^  # ?/gm, '  ');
    const checks = parse(uncommented).event_config.checks;
    assert.deepEqual(Object.keys(checks).sort(), Object.keys(EXPECTED).sort()); // every key shown
    assert.deepEqual(checks.policy_rules?.[1], { fwmark: 16, table: 101 });
  });

  test('the schema has exactly the keys of ChecksConfig and of the check probes\' options', () => {
    const keys: Record<string, true> = {
      interval: true, reminder_interval: true, emit_cleared: true, kernel_params: true, kernel_log: true,
      iptables: true, vpc_routes: true, policy_rules: true, cidrs: true, kube_proxy: true, ip_masq_agent: true,
      mtu: true, // the mtu probe's (ProbeOption of section event_config.checks)
    };
    const schema = CONFIG_SCHEMA.properties.event_config.properties.checks;
    assert.deepEqual(Object.keys(schema.properties).sort(), Object.keys(keys).sort());
    assert.deepEqual(Object.keys(EXPECTED).sort(), Object.keys(keys).sort()); // the full example sets every key
  });

  const P = 'event_config.checks';
  const cases: [string, string, string[]][] = [
    ['unknown key', 'event_config: {checks: {intervall: 30}}', [`${P}: unknown key "intervall" (did you mean "interval"?)`]],
    ['unknown key in a section', 'event_config: {checks: {mtu: {maxx: 9000}}}', [`${P}.mtu: unknown key "maxx" (did you mean "max"?)`]],
    ['unknown key in a policy rule', 'event_config: {checks: {policy_rules: [{table: 100, src: 10.0.0.0/8}]}}',
      [`${P}.policy_rules[0]: unknown key "src"`]],
    ['bad CIDR', 'event_config: {checks: {cidrs: {vpc: [192.168.0.0/16, 10.0.0.0/33]}}}',
      [`${P}.cidrs.vpc[1]: must be a CIDR such as 10.244.0.0/16 or fd00:10:244::/64, got "10.0.0.0/33"`]],
    ['bad route destination', 'event_config: {checks: {vpc_routes: [{dst: 10.0.0.0}]}}',
      [`${P}.vpc_routes[0].dst: must be a CIDR such as 10.244.0.0/16 or fd00:10:244::/64, got "10.0.0.0"`]],
    ['route without dst', 'event_config: {checks: {vpc_routes: [{dev: eth0}]}}', [`${P}.vpc_routes[0].dst: required`]],
    ['bad gateway', 'event_config: {checks: {vpc_routes: [{dst: 10.0.0.0/8, gateway: router}]}}',
      [`${P}.vpc_routes[0].gateway: must be an IP address such as 10.0.0.1 or fd00::1, got "router"`]],
    ['IPv6 policy rule prefix', 'event_config: {checks: {policy_rules: [{from: "fd00::/8", table: 100}]}}',
      [`${P}.policy_rules[0].from: must be an IPv4 CIDR such as 10.0.0.0/8 or an IPv4 address (policy rules are checked for IPv4), got "fd00::/8"`]],
    ['table missing in a policy rule', 'event_config: {checks: {policy_rules: [{from: 10.0.0.0/8, priority: 100}]}}',
      [`${P}.policy_rules[0].table: required`]],
    ['fwmark with a mask', 'event_config: {checks: {policy_rules: [{fwmark: "0x10/0xff", table: 100}]}}',
      [`${P}.policy_rules[0].fwmark: must be an integer 0..4294967295 or a hex string such as "0x10" (no /mask), got "0x10/0xff"`]],
    ['fwmark above u32', 'event_config: {checks: {policy_rules: [{fwmark: "4294967296", table: 100}]}}',
      [`${P}.policy_rules[0].fwmark: must be an integer 0..4294967295 or a hex string such as "0x10" (no /mask), got "4294967296"`]],
    ['negative fwmark', 'event_config: {checks: {policy_rules: [{fwmark: -1, table: 100}]}}',
      [`${P}.policy_rules[0].fwmark: must be an integer 0..4294967295 or a hex string such as "0x10" (no /mask), got -1`]],
    ['empty kernel log pattern', 'event_config: {checks: {kernel_log: {patterns: [link is not ready, ""]}}}',
      [`${P}.kernel_log.patterns[1]: must be a non-empty string, got ""`]],
    ['mtu 20', 'event_config: {checks: {mtu: {min: 20}}}', [`${P}.mtu.min: must be an integer 68..65535, got 20`]],
    ['mtu min above max', 'event_config: {checks: {mtu: {min: 9000, max: 1500}}}', [`${P}.mtu.min: must not be above mtu.max (1500), got 9000`]],
    ['mtu min above the default max', 'event_config: {checks: {mtu: {min: 9500}}}',
      [`${P}.mtu.min: must not be above mtu.max (9216, the default), got 9500`]],
    ['bad compare_primary', 'event_config: {checks: {mtu: {compare_primary: lower}}}',
      [`${P}.mtu.compare_primary: must be one of "higher", "different", "off", got "lower"`]],
    ['kernel param true', 'event_config: {checks: {kernel_params: {tcp_sack: true}}}',
      [`${P}.kernel_params.tcp_sack: must be an integer 0..1, or false to turn the check off, got true`]],
    ['kernel param out of range', 'event_config: {checks: {kernel_params: {rp_filter: 3}}}',
      [`${P}.kernel_params.rp_filter: must be an integer 0..2, or false to turn the check off, got 3`]],
    ['interval 0', 'event_config: {checks: {interval: 0}}', [`${P}.interval: must be an integer 1..86400, got 0`]],
    ['healthz_url not http', 'event_config: {checks: {kube_proxy: {healthz_url: "tcp://127.0.0.1:10256"}}}',
      [`${P}.kube_proxy.healthz_url: must be an http(s):// URL, got "tcp://127.0.0.1:10256"`]],
    ['section not a mapping', 'event_config: {checks: [interval]}', [`${P}: must be a mapping, got a list`]],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(problems(text), expected));
  }

  test('several problems in the section: one line each, in the schema\'s order (the probes\' options last)', () => {
    assert.deepEqual(problems('event_config: {checks: {mtu: {min: 20}, cidrs: {pod: [x]}, policy_rules: [{}]}}'), [
      `${P}.policy_rules[0].table: required`,
      `${P}.cidrs.pod[0]: must be a CIDR such as 10.244.0.0/16 or fd00:10:244::/64, got "x"`,
      `${P}.mtu.min: must be an integer 68..65535, got 20`,
    ]);
  });
});

describe('schema', () => {
  test('is a plain JSON object (usable as values.schema.json)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(CONFIG_SCHEMA)), CONFIG_SCHEMA);
    assert.equal(CONFIG_SCHEMA.$schema, 'http://json-schema.org/draft-07/schema#');
  });

  test('every object node forbids unknown keys', () => {
    const visit = (node: unknown, path: string): void => {
      if (typeof node !== 'object' || node === null) return;
      const n = node as Record<string, unknown>;
      if (n.type === 'object') assert.equal(n.additionalProperties, false, path);
      for (const [k, v] of Object.entries(n)) visit(v, `${path}/${k}`);
    };
    visit(CONFIG_SCHEMA, '#');
  });
});

describe('loadConfigFile', () => {
  let dir: string;
  test('setup', async () => { dir = await mkdtemp(join(tmpdir(), 'kubesonar-config-')); });
  after(() => rm(dir, { recursive: true, force: true }));

  test('reads a file', async () => {
    const path = join(dir, 'a.yaml');
    await writeFile(path, 'metric_config: {interval: 7}\n');
    assert.equal((await loadConfigFile(path)).metric_config.interval, 7);
  });

  test('empty file: defaults', async () => {
    const path = join(dir, 'empty.yaml');
    await writeFile(path, '');
    assert.deepEqual(await loadConfigFile(path), DEFAULT_CONFIG);
  });

  test('missing file: defaults when allowed, an error otherwise', async () => {
    const path = join(dir, 'missing.yaml');
    assert.deepEqual(await loadConfigFile(path, { missingOk: true }), DEFAULT_CONFIG);
    await assert.rejects(loadConfigFile(path), { name: 'ConfigError', message: `config ${path}: file not found` });
  });

  test('a directory is an error', async () => {
    await assert.rejects(loadConfigFile(dir, { missingOk: true }),
      { message: `config ${dir}: is a directory, expected a YAML file` });
  });

  test('errors name the file', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(path, 'metric_config: {port: 70000}\n');
    await assert.rejects(loadConfigFile(path),
      { message: `config ${path}: metric_config.port: must be an integer 1..65535, got 70000` });
  });
});

/** Records watcher events so tests can wait for one (bounded) or assert there were none. */
function record(w: ConfigWatcher) {
  const events: { kind: 'change' | 'invalid'; config?: AgentConfig; previous?: AgentConfig; error?: ConfigError }[] = [];
  w.on('change', (config, previous) => events.push({ kind: 'change', config, previous }));
  w.on('invalid', (error) => events.push({ kind: 'invalid', error }));
  return events;
}

async function nextEvent(w: ConfigWatcher, kind: 'change' | 'invalid', ms = 3000): Promise<unknown[]> {
  return once(w, kind, { signal: AbortSignal.timeout(ms) });
}

describe('ConfigWatcher', () => {
  const DEBOUNCE = 30;
  const QUIET = DEBOUNCE * 8; // long enough for a debounced reload to have happened
  let root: string;
  const watchers: ConfigWatcher[] = [];
  test('setup', async () => { root = await mkdtemp(join(tmpdir(), 'kubesonar-watch-')); });
  after(async () => {
    for (const w of watchers) w.close();
    await rm(root, { recursive: true, force: true });
  });

  async function start(name: string, content: string, pollMs = 0) {
    const mount = new ConfigMapMount(join(root, name));
    await mount.create(content);
    const w = new ConfigWatcher(mount.path, { initial: await loadConfigFile(mount.path), debounceMs: DEBOUNCE, pollMs });
    watchers.push(w);
    return { mount, w, events: record(w) };
  }

  test('a ConfigMap update is emitted once, with the old and new config', async () => {
    const { mount, w, events } = await start('update', 'metric_config: {interval: 5}\n');
    const changed = nextEvent(w, 'change');
    await mount.update('metric_config: {interval: 10}\n');
    const [next, previous] = (await changed) as AgentConfig[];
    assert.equal(next.metric_config.interval, 10);
    assert.equal(previous.metric_config.interval, 5);
    assert.equal(w.current.metric_config.interval, 10);
    await holdsFor('exactly one change for one update', () => events.length === 1, QUIET);
  });

  test('bad file: invalid, last good config kept; a later good file recovers', async () => {
    const { mount, w, events } = await start('bad', 'metric_config: {port: 9200}\n');
    const invalid = nextEvent(w, 'invalid');
    await mount.update('metric_config: {port: 70000}\n');
    const [error] = (await invalid) as ConfigError[];
    assert.equal(error.message, `config ${mount.path}: metric_config.port: must be an integer 1..65535, got 70000`);
    assert.equal(w.current.metric_config.port, 9200);

    // The same bad content again is not reported again.
    await mount.update('metric_config: {port: 70000}  # still bad\n');
    await holdsFor('the same bad content not reported again', () => events.length === 1, QUIET);

    const changed = nextEvent(w, 'change');
    await mount.update('metric_config: {port: 9300}\n');
    const [next, previous] = (await changed) as AgentConfig[];
    assert.equal(next.metric_config.port, 9300);
    assert.equal(previous.metric_config.port, 9200, 'previous is the last good config');
    assert.equal(w.current.metric_config.port, 9300);
  });

  test('a rewrite with the same meaning emits nothing', async () => {
    const { mount, w, events } = await start('same', 'metricProbes: "tcp,udp"\n');
    await mount.update('metricProbes: "tcp,udp"\n');
    await mount.update('# reordered and respelled\nmetric_config:\n  probes: [udp, TCP]\n');
    await holdsFor('no event for a rewrite with the same meaning', () => events.length === 0, QUIET);
    await w.reload(); // and an explicit re-read agrees
    assert.deepEqual(events, []);
  });

  test('the poll notices changes even when the directory did not exist at start', async () => {
    const mount = new ConfigMapMount(join(root, 'late'));
    const w = new ConfigWatcher(mount.path, { initial: DEFAULT_CONFIG, debounceMs: DEBOUNCE, pollMs: 50, missingOk: true });
    watchers.push(w);
    const events = record(w);
    // Two polls and more (pollMs 50).
    await holdsFor('missing file with missingOk is the defaults, not a change', () => events.length === 0, 120);
    const changed = nextEvent(w, 'change');
    await mount.create('debugmode: true\n');
    const [next] = (await changed) as AgentConfig[];
    assert.equal(next.debugmode, true);
  });

  test('a missing file without missingOk is invalid', async () => {
    const path = join(root, 'nowhere', 'config.yaml');
    const w = new ConfigWatcher(path, { initial: DEFAULT_CONFIG, debounceMs: DEBOUNCE, pollMs: 0 });
    watchers.push(w);
    const invalid = nextEvent(w, 'invalid');
    await w.reload();
    const [error] = (await invalid) as ConfigError[];
    assert.equal(error.message, `config ${path}: file not found`);
    assert.equal(w.current, DEFAULT_CONFIG);
  });

  test('a throwing listener does not stop the watcher', async () => {
    const { mount, w } = await start('throws', 'debugmode: false\n');
    const warned = once(process, 'warning', { signal: AbortSignal.timeout(3000) });
    w.once('change', () => { throw new Error('listener bug'); });
    await mount.update('debugmode: true\n');
    const [warning] = (await warned) as Error[];
    assert.match(warning.message, /"change" listener threw: Error: listener bug/);
    const changed = nextEvent(w, 'change');
    await mount.update('debugmode: false\n');
    assert.equal(((await changed) as AgentConfig[])[0].debugmode, false);
  });

  test('close() stops watching', async () => {
    const { mount, w, events } = await start('closed', 'debugmode: false\n');
    w.close();
    await mount.update('debugmode: true\n');
    await holdsFor('no event after close()', () => events.length === 0, QUIET);
    await w.reload();
    assert.deepEqual(events, []);
    assert.equal(w.current.debugmode, false);
  });
});

test('event_config: eBPF event rate and latency threshold', () => {
  const c = parse('event_config: {events_per_second: 20, latency_threshold_ms: 250}\n');
  assert.equal(c.event_config.events_per_second, 20);
  assert.equal(c.event_config.latency_threshold_ms, 250);
  assert.equal(parse('').event_config.latency_threshold_ms, 100);
  assert.deepEqual(problems('event_config: {latency_threshold_ms: 0}\n'), ['event_config.latency_threshold_ms: must be an integer 1..60000, got 0']);
});
