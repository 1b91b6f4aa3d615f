// A quiet node stays quiet, and real faults still speak. The agent runs as its own process (as
// the DaemonSet runs it) with the stdout, Loki (the strict receiver, playing Loki 2.7.7) and
// remote-write (a real Prometheus's receiver) sinks on, that Prometheus scraping it every
// second, and two real containerd pods. Idle, it emits at most one event a minute; then each
// seeded fault gives its event, attributed to its pod: a closed port, an iptables DROP, a
// flooded listener, rp_filter=1.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { newUid, PrivateContainerd, type RunningPod } from '../helpers/containerd.js';
import { inNetns, spawnInNetns } from '../helpers/exec.js';
import { LokiReceiver } from '../helpers/loki-receiver.js';
import { freePort } from '../helpers/net.js';
import { scrapeJob, startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';
import { spawnCliAgent } from '../helpers/agent.js';
import { giveUp, holdsFor, stopProcess, waitFor } from '../helpers/wait.js';

const IDLE_MS = 120_000;
const dir = mkdtempSync(join(tmpdir(), 'kubesonar-idle-'));
let ctrd: PrivateContainerd;
let web: RunningPod;
let client: RunningPod;
let loki: LokiReceiver;
let prometheus: TestPrometheus;
let promUrl: string;
let agent: ChildProcess;
let agentUrl: string;
let agentStarted: number;
const events: Record<string, any>[] = [];
const agentLog: string[] = [];
const children: ChildProcess[] = [];

before(async () => {
  ctrd = await PrivateContainerd.start();
  web = await ctrd.runPodSandbox({ name: 'web', namespace: 'shop', uid: newUid() });
  client = await ctrd.runPodSandbox({ name: 'client', namespace: 'shop', uid: newUid() });
  loki = await new LokiReceiver({ version: '2.7.7' }).start();

  const [metricPort, eventPort] = [await freePort(), await freePort()];
  agentUrl = `http://127.0.0.1:${metricPort}`;
  prometheus = await startPrometheus(dir, scrapeJob('kubesonar', `127.0.0.1:${metricPort}`));
  promUrl = prometheus.url;

  writeFileSync(join(dir, 'config.yaml'), `
metric_config:
  port: ${metricPort}
event_config:
  port: ${eventPort}
  sinks:
    stdout: {enabled: true, format: json}
    loki: {enabled: true, url: "${loki.url}"}
    remote_write: {enabled: true, url: "${promUrl}/api/v1/write", interval_seconds: 5}
`);
  agentStarted = Date.now();
  agent = spawnCliAgent(join(dir, 'config.yaml'), { RUNTIME_SOCK: ctrd.socket, NODE_NAME: 'idle-node' }, events, agentLog);
  await waitFor('the agent serving /status', async () => {
    if (agent.exitCode !== null) giveUp(`the agent exited with ${agent.exitCode}: ${agentLog.join('')}`);
    return (await fetch(`${agentUrl}/status`)).ok;
  }, 60_000, () => agentLog.join(''));
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (agent) await stopProcess(agent);
  await prometheus?.stop();
  await loki?.stop();
  await ctrd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const promQuery = (q: string) => prometheus.query(q);

const summary = (e: Record<string, any>) => `${e.type} ${e.reason ?? ''} pod=${e.pod ?? ''} netns=${e.netns ?? ''} ${e.msg ?? ''}`;

/**
 * An event about the machine's own traffic with the outside (both ends neither loopback nor a
 * pod of this test): the agent is right to report it, but it is not of this test's making.
 */
function foreign(e: Record<string, any>): boolean {
  if (e.pod || e.saddr === undefined) return false;
  const podNet = ctrd.cni.subnet.replace(/\.0\/24$/, '.');
  const ours = (a: string) => a.startsWith('127.') || a === '::1' || a.startsWith(podNet);
  return !ours(String(e.saddr)) && !ours(String(e.daddr));
}

test('idle for 120 s with every sink on, scraped and pods present: at most one event a minute', async (t) => {
  const allowed = Math.floor(IDLE_MS / 60_000);
  const ours = () => events.filter((e) => !foreign(e));
  await holdsFor(`at most ${allowed} events while idle`, () => ours().length <= allowed, IDLE_MS - (Date.now() - agentStarted),
    () => ours().map(summary).join('\n'));
  t.diagnostic(`${ours().length} events in ${Math.round((Date.now() - agentStarted) / 1000)} s: ${ours().map(summary).join('; ') || 'none'}`);
  const others = events.filter(foreign);
  if (others.length) t.diagnostic(`and ${others.length} about the machine's own traffic: ${others.map(summary).join('; ')}`);
  // The sinks were really on: Prometheus scraped the agent and received its remote writes.
  const up = await promQuery('max_over_time(up{job="kubesonar"}[1m])');
  assert.equal(up[0]?.value[1], '1', 'Prometheus scraped the agent');
  await waitFor('remote-written series in Prometheus', async () =>
    (await promQuery('count({k8s_node="idle-node", job!="kubesonar"})')).length > 0, 20_000);
  // The Loki sink delivered what stdout printed (2.7.7 mode: the whole record in the line).
  const inLoki = () => loki.pushes.flatMap((p) => p.streams.flatMap((s) => s.entries)).length;
  await waitFor('Loki holding every event printed', () => inLoki() === events.length, 20_000, () => `Loki ${inLoki()}, stdout ${events.length}`);
});

/** Waits for an event of `type` in `pod` matching `more`, and returns it. */
function eventOf(type: string, pod: RunningPod, more: (e: Record<string, any>) => boolean, timeoutMs: number) {
  return waitFor(`${type} in ${pod.name}`, () => events.find((e) => e.type === type && e.pod === pod.name && e.namespace === pod.namespace && more(e)),
    timeoutMs, () => `events: ${events.map(summary).join('\n')}`);
}

test('a connection to a closed port: NO_SOCKET and TCP_SEND_RST_NOSock in the pod that refused it', async () => {
  await inNetns(client.pid, 'node', ['-e', `require('net').connect(9, '${web.ip}').on('error', () => process.exit(0))`]);
  await eventOf('PACKETLOSS', web, (e) => e.reason === 'NO_SOCKET' && e.dport === 9, 20_000);
  await eventOf('TCP_SEND_RST_NOSock', web, (e) => e.sport === 9, 20_000);
});

test('an iptables DROP: NETFILTER_DROP in the pod whose rule dropped', async () => {
  await inNetns(web.pid, 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '9998', '-j', 'DROP']);
  const attempt = spawn('nsenter', [`--net=/proc/${client.pid}/ns/net`, 'node', '-e',
    `require('net').connect(9998, '${web.ip}').on('error', () => {}); setTimeout(() => {}, 30000)`], { stdio: 'ignore' });
  children.push(attempt);
  await eventOf('PACKETLOSS', web, (e) => e.reason === 'NETFILTER_DROP' && e.dport === 9998, 20_000);
  attempt.kill('SIGKILL');
});

test('a flooded listener: LISTEN_OVERFLOW naming its port in its pod', async () => {
  const P = 8091;
  const server = await spawnInNetns(web.pid, 'python3', ['-c',
    `import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',${P}))\ns.listen(1)\nprint('ready',flush=True)\ntime.sleep(120)`]);
  children.push(server);
  const flood = await spawnInNetns(client.pid, 'python3', ['-c',
    `import socket,time\ncs=[]\nfor i in range(20):\n  c=socket.socket(); c.setblocking(False); c.connect_ex(('${web.ip}',${P})); cs.append(c)\nprint('ready',flush=True)\ntime.sleep(120)`]);
  children.push(flood);
  // SYNs are retried for a while: a collection after the listener's first sight sees its drops grow.
  const e = await eventOf('LISTEN_OVERFLOW', web, (x) => x.sport === P, 40_000);
  assert.ok(e.drops > 0);
  assert.equal(e.backlog, 1);
});

test('rp_filter=1 on a pod interface: RPFilterKernelParam within 10 s', async () => {
  await inNetns(web.pid, 'sysctl', ['-qw', 'net.ipv4.conf.eth0.rp_filter=1']);
  const changed = Date.now();
  const e = await eventOf('RPFilterKernelParam', web, () => true, 10_000);
  assert.match(e.msg, /rp_filter/);
  assert.ok(Date.now() - changed <= 10_000);
});
