// `kubesonar watch` against agents that ask for credentials, as a real process: no token 401,
// a wrong token 403, the right one streams, in bearer mode (--token-file) and in kubernetes mode
// (the kubeconfig user's token: a static token, an exec credential plugin; a client-certificate
// user is told what to do); https with a CA made in the test; the kubeconfig token is never sent
// to an agent that does not ask for it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetEvent } from '../../src/events/model.js';
import { EventPipeline } from '../../src/events/pipeline.js';
import { SERVER_SECTION, type ServerConfig } from '../../src/exporters/server-config.js';
import { KubeClient } from '../../src/k8s/index.js';
import { createLogger } from '../../src/log.js';
import { StreamSink } from '../../src/sinks/stream.js';
import { FakeKubeApi } from '../helpers/kube-api.js';
import { CLI } from '../helpers/paths.js';
import { makeCa, makeCert, type TestCa } from '../helpers/tls.js';
import { stopProcess, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'kubesonar-watch-auth-'));
const log = createLogger(() => {});
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const ev = (msg: string): NetEvent => ({ timeUnixNano: 1741163909810866660n, type: 'TCP_SEND_RST_NOSock', probe: 'tcpreset', severity: 'WARN', msg, netns: 1, attrs: {} });

interface Agent { pipeline: EventPipeline; sink: StreamSink; port: number }
const agents: Agent[] = [];
after(async () => { for (const a of agents) await a.pipeline.close(500); });

async function agent(patch: (c: ServerConfig) => void, kube?: () => Promise<KubeClient>): Promise<Agent> {
  const c = structuredClone(SERVER_SECTION.defaults);
  patch(c);
  const sink = new StreamSink({ log, kube, env: {} });
  await sink.listen(0, '127.0.0.1', c);
  const pipeline = new EventPipeline({ nodeName: 'node-a', resolve: () => undefined });
  pipeline.setSink(sink, { batchMaxWaitMs: 1 });
  const a = { pipeline, sink, port: sink.address!.port };
  agents.push(a);
  return a;
}

/** A home without a kubeconfig unless the test gives one. */
const home = mkdtempSync(join(dir, 'home-'));
const ENV = { ...process.env, NO_COLOR: '', HOME: home, KUBECONFIG: '' };

interface Watch { child: ChildProcess; out: () => string[]; err: () => string }
function runWatch(args: string[], env: Record<string, string | undefined> = {}): Watch {
  const child = spawn(process.execPath, [CLI, 'watch', '-o', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...ENV, ...env } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return { child, out: () => out.split('\n').filter(Boolean), err: () => err };
}

async function exitCode(w: Watch): Promise<number | null> {
  await waitFor('watch to exit', () => w.child.exitCode !== null, 15_000, () => w.err());
  return w.child.exitCode;
}

/** Connects, sees one event through, and stops the watch (exit 0). */
async function streams(w: Watch, a: Agent, what: string): Promise<void> {
  await waitFor(`${what}: connected`, () => w.err().includes(`127.0.0.1:${a.port}: connected`), 15_000, () => w.err());
  a.pipeline.publish(ev(what));
  await waitFor(`${what}: the event`, () => w.out().some((l) => l.includes(what)), 10_000, () => w.err());
  assert.equal(await stopProcess(w.child, 'SIGTERM', 5000), 0);
}

function kubeconfig(name: string, user: Record<string, unknown>): string {
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'c', cluster: { server: 'https://10.96.0.1' } }],
    contexts: [{ name: 'test', context: { cluster: 'c', user: name } }],
    users: [{ name, user }],
  }));
  return file;
}

describe('watch: bearer mode', () => {
  const tokenFile = join(dir, 'agent-token');
  let a: Agent;
  before(async () => {
    writeFileSync(tokenFile, 'the-right-token\n');
    a = await agent((c) => { c.auth.events = 'bearer'; c.bearer_token_file = tokenFile; });
  });

  test('no token (and no kubeconfig): 401, one line saying there is nothing to send, exit 2', async () => {
    const w = runWatch(['-e', `127.0.0.1:${a.port}`]);
    assert.equal(await exitCode(w), 2);
    assert.match(w.err(), new RegExp(`^kubesonar watch: 127\\.0\\.0\\.1:${a.port}: the agent asks for a token \\(HTTP 401\\), and there is none to send: no kubeconfig \\(neither \\$KUBECONFIG nor ~/\\.kube/config\\)\\n$`));
  });

  test('a wrong token: 403, exit 2, naming where the token came from', async () => {
    const wrong = join(dir, 'wrong-token');
    writeFileSync(wrong, 'not-it\n');
    const w = runWatch(['-e', `127.0.0.1:${a.port}`, '--token-file', wrong]);
    assert.equal(await exitCode(w), 2);
    assert.equal(w.err(), `kubesonar watch: 127.0.0.1:${a.port}: HTTP 403: forbidden: wrong bearer token (token from --token-file ${wrong})\n`);
  });

  test('the right token streams; no warning about TLS on loopback', async () => {
    const mine = join(dir, 'my-token');
    writeFileSync(mine, 'the-right-token\n');
    const w = runWatch(['-e', `127.0.0.1:${a.port}`, '--token-file', mine]);
    await streams(w, a, 'bearer event');
    assert.ok(!w.err().includes('without TLS'));
  });
});

describe('watch: kubernetes mode, the kubeconfig user', () => {
  let api: FakeKubeApi;
  let a: Agent;
  before(async () => {
    api = await new FakeKubeApi({ token: 'agent-sa-token' }).start();
    api.addToken('bob-token', { username: 'bob', groups: ['system:authenticated', 'oncall'] });
    api.addToken('alice-token', { username: 'alice' });
    api.grant({ groups: ['oncall'], nonResourceURLs: ['/events'], verbs: ['get'], role: 'kubesonar-events-reader' });
    a = await agent((c) => { c.auth.events = 'kubernetes'; }, async () => new KubeClient({ server: api.url, token: 'agent-sa-token' }));
  });
  after(() => api?.stop());

  test('no token: 401 and exit 2', async () => {
    const w = runWatch(['-e', `127.0.0.1:${a.port}`]);
    assert.equal(await exitCode(w), 2);
    assert.match(w.err(), /the agent asks for a token \(HTTP 401\), and there is none to send: no kubeconfig/);
  });

  test('a user without the grant: 403 naming the user, exit 2', async () => {
    const file = kubeconfig('alice', { token: 'alice-token' });
    const w = runWatch(['-e', `127.0.0.1:${a.port}`], { KUBECONFIG: file });
    assert.equal(await exitCode(w), 2);
    assert.equal(w.err(), `kubesonar watch: 127.0.0.1:${a.port}: HTTP 403: forbidden: user "alice" may not get /events (a ClusterRole with nonResourceURLs: ["/events"] grants it) (token from kubeconfig ${file}, user alice)\n`);
  });

  test('a granted user streams: a token in the kubeconfig ($KUBECONFIG), or from an exec credential plugin (--kubeconfig)', async () => {
    const w = runWatch(['-e', `127.0.0.1:${a.port}`], { KUBECONFIG: kubeconfig('bob', { token: 'bob-token' }) });
    await streams(w, a, 'kubeconfig token event');

    const plugin = join(dir, 'token-plugin.mjs');
    writeFileSync(plugin, [
      '#!/usr/bin/env node',
      'const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);',
      'if (info.kind !== "ExecCredential" || process.env.TEAM !== "oncall") process.exit(3);',
      'console.log(JSON.stringify({ apiVersion: info.apiVersion, kind: "ExecCredential", status: { token: "bob-token", expirationTimestamp: new Date(Date.now() + 3600e3).toISOString() } }));',
    ].join('\n'));
    chmodSync(plugin, 0o755);
    const file = kubeconfig('bob-exec', { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], env: [{ name: 'TEAM', value: 'oncall' }] } });
    const e = runWatch(['-e', `127.0.0.1:${a.port}`, '--kubeconfig', file]);
    await streams(e, a, 'exec plugin event');
  });

  test('a client-certificate user is told a TokenReview cannot check it, and what to use', async () => {
    const file = kubeconfig('admin', { 'client-certificate-data': 'LS0t', 'client-key-data': 'LS0t' });
    const w = runWatch(['-e', `127.0.0.1:${a.port}`, '--kubeconfig', file]);
    assert.equal(await exitCode(w), 2);
    assert.match(w.err(), /user admin authenticates with a client certificate, which a TokenReview cannot check: use --token-file with a token \(e\.g\. kubectl create token <serviceaccount>\)\n$/);
  });
});

describe('watch: what is sent where', () => {
  let server: Server;
  const seen: (string | undefined)[] = [];
  before(async () => {
    // An agent with an open stream: records the Authorization header of every request.
    server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"timestamp":1,"type":"TCP_SEND_RST_NOSock","msg":"open agent"}\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

  test('the kubeconfig token goes only to agents that answer 401', async () => {
    const port = (server.address() as AddressInfo).port;
    const w = runWatch(['-e', `127.0.0.1:${port}`], { KUBECONFIG: kubeconfig('carol', { token: 'carol-secret' }) });
    await waitFor('the line', () => w.out().some((l) => l.includes('open agent')), 10_000, () => w.err());
    assert.equal(await stopProcess(w.child, 'SIGTERM', 5000), 0);
    assert.deepEqual(seen, [undefined]);
  });
});

describe('watch: https', () => {
  let ca: TestCa;
  let a: Agent;
  before(async () => {
    ca = makeCa(dir);
    const cert = makeCert(dir, ca, 'agent');
    a = await agent((c) => { c.tls = { cert_file: cert.certFile, key_file: cert.keyFile }; c.auth.events = 'loopback'; });
  });

  test('https://HOST:PORT with --ca-file streams; without the CA the certificate is reported untrusted; plain http is told to use https', async () => {
    const caFile = join(dir, 'ca.crt');
    const w = runWatch(['-e', `https://127.0.0.1:${a.port}`, '--ca-file', caFile]);
    await waitFor('connected', () => w.err().includes(`https://127.0.0.1:${a.port}: connected`), 15_000, () => w.err());
    a.pipeline.publish(ev('over TLS'));
    await waitFor('the event', () => w.out().some((l) => l.includes('over TLS')), 10_000, () => w.err());
    assert.equal(await stopProcess(w.child, 'SIGTERM', 5000), 0);

    const untrusted = runWatch(['-e', `https://127.0.0.1:${a.port}`]);
    await waitFor('the TLS complaint', () => /the agent's certificate is not trusted \(\w+\); give --ca-file with the CA that signed it; retrying/.test(untrusted.err()), 15_000, () => untrusted.err());
    assert.equal(await stopProcess(untrusted.child, 'SIGTERM', 5000), 0);

    const plain = runWatch(['-e', `127.0.0.1:${a.port}`]);
    await waitFor('the hint', () => /\(if the agent serves TLS, give https:\/\/HOST:PORT\); retrying/.test(plain.err()), 15_000, () => plain.err());
    assert.equal(await stopProcess(plain.child, 'SIGTERM', 5000), 0);
  });
});
