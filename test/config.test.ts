import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { ConfigMapMount } from './helpers/configmap.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENT_PROBES, METRIC_PROBES } from '../src/catalogue/probes.js';
import {
  CONFIG_SCHEMA, ConfigError, ConfigWatcher, DEFAULT_CONFIG, loadConfigFile, parseConfig,
} from '../src/config/index.js';
import type { AgentConfig } from '../src/config/index.js';

const SRC = '/etc/config/config.yaml';
const parse = (text: string): AgentConfig => parseConfig(text, SRC);

/** The ConfigError lines for `text`, without the common prefix. */
function problems(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.equal(err.message, err.problems.map((p) => `config ${SRC}: ${p}`).join('\n'));
    return [...err.problems];
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

const ALL_METRIC = [...METRIC_PROBES];
const ALL_EVENT = [...EVENT_PROBES];

describe('defaults', () => {
  test('empty, blank and comment-only files give the defaults', () => {
    for (const text of ['', '\n\n', '# nothing configured\n', '---\n']) assert.deepEqual(parse(text), DEFAULT_CONFIG);
  });

  test('default values', () => {
    assert.deepEqual(DEFAULT_CONFIG, {
      debugmode: false,
      metric_config: {
        enabled: true, interval: 5, port: 9102, probes: ALL_METRIC, verbose: false, naming: 'netexporter',
        qdisc_devices: ['cali*', 'eth*'], qdisc_per_interface: false, pod_cidrs: [],
      },
      event_config: { enabled: true, port: 19102, probes: ALL_EVENT, loki_enable: false, loki_address: '' },
    });
  });

  test('DEFAULT_CONFIG is frozen and parse results are independent copies', () => {
    assert.ok(Object.isFrozen(DEFAULT_CONFIG.metric_config.probes));
    const a = parse('');
    a.metric_config.probes.pop();
    assert.deepEqual(parse('').metric_config.probes, ALL_METRIC);
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
        enabled: true, port: 19200, probes: ['packetloss', 'tcpreset'], loki_enable: true,
        loki_address: 'http://loki.monitoring:3100',
      },
    });
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
    ['event probe in a metric list', 'metric_config: {probes: [tcp, packetloss]}',
      ['metric_config.probes[1]: "packetloss" is an event probe, not a metric probe; list it in event_config.probes']],
    ['metric probe in an event list', 'config: {eventProbes: "tcpreset,conntrack"}',
      ['config.eventProbes: "conntrack" is a metric probe, not an event probe; list it in config.metricProbes']],
    ['alias of an event probe in a metric list', 'metricProbes: [tcp_reset]',
      ['metricProbes[0]: "tcp_reset" is an event probe, not a metric probe; list it in eventProbes']],
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
  test('setup', async () => { dir = await mkdtemp(join(tmpdir(), 'netobserv-config-')); });
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
  test('setup', async () => { root = await mkdtemp(join(tmpdir(), 'netobserv-watch-')); });
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
    await sleep(QUIET);
    assert.equal(events.length, 1, 'exactly one change for one update');
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
    await sleep(QUIET);
    assert.equal(events.length, 1);

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
    await sleep(QUIET);
    await w.reload(); // and an explicit re-read agrees
    assert.deepEqual(events, []);
  });

  test('the poll notices changes even when the directory did not exist at start', async () => {
    const mount = new ConfigMapMount(join(root, 'late'));
    const w = new ConfigWatcher(mount.path, { initial: DEFAULT_CONFIG, debounceMs: DEBOUNCE, pollMs: 50, missingOk: true });
    watchers.push(w);
    const events = record(w);
    await sleep(120);
    assert.deepEqual(events, [], 'missing file with missingOk is the defaults, not a change');
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
    await sleep(QUIET);
    await w.reload();
    assert.deepEqual(events, []);
    assert.equal(w.current.debugmode, false);
  });
});
