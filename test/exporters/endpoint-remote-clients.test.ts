// The endpoints as a client on another host sees them: a network namespace made by the test,
// joined to the host by a veth pair, sends real requests to the host end's address. Loopback
// mode refuses it (the request arrives on a dual-stack socket from 10.200.x.x), kubernetes mode
// asks it for a token, and the default stream outside a pod is not even reachable.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { MetricsServer } from '../../src/exporters/http-server.js';
import { SERVER_SECTION, type ServerConfig } from '../../src/exporters/server-config.js';
import { KubeClient } from '../../src/k8s/index.js';
import { createLogger } from '../../src/log.js';
import { StreamSink } from '../../src/sinks/stream.js';
import { fakeEndpointSource } from '../helpers/endpoint-source.js';
import { httpGet } from '../helpers/http-client.js';
import { FakeKubeApi } from '../helpers/kube-api.js';
import { cleanup, createNetns, run, veth, type Netns } from '../helpers/netns.js';

const SUBNET = 231;
const HOST_ADDR = `10.200.${SUBNET}.2`;
const log = createLogger(() => {});
const source = fakeEndpointSource();

let ns: Netns;
let api: FakeKubeApi;
let metrics: MetricsServer;
let stream: StreamSink;
let defaultStream: StreamSink;

before(async () => {
  ns = await createNetns();
  const v = veth(ns, 'host', SUBNET);
  run('ip', 'addr', 'add', `${HOST_ADDR}/24`, 'dev', v.bDev);
  api = await new FakeKubeApi({ token: 'agent-sa-token' }).start();
  api.addToken('watcher-token', { username: 'oncall-sa' });
  api.grant({ users: ['oncall-sa'], nonResourceURLs: ['/events'], verbs: ['get'] });
  const config: ServerConfig = { ...structuredClone(SERVER_SECTION.defaults), auth: { metrics: 'loopback', status: 'none', events: 'kubernetes' } };
  const kube = async () => new KubeClient({ server: api.url, token: 'agent-sa-token' });
  metrics = new MetricsServer(source, { log, kube, env: {} });
  await metrics.listen(0, config);
  stream = new StreamSink({ log, kube, env: {} });
  await stream.listen(0, undefined, config);
  defaultStream = new StreamSink({ log, env: {} });
  await defaultStream.listen(0);
});

after(async () => {
  await metrics?.close();
  await stream?.close();
  await defaultStream?.close();
  await api?.stop();
  cleanup();
});

/** GET from inside the namespace: the status, or the error code. Asynchronous: the servers answer from this process. */
function getFromNetns(port: number, path: string, token?: string): Promise<string> {
  const script = `
    const req = require('http').get({ host: '${HOST_ADDR}', port: ${port}, path: '${path}', headers: ${JSON.stringify(token ? { authorization: `Bearer ${token}` } : {})} }, (res) => {
      console.log(res.statusCode); process.exit(0);
    });
    req.on('error', (e) => { console.log(e.code); process.exit(0); });
    req.setTimeout(5000, () => { console.log('TIMEOUT'); process.exit(0); });`;
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns.name, process.execPath, '-e', script], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
  });
}

test('loopback mode: a client on another address gets 403, the node itself 200; an open endpoint answers both', async () => {
  const port = metrics.address!.port;
  assert.equal(await getFromNetns(port, '/metrics'), '403');
  assert.equal(await getFromNetns(port, '/status'), '200');
  assert.equal((await httpGet(port, '/metrics')).status, 200);
  const st = metrics.status() as { requests: unknown };
  assert.deepEqual(st.requests, { metrics: { not_loopback: 1, allowed: 1 }, status: { allowed: 1 } });
});

test('kubernetes mode: a remote client without a token 401, with a granted ServiceAccount token 200', async () => {
  const port = stream.address!.port;
  assert.equal(await getFromNetns(port, '/events'), '401');
  assert.equal(await getFromNetns(port, '/events', 'other'), '401');
  assert.equal(await getFromNetns(port, '/events', 'watcher-token'), '200');
});

test('outside a pod, the default stream listens on 127.0.0.1 only: unreachable from another host', async () => {
  assert.equal(defaultStream.address!.address, '127.0.0.1');
  assert.equal(await getFromNetns(defaultStream.address!.port, '/events'), 'ECONNREFUSED');
  assert.equal((await httpGet(defaultStream.address!.port, '/events', { headersOnly: true })).status, 200);
});
