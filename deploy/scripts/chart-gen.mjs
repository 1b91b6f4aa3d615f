#!/usr/bin/env node
// Generates the two chart files that follow the agent's config schema (CONFIG_SCHEMA in
// src/config/schema.ts), so that the chart cannot drift from what the agent accepts:
//   deploy/helm/kubesonar/values.schema.json      the chart's values schema; its `config`
//                                                  part is CONFIG_SCHEMA's ConfigMap keys
//   deploy/helm/kubesonar/templates/configmap.yaml the ConfigMap inspector-config: every
//                                                  config key, each with its description
// Usage (after `npm run build`):  node deploy/scripts/chart-gen.mjs [--check] [--dist DIR]
// test/deploy.test.ts runs the same functions and fails when the committed files differ.

import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const root = new URL('../../', import.meta.url);
export const VALUES_SCHEMA_PATH = 'deploy/helm/kubesonar/values.schema.json';
export const CONFIGMAP_PATH = 'deploy/helm/kubesonar/templates/configmap.yaml';

/** The ConfigMap form of the config: the installer spellings (top level, `config:`) are left out. */
export const CONFIG_SECTIONS = ['debugmode', 'metric_config', 'event_config', 'server'];

/**
 * Keys that are a second spelling of another key in the same file. The chart renders them
 * only when the values set them, because the agent rejects two different values for one
 * setting and the defaults would otherwise clash with the preferred spelling.
 */
export const ALIAS_KEYS = {
  'event_config.loki_enable': 'event_config.sinks.loki.enabled',
  'event_config.loki_address': 'event_config.sinks.loki.url',
};

/** `*_file` keys filled from a mounted Secret: [values path of the Secret item key, mount dir]. */
export const SECRET_FILES = {
  'event_config.sinks.remote_write.password_file': ['remoteWrite', 'passwordKey', 'remote-write'],
  'event_config.sinks.loki.password_file': ['loki', 'passwordKey', 'loki'],
  'event_config.sinks.loki.bearer_token_file': ['loki', 'bearerTokenKey', 'loki'],
  'event_config.sinks.loki.ca_file': ['loki', 'caKey', 'loki'],
  'server.tls.cert_file': ['tls', 'certKey', 'tls'],
  'server.tls.key_file': ['tls', 'keyKey', 'tls'],
  'server.bearer_token_file': ['endpointToken', 'tokenKey', 'endpoint-token'],
};
export const SECRETS_DIR = '/etc/kubesonar/secrets';

/**
 * A deep copy with the probe lists cut out of descriptions ("...; Valid: netdev, tcp, ..."):
 * they change with every new probe, and the agent names the valid probes in its error anyway.
 */
const clone = (v) => JSON.parse(JSON.stringify(v), (k, x) => (k === 'description' && typeof x === 'string' ? trimDescription(x) : x));
export function trimDescription(text) {
  return text.replace(/\. Valid: .*$/, ' (the agent lists the valid names when one is wrong)');
}

/** A subschema with its own object node closed, as the agent's are. */
function obj(properties, extra = {}) {
  return { type: 'object', additionalProperties: false, properties, ...extra };
}
const str = (description) => ({ type: 'string', description });
const bool = (description) => ({ type: 'boolean', description });
const openMap = (description) => ({ type: 'object', description });
const stringMap = (description) => ({
  type: 'object', additionalProperties: false, patternProperties: { '^.+$': { type: 'string' } }, description,
});
const monitor = (kind) => obj({
  enabled: bool(`Create a prometheus-operator ${kind}`),
  interval: { type: 'string', pattern: '^([0-9]+(ms|s|m|h))+$', description: 'Scrape interval' },
  labels: stringMap(`Extra labels on the ${kind} (to match the Prometheus selector)`),
  tlsConfig: openMap(`The ${kind} endpoint's tlsConfig when the agent serves TLS; empty: the CA (ca.crt) of secrets.tls and server name <release>.<namespace>.svc`),
});
const subjects = (who) => ({
  type: 'array',
  description: `Subjects bound to the ${who} ClusterRole (RBAC subjects: kind, name, namespace)`,
  items: obj({
    kind: { type: 'string', enum: ['ServiceAccount', 'User', 'Group'] },
    name: str('Name'),
    namespace: str('Namespace (ServiceAccount only)'),
  }, { required: ['kind', 'name'] }),
});

/** The chart's values schema: chart settings written here, `config` taken from CONFIG_SCHEMA. */
export function valuesSchema(configSchema) {
  const config = {
    type: 'object',
    additionalProperties: false,
    description: 'The agent configuration (ConfigMap inspector-config, key config.yaml); generated from src/config/schema.ts',
    properties: Object.fromEntries(CONFIG_SECTIONS.map((k) => {
      const s = configSchema.properties[k];
      if (!s) throw new Error(`CONFIG_SCHEMA has no property ${k}`);
      return [k, clone(s)];
    })),
  };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'kubesonar Helm chart values',
    type: 'object',
    additionalProperties: false,
    properties: {
      global: openMap('Helm global values (unused)'),
      image: obj({
        repository: str('Image repository'),
        tag: str('Image tag; empty: the chart appVersion'),
        pullPolicy: { type: 'string', enum: ['Always', 'IfNotPresent', 'Never'] },
      }, { required: ['repository'] }),
      imagePullSecrets: { type: 'array', items: obj({ name: str('Secret name') }, { required: ['name'] }) },
      commonLabels: stringMap('Labels added to every object'),
      podAnnotations: stringMap('Annotations added to the pods'),
      config,
      secrets: obj({
        remoteWrite: obj({ name: str('Secret with the remote write password (ARMS AccessKey secret)'), passwordKey: str('Item holding the password') }),
        loki: obj({
          name: str('Secret with Loki credentials'),
          passwordKey: str('Item holding the basic auth password'),
          bearerTokenKey: str('Item holding a bearer token'),
          caKey: str('Item holding a PEM CA bundle'),
        }),
        tls: obj({
          name: str('Secret (type kubernetes.io/tls, e.g. from cert-manager) with the certificate both agent ports serve; fills server.tls'),
          certKey: str('Item holding the PEM certificate chain'),
          keyKey: str('Item holding the PEM key'),
        }),
        endpointToken: obj({
          name: str('Secret with the token clients must send in bearer mode; fills server.bearer_token_file'),
          tokenKey: str('Item holding the token'),
        }),
      }),
      rbac: obj({
        metricsReaders: subjects('kubesonar-metrics-reader (get /metrics, /status)'),
        eventsReaders: subjects('kubesonar-events-reader (get /events)'),
      }),
      cri: obj({ enabled: bool('Mount the CRI socket'), socket: { type: 'string', pattern: '^/', description: 'Host path of the CRI socket' } }),
      bpf: obj({
        tracefs: bool('Mount /sys/kernel/tracing'),
        bpffs: bool('Mount /sys/fs/bpf'),
        memlockCapability: bool('Add CAP_SYS_RESOURCE (RLIMIT_MEMLOCK, kernels before 5.11)'),
      }),
      spool: obj({
        enabled: bool('Mount a writable volume for the sinks\' disk spools (set spool_dir of a sink to mountPath)'),
        mountPath: { type: 'string', pattern: '^/', description: 'Where the volume is mounted in the container' },
        sizeLimit: str('sizeLimit of the emptyDir (keep it above the spool_max_bytes of the sinks using it)'),
        hostPath: str('A host directory instead of the emptyDir (survives the pod being deleted); empty: emptyDir'),
      }),
      cni: obj({
        enabled: bool('Mount the CNI config and host-local IPAM directories read-only'),
        confDir: { type: 'string', pattern: '^/' },
        ipamDir: { type: 'string', pattern: '^/' },
      }),
      resources: openMap('Container resources'),
      priorityClassName: str('Priority class of the pods'),
      nodeSelector: stringMap('Node selector'),
      tolerations: { type: 'array', items: { type: 'object' } },
      affinity: openMap('Pod affinity'),
      updateStrategy: openMap('DaemonSet update strategy'),
      appArmorProfile: { type: 'string', enum: ['Unconfined', 'RuntimeDefault'] },
      seccompProfile: { type: 'string', enum: ['RuntimeDefault', 'Unconfined'] },
      prometheusAnnotations: bool('Add prometheus.io/scrape, port and path pod annotations'),
      serviceMonitor: monitor('ServiceMonitor'),
      podMonitor: monitor('PodMonitor'),
      dashboards: obj({
        enabled: bool('Create the Grafana dashboard ConfigMaps'),
        namespace: str('Namespace of the ConfigMaps; empty: the release namespace'),
        label: str('Label the Grafana sidecar looks for'),
        labelValue: str('Value of that label'),
      }),
    },
  };
}

/**
 * `{{ dig "a" "b" nil $c | toJson }}`: the value at a path of .Values.config, null when unset.
 * URLs (format http-url) have no valid empty value: "" is written as null (the agent default).
 */
function digExpr(path, schema) {
  const empty = schema.format === 'http-url' ? ' | default nil' : '';
  return `{{ dig ${path.map((k) => JSON.stringify(k)).join(' ')} nil $c${empty} | toJson }}`;
}

/** Comments for schema nodes that have no description of their own. */
const NOTES = {
  metric_config: 'Metric probes, collection interval and the Prometheus endpoint (/metrics, /status)',
  event_config: 'Event probes, the live event stream and where events are sent (sinks)',
};

function comment(schema, indent, path) {
  const text = trimDescription(schema.description ?? NOTES[path] ?? '');
  if (!text) throw new Error(`config key ${path} has no description in CONFIG_SCHEMA: add one (or a note in chart-gen.mjs)`);
  return `${indent}# ${text.replace(/\n/g, ' ')}\n`;
}

function renderKeys(schema, path, depth) {
  const indent = '    ' + '  '.repeat(depth);
  let out = '';
  for (const [key, sub] of Object.entries(schema.properties)) {
    const p = [...path, key];
    const dotted = p.join('.');
    if (sub.type === 'object' && sub.properties) {
      out += comment(sub, indent, dotted) + `${indent}${key}:\n` + renderKeys(sub, p, depth + 1);
      continue;
    }
    out += comment(sub, indent, dotted);
    if (dotted in ALIAS_KEYS) {
      const parent = p.slice(0, -1).map((k) => JSON.stringify(k)).join(' ');
      out += `${indent}# (second spelling of ${ALIAS_KEYS[dotted]}: written only when the values set it)\n`;
      out += `${indent}{{- if hasKey (dig ${parent} (dict) $c) ${JSON.stringify(key)} }}\n`;
      out += `${indent}${key}: ${digExpr(p, sub)}\n${indent}{{- end }}\n`;
    } else if (dotted in SECRET_FILES) {
      const [secret, itemKey, dir] = SECRET_FILES[dotted];
      const s = `$.Values.secrets.${secret}`;
      out += `${indent}{{- if and ${s}.name ${s}.${itemKey} }}\n`;
      out += `${indent}${key}: {{ printf "${SECRETS_DIR}/${dir}/%s" ${s}.${itemKey} | toJson }}\n`;
      out += `${indent}{{- else }}\n${indent}${key}: ${digExpr(p, sub)}\n${indent}{{- end }}\n`;
    } else {
      out += `${indent}${key}: ${digExpr(p, sub)}\n`;
    }
  }
  return out;
}

/** The ConfigMap template. Values are written with toJson: JSON scalars and lists are YAML. */
export function configMapTemplate(configSchema) {
  const sections = { properties: Object.fromEntries(CONFIG_SECTIONS.map((k) => [k, configSchema.properties[k]])) };
  return [
    '{{- /* Generated by deploy/scripts/chart-gen.mjs from src/config/schema.ts: do not edit. */ -}}',
    '{{- $c := .Values.config | default (dict) }}',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  # The name the agent, its predecessors (ACK inspector-config) and the docs use.',
    '  name: inspector-config',
    '  namespace: {{ .Release.Namespace }}',
    '  labels:',
    '    {{- include "kubesonar.labels" . | nindent 4 }}',
    'data:',
    '  config.yaml: |',
    '    # kubesonar agent configuration, mounted at /etc/config/config.yaml. The agent watches the',
    '    # directory: edits apply without a restart (a bad edit is refused, logged and shown in',
    '    # /status, and the last good configuration keeps running). null means the agent default.',
    renderKeys(sections, [], 0).trimEnd(),
    '',
  ].join('\n');
}

export function generate(configSchema) {
  return {
    [VALUES_SCHEMA_PATH]: JSON.stringify(valuesSchema(configSchema), null, 2) + '\n',
    [CONFIGMAP_PATH]: configMapTemplate(configSchema),
  };
}

async function main() {
  const check = process.argv.includes('--check');
  const i = process.argv.indexOf('--dist');
  const dist = i > 0 ? process.argv[i + 1].replace(/\/*$/, '/') : 'dist/';
  const { CONFIG_SCHEMA } = await import(new URL(`${dist}src/config/schema.js`, root).href);
  let stale = 0;
  for (const [path, text] of Object.entries(generate(CONFIG_SCHEMA))) {
    const file = new URL(path, root);
    let old = '';
    try { old = readFileSync(file, 'utf8'); } catch { /* new file */ }
    if (old === text) continue;
    if (check) { console.error(`${path} is stale: run node deploy/scripts/chart-gen.mjs`); stale++; continue; }
    writeFileSync(file, text);
    console.log(`wrote ${path}`);
  }
  process.exitCode = stale ? 1 : 0;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  main().catch((err) => { console.error(err); process.exitCode = 1; });
}
