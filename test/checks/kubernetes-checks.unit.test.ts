// The Kubernetes configuration checks with the production API client and informers against
// the strict fake API server: NetworkPolicy, LocalTrafficPolicy, IPMasqAgentConf,
// CIDRConflict (with the node's podCIDR from the API), KubeProxyAbnormal (pod status and a
// real health endpoint on loopback), and the services/endpoints view the IPVS check compares.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';

import type { NetEvent } from '../../src/events/model.js';
import { CheckScheduler, checkOptions } from '../../src/checks/index.js';
import { KubeView } from '../../src/checks/kubeview.js';
import { severityOf } from '../../src/catalogue/index.js';
import k8sconfig from '../../src/probes/k8sconfig.js';
import kubeproxy from '../../src/probes/kubeproxy.js';

/** The checks of the two probes that read the API (the IPVS one is tested with the kernel). */
const k8sChecks = (kube?: KubeView) => [k8sconfig, kubeproxy].flatMap((p) => p.event!.checks!({ kube }));
import type { Check, CheckOptions, DeepPartial } from '../../src/checks/model.js';
import { KubeClient } from '../../src/k8s/index.js';
import { FakeKubeApi, service } from '../helpers/kube-api.js';
import { waitFor } from '../helpers/wait.js';

let api: FakeKubeApi;
let client: KubeClient;
let view: KubeView;
let health: Server;
let healthStatus = 200;
let options: CheckOptions;

before(async () => {
  health = createServer((_req, res) => {
    res.writeHead(healthStatus);
    res.end('ok');
  });
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  api = await new FakeKubeApi().start();
  // EndpointSlices are not among the fake's built-in resources; registered as the real API serves them.
  api.register('discovery.k8s.io/v1/endpointslices', { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', namespaced: true });
  client = new KubeClient({ server: api.url, token: api.token, timeoutMs: 2000 });
  options = checkOptions({
    nodeName: 'node-a',
    cidrs: { vpc: ['172.31.0.0/16'], service: ['10.96.0.0/12'], docker: ['172.17.0.0/16'] },
    kubeProxy: { healthzUrl: `http://127.0.0.1:${(health.address() as AddressInfo).port}/healthz` },
  });
  view = new KubeView(client, options).start();
  assert.ok(await view.waitForSync(5000), 'informers synced');
});

after(async () => {
  await view.stop();
  await client.close();
  await api.stop();
  await new Promise((r) => health.close(r));
});

function harness(checks: Check[], extra: DeepPartial<CheckOptions> = {}) {
  const events: NetEvent[] = [];
  let now = 1_700_000_000_000;
  const scheduler = new CheckScheduler({
    checks, entities: () => [], options: { ...options, ...(extra as Partial<CheckOptions>) },
    publisher: { publish: (e) => events.push(e) }, clock: () => now, severity: severityOf,
  });
  const step = async (advance = 1000) => {
    now += advance;
    const from = events.length;
    await scheduler.runOnce();
    return events.slice(from).map((e) => ({ type: e.type, msg: e.msg, finding: e.attrs.finding, severity: e.severity }));
  };
  return { scheduler, step };
}

const byName = (name: string) => k8sChecks(view).filter((c) => c.name === name);

test('NetworkPolicy: present in the cluster, cleared when the last one goes', async () => {
  const h = harness(byName('network_policy'));
  assert.deepEqual(await h.step(), []);
  api.apply('networking.k8s.io/v1/networkpolicies', { metadata: { name: 'deny-all', namespace: 'default' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
  await waitFor('the policy', () => view.policies.objects().length === 1, 5000);
  assert.deepEqual(await h.step(), [{ type: 'NetworkPolicy', msg: 'network policy is configured,please use it carefully.', finding: 'new', severity: 'INFO' }]);
  api.apply('networking.k8s.io/v1/networkpolicies', { metadata: { name: 'allow-dns', namespace: 'default' }, spec: { podSelector: {} } });
  await waitFor('the second policy', () => view.policies.objects().length === 2, 5000);
  assert.deepEqual(await h.step(), [], 'one more policy is no news');
  api.delete('networking.k8s.io/v1/networkpolicies', 'default', 'deny-all');
  api.delete('networking.k8s.io/v1/networkpolicies', 'default', 'allow-dns');
  await waitFor('no policy', () => view.policies.objects().length === 0, 5000);
  assert.deepEqual((await h.step()).map((e) => e.finding), ['cleared']);
});

test('LocalTrafficPolicy: services with external or internal traffic policy Local, as one finding', async () => {
  const h = harness(byName('local_traffic_policy'));
  const svc = (name: string, spec: Record<string, string>) => {
    const s = service('default', name, { clusterIP: '10.96.0.20', ports: [{ port: 80 }] });
    return { ...s, spec: { ...(s.spec as object), ...spec } };
  };
  api.apply('v1/services', svc('ng-svc', { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }));
  await waitFor('ng-svc', () => view.svcs.objects().some((s) => s.metadata.name === 'ng-svc'), 5000);
  assert.deepEqual(await h.step(), [{ type: 'LocalTrafficPolicy', msg: 'externalTrafficPolicy of svc(ng-svc/default) is Local, please check it.', finding: 'new', severity: 'INFO' }]);
  api.apply('v1/services', svc('api', { internalTrafficPolicy: 'Local' }));
  await waitFor('api', () => view.svcs.objects().some((s) => s.metadata.name === 'api'), 5000);
  assert.deepEqual(await h.step(), [{
    type: 'LocalTrafficPolicy', finding: 'changed', severity: 'INFO',
    msg: 'externalTrafficPolicy of svc(ng-svc/default) is Local, internalTrafficPolicy of svc(api/default) is Local, please check it.',
  }]);
  api.delete('v1/services', 'default', 'ng-svc');
  api.delete('v1/services', 'default', 'api');
  await waitFor('services gone', () => !view.svcs.objects().some((s) => ['api', 'ng-svc'].includes(s.metadata.name)), 5000);
  assert.deepEqual((await h.step()).map((e) => e.finding), ['cleared']);
});

test('IPMasqAgentConf: nonMasqueradeCIDRs without the VPC CIDR', async () => {
  const h = harness(byName('ip_masq_agent'));
  assert.deepEqual(await h.step(), [], 'no ip-masq-agent ConfigMap: nothing to check');
  const cm = (cidrs: string[]) => ({ metadata: { name: 'ip-masq-agent', namespace: 'kube-system' }, data: { config: `nonMasqueradeCIDRs:\n${cidrs.map((c) => `  - ${c}`).join('\n')}\nresyncInterval: 60s\n` } });
  api.apply('v1/configmaps', cm(['10.0.0.0/8']));
  await waitFor('the ConfigMap', () => view.masqConfig.objects().length === 1, 5000);
  assert.deepEqual(await h.step(), [{ type: 'IPMasqAgentConf', msg: 'NonMasqueradeCIDRs does not contain vpc cidr, it will reduce pod network performance.', finding: 'new', severity: 'WARN' }]);
  api.apply('v1/configmaps', cm(['10.0.0.0/8', '172.16.0.0/12']));
  await waitFor('the update', () => (view.masqConfig.objects()[0]?.data?.config ?? '').includes('172.16.0.0/12'), 5000);
  assert.deepEqual((await h.step()).map((e) => e.finding), ['cleared']);
});

test('CIDRConflict: the node podCIDR from the API inside the VPC CIDR', async () => {
  const h = harness(byName('cidr_conflict'));
  assert.deepEqual(await h.step(), []);
  api.apply('v1/nodes', { metadata: { name: 'node-a' }, spec: { podCIDR: '172.31.5.0/24', podCIDRs: ['172.31.5.0/24'] } });
  api.apply('v1/nodes', { metadata: { name: 'node-b' }, spec: { podCIDR: '10.96.1.0/24' } }); // another node: not ours
  await waitFor('the node', () => (view.node?.objects().length ?? 0) === 1, 5000);
  assert.deepEqual(await h.step(), [{
    type: 'CIDRConflict', finding: 'new', severity: 'ERROR',
    msg: 'cidr conflicts:vpc cidr 172.31.0.0/16, svc cidr 10.96.0.0/12, pod cidr 172.31.5.0/24, docker cidr 172.17.0.0/16.',
  }]);
  api.apply('v1/nodes', { metadata: { name: 'node-a' }, spec: { podCIDR: '192.168.5.0/24', podCIDRs: ['192.168.5.0/24'] } });
  await waitFor('the node update', () => view.node?.objects()[0]?.spec?.podCIDR === '192.168.5.0/24', 5000);
  assert.deepEqual((await h.step()).map((e) => e.finding), ['cleared']);
});

test('KubeProxyAbnormal: the kube-proxy pod of this node not ready, or its health endpoint failing', async () => {
  const h = harness(byName('kube_proxy'));
  const pod = (node: string, ready: boolean) => ({
    metadata: { name: `kube-proxy-${node}`, namespace: 'kube-system', labels: { 'k8s-app': 'kube-proxy' } },
    spec: { nodeName: node },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  api.apply('v1/pods', pod('node-b', false)); // another node's trouble is not this node's
  api.apply('v1/pods', pod('node-a', true));
  await waitFor('the pods', () => view.proxyPods.objects().length === 2, 5000);
  assert.deepEqual(await h.step(), []);

  healthStatus = 503;
  assert.deepEqual(await h.step(), [{ type: 'KubeProxyAbnormal', msg: 'kube-proxy looks abnormal, please check it.', finding: 'new', severity: 'ERROR' }]);
  assert.deepEqual(await h.step(), []);
  healthStatus = 200;
  api.apply('v1/pods', pod('node-a', false));
  await waitFor('not ready', () => view.proxyPods.objects().some((p) => p.metadata.name === 'kube-proxy-node-a' && p.status?.conditions?.[0]?.status === 'False'), 5000);
  assert.deepEqual((await h.step()).map((e) => e.finding), ['changed'], 'a different reason is a change');
  api.apply('v1/pods', pod('node-a', true));
  await waitFor('ready', () => view.proxyPods.objects().some((p) => p.metadata.name === 'kube-proxy-node-a' && p.status?.conditions?.[0]?.status === 'True'), 5000);
  assert.deepEqual((await h.step()).map((e) => e.finding), ['cleared']);
});

test('services view for IPVS: ClusterIP ports with the ready endpoints of all their EndpointSlices', async () => {
  api.apply('v1/services', service('kube-system', 'kube-dns', { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] }));
  const slice = (name: string, endpoints: { addresses: string[]; conditions?: { ready?: boolean } }[]) => ({
    metadata: { name, namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'kube-dns' } },
    addressType: 'IPv4', endpoints,
    ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 5353, protocol: 'TCP' }],
  });
  api.apply('discovery.k8s.io/v1/endpointslices', slice('kube-dns-a', [{ addresses: ['10.244.0.5'], conditions: { ready: true } }, { addresses: ['10.244.2.9'], conditions: { ready: false } }]));
  api.apply('discovery.k8s.io/v1/endpointslices', slice('kube-dns-b', [{ addresses: ['10.244.1.7'] }]));
  await waitFor('kube-dns slices', () => view.slices.objects().length === 2 && view.svcs.objects().some((s) => s.metadata.name === 'kube-dns'), 5000);
  const dns = (await view.services()).find((s) => s.name === 'kube-dns')!;
  assert.deepEqual(dns.clusterIPs, ['10.96.0.10']);
  const sorted = [...dns.endpoints].map(([k, v]) => [k, [...v].sort()]);
  assert.deepEqual(sorted, [['UDP/53', ['10.244.0.5:5353', '10.244.1.7:5353']], ['TCP/53', ['10.244.0.5:5353', '10.244.1.7:5353']]]);
});

test('without the API: Kubernetes checks are unsupported, CIDRConflict still compares the configured CIDRs', async () => {
  const h = harness(k8sChecks(), { cidrs: { vpc: ['10.0.0.0/8'], service: ['10.96.0.0/12'], pod: [], docker: [] } });
  assert.deepEqual(await h.step(), [{ type: 'CIDRConflict', msg: 'cidr conflicts:vpc cidr 10.0.0.0/8, svc cidr 10.96.0.0/12.', finding: 'new', severity: 'ERROR' }]);
  const states = Object.fromEntries(h.scheduler.status().map((s) => [s.name, s.state]));
  assert.deepEqual(states, { network_policy: 'unsupported', local_traffic_policy: 'unsupported', ip_masq_agent: 'unsupported', cidr_conflict: 'ok', kube_proxy: 'unsupported' });
});
