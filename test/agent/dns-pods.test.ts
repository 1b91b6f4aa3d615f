// The dns probe through the whole agent (`kubesonar run`): two pods on a private containerd, the
// test's DNS server in one (test/fixtures/dns/server.cjs), a client in the other; /metrics names
// the client pod with its queries, answers, timeouts and latency, and the stdout sink prints one
// DNS_TIMEOUT per ignored query attributed to the client pod, with the server and the name.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { seriesValue, spawnCliAgent } from '../helpers/agent.js';
import { newUid, PrivateContainerd, type RunningPod } from '../helpers/containerd.js';
import { inNetns, spawnInNetns } from '../helpers/exec.js';
import { freePort } from '../helpers/net.js';
import { fixture } from '../helpers/paths.js';
import { giveUp, stopProcess, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'kubesonar-dns-'));
const TIMEOUT_MS = 800;
let ctrd: PrivateContainerd;
let serverPod: RunningPod;
let clientPod: RunningPod;
let agent: ChildProcess | undefined;
let agentUrl: string;
const events: Record<string, any>[] = [];
const agentLog: string[] = [];
const children: ChildProcess[] = [];

before(async () => {
  ctrd = await PrivateContainerd.start();
  serverPod = await ctrd.runPodSandbox({ name: 'coredns-test', namespace: 'kube-system', uid: newUid() });
  clientPod = await ctrd.runPodSandbox({ name: 'shop-client', namespace: 'shop', uid: newUid() });
  children.push(await spawnInNetns(serverPod.pid, process.execPath, [fixture('dns', 'server.cjs'), serverPod.ip]));

  const [metricPort, eventPort] = [await freePort(), await freePort()];
  agentUrl = `http://127.0.0.1:${metricPort}`;
  writeFileSync(join(dir, 'config.yaml'), `
metric_config:
  port: ${metricPort}
  interval: 1
  probes: [dns]
event_config:
  port: ${eventPort}
  probes: [dns]
  dns: {timeout_ms: ${TIMEOUT_MS}}
  sinks:
    stdout: {enabled: true, format: json}
`);
  agent = spawnCliAgent(join(dir, 'config.yaml'), { RUNTIME_SOCK: ctrd.socket, NODE_NAME: 'dns-node' }, events, agentLog);
  await waitFor('the agent with the dns probe running', async () => {
    if (agent!.exitCode !== null) giveUp(`the agent exited with ${agent!.exitCode}: ${agentLog.join('')}`);
    const status = await (await fetch(`${agentUrl}/status`)).json() as any;
    return status.probes?.dns?.state === 'ok' && (await fetch(`${agentUrl}/metrics`)).ok;
  }, 60_000, () => agentLog.join(''));
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (agent) await stopProcess(agent);
  await ctrd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a pod\'s DNS queries, answers, latency and timeouts are its series; each ignored query is a DNS_TIMEOUT naming the pod', async () => {
  const names = { fast: ['fast-a.shop.svc.test', 'fast-b.shop.svc.test', 'fast-c.shop.svc.test'], slow: ['slow-a.shop.svc.test'], fail: ['fail-a.shop.svc.test'], drop: ['drop-a.shop.svc.test', 'drop-b.shop.svc.test'] };
  const mix = Object.values(names).flat().map((name, i) => ({ server: serverPod.ip, proto: 'udp', name, id: 0x2000 + i }));
  const seen = JSON.parse((await inNetns(clientPod.pid, process.execPath, [fixture('dns', 'client.cjs'), JSON.stringify(mix), String(TIMEOUT_MS + 1000)])).trim());
  assert.equal(seen.unanswered, names.drop.length);

  const pod = { k8s_namespace: 'shop', k8s_pod: 'shop-client' };
  const text = await waitFor('the client pod\'s timeouts on /metrics', async () => {
    const t = await (await fetch(`${agentUrl}/metrics`)).text();
    return seriesValue(t, 'netexporter_dns_timeouts', { ...pod, server: serverPod.ip }) === names.drop.length ? t : undefined;
  }, 15_000, () => agentLog.join(''));
  assert.equal(seriesValue(text, 'netexporter_dns_queries', { ...pod, qtype: 'A', server: serverPod.ip }), mix.length);
  assert.equal(seriesValue(text, 'netexporter_dns_responses', { ...pod, rcode: 'NOERROR' }), names.fast.length + names.slow.length);
  assert.equal(seriesValue(text, 'netexporter_dns_responses', { ...pod, rcode: 'SERVFAIL' }), names.fail.length);
  assert.equal(seriesValue(text, 'netexporter_dns_latency_seconds_count', { ...pod, server: serverPod.ip }), names.fast.length + names.slow.length + names.fail.length);
  assert.equal(seriesValue(text, 'netexporter_dns_latency_seconds_bucket', { ...pod, server: serverPod.ip, le: '0.2' }), names.fast.length + names.fail.length);
  assert.equal(seriesValue(text, 'netexporter_dns_latency_seconds_bucket', { ...pod, server: serverPod.ip, le: '0.5' }), names.fast.length + names.fail.length + names.slow.length);
  // The server pod answered; it asked nothing.
  assert.equal(seriesValue(text, 'netexporter_dns_queries', { k8s_pod: 'coredns-test' }), undefined);

  const timeouts = await waitFor('one DNS_TIMEOUT per ignored query', () => {
    const t = events.filter((e) => e.type === 'DNS_TIMEOUT' && e.server === serverPod.ip);
    return t.length >= names.drop.length ? t : undefined;
  }, 10_000, () => JSON.stringify(events));
  assert.deepEqual(timeouts.map((e) => e.name).sort(), names.drop);
  for (const e of timeouts) {
    assert.equal(e.pod ?? e.k8s_pod, 'shop-client', JSON.stringify(e));
    assert.equal(e.namespace ?? e.k8s_namespace, 'shop', JSON.stringify(e));
  }
  const errors = events.filter((e) => e.type === 'DNS_ERROR' && e.server === serverPod.ip);
  assert.deepEqual(errors.map((e) => [e.name, e.rcode]), [[names.fail[0], 'SERVFAIL']]);
});
