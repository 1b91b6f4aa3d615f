// A real Prometheus (Debian's package) scrapes the agent over TLS (a CA made in the test) with a
// bearer token: first with /metrics in kubernetes mode (the token reviewed by the fake API
// server: Prometheus's granted token is up, another token is refused with 403), then, after a
// hot reload of the config on the same port, in bearer mode (the token file's token).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KubeClient } from '../../src/k8s/index.js';
import { startAgent, type TestAgent } from '../helpers/agent.js';
import { ConfigMapMount } from '../helpers/configmap.js';
import { httpGet } from '../helpers/http-client.js';
import { FakeKubeApi } from '../helpers/kube-api.js';
import { freePort } from '../helpers/net.js';
import { startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';
import { makeCa, makeCert, type TestCa } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'kubesonar-prom-tls-'));
let agent: TestAgent;
let api: FakeKubeApi;
let prometheus: TestPrometheus;
let promUrl: string;
let ca: TestCa;
let mount: ConfigMapMount;
let port: number;
const tokenFile = join(dir, 'endpoint-token');

function serverSection(auth: string): string {
  const cert = join(dir, 'agent.crt');
  const key = join(dir, 'agent.key');
  return `server:\n  tls: {cert_file: ${cert}, key_file: ${key}}\n  auth: {metrics: ${auth}, status: ${auth}}\n  bearer_token_file: ${auth === 'bearer' ? tokenFile : '""'}\n`;
}

before(async () => {
  ca = makeCa(dir);
  makeCert(dir, ca, 'agent');
  writeFileSync(join(dir, 'prom-token'), 'prometheus-sa-token\n');
  writeFileSync(join(dir, 'other-token'), 'someone-else\n');
  api = await new FakeKubeApi({ token: 'agent-sa-token' }).start();
  api.addToken('prometheus-sa-token', { username: 'system:serviceaccount:monitoring:prometheus' });
  api.addToken('someone-else', { username: 'mallory' });
  api.grant({ users: ['system:serviceaccount:monitoring:prometheus'], nonResourceURLs: ['/metrics', '/status'], verbs: ['get'], role: 'kubesonar-metrics-reader' });

  port = await freePort();
  mount = new ConfigMapMount(join(dir, 'cm'));
  await mount.create(`metric_config:\n  interval: 1\n  port: ${port}\n  probes: [tcp]\n${serverSection('kubernetes')}`);
  agent = await startAgent({ configPath: mount.path, port: undefined, kube: async () => new KubeClient({ server: api.url, token: 'agent-sa-token' }) });

  const job = (name: string, credentials: string) => [
    `  - job_name: ${name}`,
    '    scheme: https',
    `    tls_config: { ca_file: ${ca.certFile} }`,
    `    authorization: { type: Bearer, credentials_file: ${join(dir, credentials)} }`,
    `    static_configs: [{ targets: ["127.0.0.1:${port}"] }]`,
  ];
  prometheus = await startPrometheus(dir, [...job('granted', 'prom-token'), ...job('refused', 'other-token')]);
  promUrl = prometheus.url;
});

after(async () => {
  await prometheus?.stop();
  await agent?.stop();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Target { labels: { job: string }; health: string; lastError: string; lastScrape: string }
async function targets(): Promise<Record<string, Target>> {
  const res = await (await fetch(`${promUrl}/api/v1/targets`)).json() as { data: { activeTargets: Target[] } };
  return Object.fromEntries(res.data.activeTargets.map((t) => [t.labels.job, t]));
}

/** Both jobs' next scrapes after `since`, once they have happened. */
async function scrapedAfter(since: number): Promise<Record<string, Target>> {
  return waitFor('a scrape of both jobs', async () => {
    const t = await targets();
    return ['granted', 'refused'].every((j) => t[j] && Date.parse(t[j]!.lastScrape) > since && t[j]!.health !== 'unknown') ? t : undefined;
  }, 40_000);
}

const query = (q: string) => prometheus.query(q);

test('Prometheus scrapes over TLS with its token (kubernetes mode): the granted token is up, another is refused with 403', async () => {
  const t = await scrapedAfter(Date.now());
  assert.equal(t.granted!.health, 'up', t.granted!.lastError);
  assert.equal(t.refused!.health, 'down');
  assert.match(t.refused!.lastError, /403 Forbidden/);
  // The host's series (other namespaces of this machine may have theirs).
  const host = `ns${statSync('/proc/self/ns/net').ino}`;
  await waitFor('agent series in Prometheus', async () => (await query(`netexporter_tcp_activeopens{job="granted",netns="${host}"}`)).length === 1, 40_000);
  assert.equal((await query('netexporter_tcp_activeopens{job="refused"}')).length, 0);
  // The refusals are counted where Prometheus can see them.
  await waitFor('the refused scrapes counted', async () => {
    const r = await query('netexporter_agent_endpoint_requests_total{job="granted",endpoint="metrics",result="forbidden"}');
    return r.length === 1 && Number(r[0]!.value[1]) >= 1;
  }, 40_000);
  // The reviews happened once per token (cached), not once per scrape.
  assert.ok(api.reviews('tokenreviews') <= 4, `${api.reviews('tokenreviews')} TokenReviews for many scrapes`);
  const status = await httpGet(port, '/status', { ca: ca.pem, token: 'prometheus-sa-token' });
  assert.equal(status.status, 200);
  assert.deepEqual(JSON.parse(status.body).endpoints.metrics.auth.modes, { metrics: 'kubernetes', status: 'kubernetes' });
});

test('after a hot reload to bearer mode on the same port, the token file\'s token is the one accepted', async () => {
  writeFileSync(tokenFile, 'prometheus-sa-token\n');
  await mount.update(`metric_config:\n  interval: 1\n  port: ${port}\n  probes: [tcp]\n${serverSection('bearer')}`);
  await waitFor('bearer mode in /status', async () => {
    const r = await httpGet(port, '/status', { ca: ca.pem, token: 'prometheus-sa-token' });
    return r.status === 200 && JSON.parse(r.body).endpoints.metrics.auth.modes.metrics === 'bearer';
  }, 20_000);
  const reviews = api.reviews('tokenreviews');
  const t = await scrapedAfter(Date.now());
  assert.equal(t.granted!.health, 'up', t.granted!.lastError);
  assert.equal(t.refused!.health, 'down');
  assert.match(t.refused!.lastError, /403 Forbidden/);
  assert.equal(api.reviews('tokenreviews'), reviews, 'no reviews in bearer mode');
  assert.equal((await query('max_over_time(up{job="granted"}[1m])'))[0]!.value[1], '1');
});
