// The Helm chart and the plain manifests: rendered by the real helm binary (3.8.1, shipped in
// the npm devDependency @aws-cdk/asset-kubectl-v20), every object validated against the
// Kubernetes OpenAPI schemas (kubernetes-models validators) and type-checked against the API
// types with unknown fields rejected (tsc excess-property checks), the ConfigMap read by the
// agent's own config loader, helm refusing values the agent would refuse, and deploy/manifests/
// equal to the default render. The chart's sources without helm: chart-sources.unit.test.ts.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { CONFIG_SCHEMA, DEFAULT_CONFIG, parseConfig } from '../../src/config/index.js';
import { ROOT } from '../helpers/paths.js';

const chart = join(ROOT, 'deploy/helm/kubesonar');
const NO_ENV = {}; // the loader reads OTEL_EXPORTER_OTLP_*; keep the test independent of them

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };

let helmPath: string | undefined;
function helm(): string {
  helmPath ??= execFileSync('bash', [join(ROOT, 'deploy/scripts/helm.sh')], { encoding: 'utf8', timeout: 120_000 }).trim();
  return helmPath;
}

/** `helm template` with the same flags as deploy/scripts/render.sh, plus `args`. */
function render(...args: string[]): { docs: K8sObject[]; text: string } {
  const r = spawnSync(helm(), ['template', 'kubesonar', chart, '--namespace', 'kube-system', '--kube-version', '1.30.0', ...args],
    { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')} failed: ${r.stderr || r.error}`);
  const docs = parseAllDocuments(r.stdout).map((d) => {
    assert.deepEqual(d.errors, [], 'rendered YAML parses');
    return d.toJS() as K8sObject;
  }).filter((d) => d !== null);
  return { docs, text: r.stdout };
}

const ALL_ON = [
  '--set', 'serviceMonitor.enabled=true', '--set', 'podMonitor.enabled=true', '--set', 'dashboards.enabled=true',
  '--set', 'bpf.tracefs=true', '--set', 'bpf.bpffs=true', '--set', 'bpf.memlockCapability=true',
  '--set', 'secrets.remoteWrite.name=kubesonar-arms', '--set', 'secrets.loki.name=loki-auth',
  '--set', 'secrets.loki.passwordKey=password', '--set', 'secrets.loki.caKey=ca.crt',
  '--set', 'config.event_config.sinks.remote_write.enabled=true',
  '--set', 'config.event_config.sinks.remote_write.url=https://cn-hangzhou.arms.aliyuncs.com/prometheus/1/c1/cn-hangzhou/api/v2/write',
  '--set', 'config.event_config.sinks.remote_write.username=LTAIexampleid',
  '--set', 'config.event_config.sinks.loki.enabled=true', '--set', 'config.event_config.sinks.loki.url=https://loki.example:3100',
  '--set', 'config.event_config.sinks.loki.username=kubesonar',
  '--set', 'config.event_config.sinks.otlp.enabled=true', '--set', 'config.event_config.sinks.otlp.endpoint=http://otel-collector.observability:4318',
];

// kind → validator of its OpenAPI schema (throws with the failing path).
const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap, 'v1/Secret': Secret, 'v1/Service': Service, 'v1/ServiceAccount': ServiceAccount,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
};
// kind → the TypeScript interface of kubernetes-models, for the unknown-field check.
const TYPES: Record<string, [string, string]> = {
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'IConfigMap'],
  'v1/Secret': ['kubernetes-models/v1/Secret', 'ISecret'],
  'v1/Service': ['kubernetes-models/v1/Service', 'IService'],
  'v1/ServiceAccount': ['kubernetes-models/v1/ServiceAccount', 'IServiceAccount'],
  'apps/v1/DaemonSet': ['kubernetes-models/apps/v1/DaemonSet', 'IDaemonSet'],
  'rbac.authorization.k8s.io/v1/ClusterRole': ['kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole', 'IClusterRole'],
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ['kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding', 'IClusterRoleBinding'],
  'monitoring.coreos.com/v1/ServiceMonitor': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', 'IServiceMonitor'],
  'monitoring.coreos.com/v1/PodMonitor': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor', 'IPodMonitor'],
};
const kindKey = (o: K8sObject) => `${o.apiVersion}/${o.kind}`;

function validateSchemas(docs: K8sObject[]): void {
  for (const o of docs) {
    const Model = MODELS[kindKey(o)];
    assert.ok(Model, `no schema known for ${kindKey(o)} (${o.metadata?.name})`);
    assert.doesNotThrow(() => new Model(o).validate(), `${kindKey(o)} ${o.metadata.name} fails its OpenAPI schema`);
  }
}

/**
 * Unknown fields: the OpenAPI schemas allow extra properties (the API server prunes or
 * rejects them later), so each object is written as a typed object literal and compiled:
 * tsc's excess-property check rejects any field the API type does not have.
 * Returns tsc's diagnostics (empty when every object is clean).
 */
function typeCheck(docs: K8sObject[]): string {
  const dir = mkdtempSync(join(ROOT, 'node_modules/.cache/kubesonar-tscheck-'));
  try {
    const imports = new Map<string, string>();
    const lines: string[] = [];
    docs.forEach((o, i) => {
      const [mod, type] = TYPES[kindKey(o)] ?? assert.fail(`no type for ${kindKey(o)}`);
      const alias = `${type}_${imports.size}`;
      if (![...imports.values()].some((v) => v.startsWith(`${mod}|`))) imports.set(alias, `${mod}|${type}`);
      const [useAlias] = [...imports.entries()].find(([, v]) => v === `${mod}|${type}`)!;
      lines.push(`// ${o.kind} ${o.metadata.name}\nexport const o${i}: ${useAlias} = ${JSON.stringify(o, null, 1)};`);
    });
    const head = [...imports.entries()].map(([alias, v]) => {
      const [mod, type] = v.split('|');
      return `import type { ${type} as ${alias} } from '${mod}';`;
    });
    writeFileSync(join(dir, 'objects.ts'), [...head, ...lines].join('\n') + '\n');
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck',
      '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', join(dir, 'objects.ts')],
    { encoding: 'utf8', timeout: 120_000, cwd: dir });
    if (r.error) throw r.error;
    return r.status === 0 ? '' : r.stdout + r.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const byKind = (docs: K8sObject[], kind: string) => docs.filter((d) => d.kind === kind);
const one = (docs: K8sObject[], kind: string) => {
  const found = byKind(docs, kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0]!;
};
const configText = (docs: K8sObject[]) => {
  const cm = byKind(docs, 'ConfigMap').find((c) => c.metadata.name === 'inspector-config');
  assert.ok(cm, 'ConfigMap inspector-config is rendered');
  return cm.data['config.yaml'] as string;
};

test('helm lint --strict accepts the chart', () => {
  const r = spawnSync(helm(), ['lint', chart, '--strict'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test('default render: valid Kubernetes objects, equal to deploy/manifests/', () => {
  const { docs } = render();
  assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort(),
    ['ClusterRole/kubesonar', 'ClusterRole/kubesonar-auth-delegator', 'ClusterRole/kubesonar-events-reader', 'ClusterRole/kubesonar-metrics-reader',
      'ClusterRoleBinding/kubesonar', 'ClusterRoleBinding/kubesonar-auth-delegator', 'ConfigMap/inspector-config', 'DaemonSet/kubesonar', 'ServiceAccount/kubesonar']);
  validateSchemas(docs);
  for (const d of docs) if (d.kind !== 'ClusterRole' && d.kind !== 'ClusterRoleBinding') assert.equal(d.metadata.namespace, 'kube-system');
  const check = spawnSync('bash', [join(ROOT, 'deploy/scripts/render.sh'), '--check'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(check.status, 0, `deploy/manifests/ differs from the chart: ${check.stderr}`);
  // The committed manifests are themselves valid (they are what kubectl apply -f reads).
  const manifests = parseAllDocuments(readFileSync(join(ROOT, 'deploy/manifests/kubesonar.yaml'), 'utf8')).map((d) => d.toJS()).filter(Boolean);
  validateSchemas(manifests);
  assert.equal(manifests.length, docs.length);
});

test('every optional object renders valid, and unknown fields are rejected', () => {
  const { docs } = render(...ALL_ON);
  assert.deepEqual(new Set(docs.map((d) => d.kind)), new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Service', 'ServiceMonitor', 'PodMonitor']));
  assert.equal(byKind(docs, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1').length, 3, 'three dashboard ConfigMaps');
  validateSchemas(docs);
  assert.equal(typeCheck(docs), '', 'every field is one the Kubernetes API types know');
  // The check is real: a misspelt field and a wrong type are reported.
  const ds = structuredClone(one(docs, 'DaemonSet'));
  const ds2 = structuredClone(ds);
  ds.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
  ds2.spec.template.spec.hostNetwrk = true;
  const out = typeCheck([ds, ds2]);
  assert.match(out, /readOnlyRootFileSystem/);
  assert.match(out, /hostNetwrk/);
  ds.spec.template.spec.containers[0].securityContext.privileged = 'false';
  assert.throws(() => new DaemonSet(ds).validate(), /privileged must be boolean/);
});

test('DaemonSet: host namespaces, least privilege, the mounts the agent uses', () => {
  const { docs } = render();
  const ds = one(docs, 'DaemonSet');
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.hostPID, true);
  assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  assert.equal(pod.serviceAccountName, 'kubesonar');
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.deepEqual(c.args, ['run', '--config', '/etc/config/config.yaml']);
  const sc = c.securityContext;
  assert.equal(sc.privileged, false);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.deepEqual([...sc.capabilities.add].sort(), ['BPF', 'DAC_READ_SEARCH', 'NET_ADMIN', 'NET_BROADCAST', 'PERFMON', 'SYSLOG', 'SYS_ADMIN', 'SYS_PTRACE']);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');

  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]));
  assert.deepEqual(env.NODE_NAME.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
  assert.equal(env.RUNTIME_SOCK.value, '/run/containerd/containerd.sock');

  const annotations = ds.spec.template.metadata.annotations;
  assert.deepEqual(annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9102', 'prometheus.io/path': '/metrics' });
  assert.deepEqual(c.ports.map((p: any) => [p.name, p.containerPort]), [['metrics', 9102], ['events', 19102]]);

  const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
  const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.name, m]));
  assert.deepEqual(Object.keys(mounts).sort(), Object.keys(volumes).sort(), 'every volume is mounted');
  const hostPaths = Object.fromEntries(pod.volumes.filter((v: any) => v.hostPath).map((v: any) => [v.hostPath.path, v.hostPath.type]));
  assert.deepEqual(hostPaths, {
    '/sys/kernel/btf': 'Directory',
    '/run/containerd/containerd.sock': 'Socket',
    '/etc/cni/net.d': 'DirectoryOrCreate',
    '/var/lib/cni/networks': 'DirectoryOrCreate',
  }, 'no /proc, /, /sys/fs/bpf or tracefs mount by default');
  for (const name of ['btf', 'cni-conf', 'cni-ipam', 'config']) assert.equal(mounts[name].readOnly, true, `${name} is read-only`);
  assert.equal(mounts.config.mountPath, '/etc/config');
  assert.equal(volumes.config.configMap.name, 'inspector-config');
  assert.equal(mounts['cri-socket'].mountPath, env.RUNTIME_SOCK.value);

  // Requests justified by the benchmark; a limit exists so one node's agent cannot run away.
  assert.deepEqual(c.resources, { requests: { cpu: '100m', memory: '136Mi' }, limits: { cpu: '1', memory: '256Mi' } });

  // Options: no CRI socket (pods attributed by cgroup), tracefs, bpffs, memlock.
  const alt = one(render('--set', 'cri.enabled=false', '--set', 'bpf.tracefs=true', '--set', 'bpf.bpffs=true',
    '--set', 'bpf.memlockCapability=true', '--set', 'config.metric_config.port=9200').docs, 'DaemonSet');
  const altC = alt.spec.template.spec.containers[0];
  assert.ok(!altC.env.some((e: any) => e.name === 'RUNTIME_SOCK'));
  assert.ok(!alt.spec.template.spec.volumes.some((v: any) => v.hostPath?.type === 'Socket'));
  assert.ok(altC.securityContext.capabilities.add.includes('SYS_RESOURCE'));
  assert.ok(altC.volumeMounts.some((m: any) => m.mountPath === '/sys/kernel/tracing'));
  assert.ok(altC.volumeMounts.some((m: any) => m.mountPath === '/sys/fs/bpf'));
  assert.equal(alt.spec.template.metadata.annotations['prometheus.io/port'], '9200', 'annotation follows metric_config.port');
  assert.equal(altC.ports[0].containerPort, 9200);
});

test('RBAC: reads limited to what the agent reads; creates only the reviews of the endpoints\' kubernetes auth mode', () => {
  const { docs } = render();
  const named = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name) ?? assert.fail(`no ${kind} ${name}`);
  const grants = (role: K8sObject, verbs: string[]) => {
    const granted = new Set<string>();
    for (const rule of role.rules) {
      assert.deepEqual(rule.verbs, verbs);
      for (const r of rule.resources) granted.add(`${rule.apiGroups.join(',') || 'core'}/${r}`);
    }
    return [...granted].sort();
  };
  // Exactly the resources whose API paths appear in the agent's code: the reviews (src/k8s/review.ts) are creates, the rest reads.
  const read = new Set<string>();
  const created = new Set<string>();
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(`${dir}/${d.name}`) : d.name.endsWith('.ts') ? [`${dir}/${d.name}`] : []));
  for (const file of walk(join(ROOT, 'src'))) {
    const code = readFileSync(file, 'utf8').split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)).join('\n'); // code, not comments
    const into = file.endsWith('/src/k8s/review.ts') ? created : read;
    for (const m of code.matchAll(/['`]\/api\/v1\/(?:namespaces\/\$\{[^}]+\}\/)?([a-z]+)/g)) into.add(`core/${m[1]}`);
    for (const m of code.matchAll(/['`]\/apis\/([a-z0-9.]+)\/v1\/([a-z]+)/g)) into.add(`${m[1]}/${m[2]}`);
  }
  assert.deepEqual([...created].sort(), ['authentication.k8s.io/tokenreviews', 'authorization.k8s.io/subjectaccessreviews']);
  const role = named('ClusterRole', 'kubesonar');
  assert.deepEqual(grants(role, ['get', 'list', 'watch']), [...read].sort());
  assert.deepEqual(grants(named('ClusterRole', 'kubesonar-auth-delegator'), ['create']), [...created].sort());
  for (const name of ['kubesonar', 'kubesonar-auth-delegator']) {
    const binding = named('ClusterRoleBinding', name);
    assert.equal(binding.roleRef.name, name);
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kubesonar', namespace: 'kube-system' }]);
  }
  // The reader roles grant only nonResourceURLs, and nobody is bound to them until values say so.
  assert.deepEqual(named('ClusterRole', 'kubesonar-metrics-reader').rules, [{ nonResourceURLs: ['/metrics', '/status'], verbs: ['get'] }]);
  assert.deepEqual(named('ClusterRole', 'kubesonar-events-reader').rules, [{ nonResourceURLs: ['/events'], verbs: ['get'] }]);
  assert.equal(byKind(docs, 'ClusterRoleBinding').length, 2);
});

test('endpoint security values: TLS Secret, kubernetes auth for /metrics with reader bindings, the ServiceMonitor and probes follow', () => {
  const { docs } = render('--set', 'secrets.tls.name=agent-tls', '--set', 'serviceMonitor.enabled=true', '--set', 'podMonitor.enabled=false',
    '--set', 'config.server.auth.metrics=kubernetes',
    '--set', 'rbac.metricsReaders[0].kind=ServiceAccount', '--set', 'rbac.metricsReaders[0].name=prometheus-k8s', '--set', 'rbac.metricsReaders[0].namespace=monitoring',
    '--set', 'rbac.eventsReaders[0].kind=Group', '--set', 'rbac.eventsReaders[0].name=oncall');
  validateSchemas(docs);
  assert.equal(typeCheck(docs), '');
  const config = parseConfig(configText(docs), 'inspector-config', NO_ENV);
  assert.deepEqual(config.server.tls, { cert_file: '/etc/kubesonar/secrets/tls/tls.crt', key_file: '/etc/kubesonar/secrets/tls/tls.key' });
  assert.equal(config.server.auth.metrics, 'kubernetes');
  const pod = one(docs, 'DaemonSet').spec.template.spec;
  const c = pod.containers[0];
  assert.deepEqual(c.volumeMounts.find((m: any) => m.name === 'secret-tls'), { name: 'secret-tls', mountPath: '/etc/kubesonar/secrets/tls', readOnly: true });
  assert.equal(pod.volumes.find((v: any) => v.name === 'secret-tls').secret.secretName, 'agent-tls');
  for (const probe of [c.readinessProbe, c.livenessProbe]) assert.deepEqual(probe.httpGet, { path: '/healthz', port: 'metrics', scheme: 'HTTPS' });
  assert.equal(one(docs, 'DaemonSet').spec.template.metadata.annotations['prometheus.io/scheme'], 'https');
  const endpoint = one(docs, 'ServiceMonitor').spec.endpoints[0];
  assert.equal(endpoint.scheme, 'https');
  assert.deepEqual(endpoint.tlsConfig, { serverName: 'kubesonar.kube-system.svc', ca: { secret: { name: 'agent-tls', key: 'ca.crt' } } });
  assert.equal(endpoint.bearerTokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
  const svc = one(docs, 'Service');
  assert.deepEqual(svc.spec.ports.map((p: any) => [p.name, p.port, p.appProtocol]), [['metrics', 9102, 'https'], ['events', 19102, 'https']]);
  const binding = (name: string) => docs.find((d) => d.kind === 'ClusterRoleBinding' && d.metadata.name === name) ?? assert.fail(`no binding ${name}`);
  assert.deepEqual(binding('kubesonar-metrics-reader').subjects, [{ kind: 'ServiceAccount', name: 'prometheus-k8s', namespace: 'monitoring' }]);
  assert.deepEqual(binding('kubesonar-events-reader').subjects, [{ kind: 'Group', name: 'oncall', apiGroup: 'rbac.authorization.k8s.io' }]);

  // Bearer mode from a token Secret: auto becomes bearer, nothing asks the API server, the ServiceMonitor sends the Secret's token.
  const bearer = render('--set', 'secrets.endpointToken.name=scrape-token', '--set', 'serviceMonitor.enabled=true', '--set', 'config.server.auth.metrics=auto').docs;
  validateSchemas(bearer);
  assert.equal(parseConfig(configText(bearer), 'inspector-config', NO_ENV).server.bearer_token_file, '/etc/kubesonar/secrets/endpoint-token/token');
  assert.ok(!bearer.some((d) => d.metadata.name.endsWith('-auth-delegator') || d.metadata.name.endsWith('-reader')), 'no review roles without kubernetes mode');
  const bearerEndpoint = one(bearer, 'ServiceMonitor').spec.endpoints[0];
  assert.deepEqual(bearerEndpoint.authorization, { type: 'Bearer', credentials: { name: 'scrape-token', key: 'token' } });
  assert.equal(bearerEndpoint.scheme, undefined, 'plain http without TLS');

  // A PodMonitor cannot carry Prometheus's own token: helm says so instead of rendering a scrape that gets 401.
  const refused = spawnSync(helm(), ['template', 'x', chart, '--kube-version', '1.30.0', '--set', 'podMonitor.enabled=true', '--set', 'config.server.auth.metrics=kubernetes'], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /podMonitor cannot present Prometheus's ServiceAccount token/);
});

test('ConfigMap inspector-config: every key documented, loads with the agent defaults', () => {
  const text = configText(render().docs);
  // The chart's defaults are the agent's: what the DaemonSet runs equals an empty config file.
  assert.deepEqual(parseConfig(text, 'inspector-config', NO_ENV), parseConfig('', 'empty', NO_ENV));
  assert.equal(parseConfig(text, 'inspector-config', NO_ENV).metric_config.port, DEFAULT_CONFIG.metric_config.port);

  // Every key line has a comment line right above it (or above its section's first key).
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  lines.forEach((line, i) => {
    if (line.trim().startsWith('#')) return;
    assert.ok(lines[i - 1]?.trim().startsWith('#'), `no comment above "${line.trim()}"`);
  });

  // Every leaf of the ConfigMap sections of CONFIG_SCHEMA is written (aliases only when set).
  const rendered = parseYaml(text);
  const missing: string[] = [];
  const walk = (schema: any, value: any, path: string[]) => {
    for (const [k, sub] of Object.entries<any>(schema.properties)) {
      const p = [...path, k];
      if (p.join('.') === 'event_config.loki_enable' || p.join('.') === 'event_config.loki_address') continue;
      if (value === undefined || !(k in value)) { missing.push(p.join('.')); continue; }
      if (sub.type === 'object' && sub.properties) walk(sub, value[k], p);
    }
  };
  for (const section of ['debugmode', 'metric_config', 'event_config'] as const) {
    const sub = (CONFIG_SCHEMA.properties as any)[section];
    if (sub.type === 'object') walk(sub, rendered[section], [section]); else if (!(section in rendered)) missing.push(section);
  }
  assert.deepEqual(missing, [], 'keys of CONFIG_SCHEMA missing from config.yaml (run node deploy/scripts/chart-gen.mjs)');
});

test('values: sinks and Secrets end up in config.yaml and load; bad values are refused by helm', () => {
  const { docs } = render(...ALL_ON);
  const config = parseConfig(configText(docs), 'inspector-config', NO_ENV);
  const sinks = config.event_config.sinks;
  assert.equal(sinks.remote_write.enabled, true);
  assert.equal(sinks.remote_write.username, 'LTAIexampleid');
  assert.equal(sinks.remote_write.password_file, '/etc/kubesonar/secrets/remote-write/password');
  assert.equal(sinks.loki.enabled, true);
  assert.equal(sinks.loki.password_file, '/etc/kubesonar/secrets/loki/password');
  assert.equal(sinks.loki.ca_file, '/etc/kubesonar/secrets/loki/ca.crt');
  assert.equal(sinks.otlp.endpoint, 'http://otel-collector.observability:4318');
  const pod = one(docs, 'DaemonSet').spec.template.spec;
  const mount = pod.containers[0].volumeMounts.find((m: any) => m.name === 'secret-remote-write');
  assert.equal(mount.mountPath, '/etc/kubesonar/secrets/remote-write');
  assert.equal(mount.readOnly, true);
  assert.equal(pod.volumes.find((v: any) => v.name === 'secret-remote-write').secret.secretName, 'kubesonar-arms');

  // The ACK spellings are written only when set, and then load as the same setting.
  const ack = parseConfig(configText(render('--set', 'config.event_config.loki_enable=true', '--set', 'config.event_config.sinks.loki.enabled=true',
    '--set', 'config.event_config.loki_address=loki.monitoring:3100', '--set', 'config.event_config.sinks.loki.url=loki.monitoring:3100').docs), 'ack', NO_ENV);
  assert.equal(ack.event_config.loki_enable, true);
  assert.equal(ack.event_config.loki_address, 'loki.monitoring:3100');

  // values.schema.json (generated from CONFIG_SCHEMA) makes helm refuse what the agent would.
  const bad = spawnSync(helm(), ['template', 'x', chart, '--kube-version', '1.30.0', '--set', 'config.metric_config.port=70000'], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /metric_config\.port/);
  const typo = spawnSync(helm(), ['template', 'x', chart, '--kube-version', '1.30.0', '--set', 'config.metric_config.intervall=5'], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(typo.status, 0);
  assert.match(typo.stderr, /intervall/);
});

test('the chart ships the dashboards of deploy/dashboards', () => {
  assert.equal(readlinkSync(join(chart, 'dashboards')), '../../dashboards');
  const cms = byKind(render('--set', 'dashboards.enabled=true', '--show-only', 'templates/dashboards.yaml').docs, 'ConfigMap');
  assert.deepEqual(cms.map((c) => Object.keys(c.data)[0]).sort(), ['kubesonar-events.json', 'kubesonar-node.json', 'kubesonar-pod.json']);
  for (const cm of cms) {
    const [file, json] = Object.entries<string>(cm.data)[0]!;
    assert.deepEqual(JSON.parse(json), JSON.parse(readFileSync(join(ROOT, 'deploy/dashboards', file), 'utf8')));
  }
});

