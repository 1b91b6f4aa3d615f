// The Kubernetes client's reviews (TokenReview, SubjectAccessReview) against the fake API
// server's strict wire format; the bounds on what an API server (or something posing as one)
// can make the client hold: response size, watch line length, the whole time of a request;
// and the kubeconfig token lookup `kubesonar watch` uses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApiError, KubeClient, kubeconfigToken, reviewAccess, reviewToken } from '../../src/k8s/index.js';
import { FakeKubeApi } from '../helpers/kube-api.js';

const dir = mkdtempSync(join(tmpdir(), 'kubesonar-k8s-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('reviews', () => {
  let api: FakeKubeApi;
  let kube: KubeClient;
  before(async () => {
    api = await new FakeKubeApi({ token: 'agent' }).start();
    kube = new KubeClient({ server: api.url, token: 'agent' });
    api.addToken('t-bob', { username: 'bob', uid: 'u-1', groups: ['devs', 'system:authenticated'], audiences: ['https://kubernetes.default.svc', 'kubesonar'] });
    api.grant({ groups: ['devs'], nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] });
  });
  after(async () => {
    await kube.close();
    await api.stop();
  });

  test('TokenReview: the user of a known token, a one-line reason for others, audiences checked', async () => {
    assert.deepEqual(await reviewToken(kube, 't-bob'), { authenticated: true, user: { username: 'bob', uid: 'u-1', groups: ['devs', 'system:authenticated'] } });
    const unknown = await reviewToken(kube, 'nope');
    assert.equal(unknown.authenticated, false);
    assert.match((unknown as { error: string }).error, /invalid bearer token/);
    assert.equal((await reviewToken(kube, 't-bob', ['kubesonar'])).authenticated, true);
    assert.equal((await reviewToken(kube, 't-bob', ['other'])).authenticated, false);
  });

  test('SubjectAccessReview of a nonResourceURL: by group, wildcard paths, verbs', async () => {
    const bob = { username: 'bob', groups: ['devs'] };
    assert.equal((await reviewAccess(kube, bob, '/metrics', 'get')).allowed, true);
    assert.equal((await reviewAccess(kube, bob, '/debug/config', 'get')).allowed, true);
    assert.equal((await reviewAccess(kube, bob, '/events', 'get')).allowed, false);
    assert.equal((await reviewAccess(kube, bob, '/metrics', 'delete')).allowed, false);
    assert.equal((await reviewAccess(kube, { username: 'eve' }, '/metrics', 'get')).allowed, false);
    // What the real server refuses, the fake refuses: neither user nor group.
    await assert.rejects(reviewAccess(kube, { username: '' }, '/metrics', 'get'), (e: KubeApiError) => e.status === 422 && /at least one of user or group/.test(e.message));
  });
});

describe('bounds', () => {
  let server: Server;
  let port = 0;
  let mode: 'big' | 'trickle' | 'longline' = 'big';
  before(async () => {
    server = createServer((req, res) => {
      if (mode === 'big') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [{ metadata: { name: 'x'.repeat(2 << 20) } }] }));
      } else if (mode === 'trickle') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"kind":"PodList",');
        const t = setInterval(() => res.write(' '), 100); // never idle long enough for the body timeout
        res.on('close', () => clearInterval(t));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"type":"ADDED","object":{"metadata":{"name":"');
        const chunk = 'y'.repeat(256 * 1024);
        const pump = () => { while (!res.destroyed && res.write(chunk)); };
        res.on('drain', pump);
        pump();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

  test('a response body over maxResponseBytes is abandoned with a TooLarge error', async () => {
    mode = 'big';
    const kube = new KubeClient({ server: `http://127.0.0.1:${port}`, maxResponseBytes: 1 << 20 });
    await assert.rejects(kube.list('/api/v1/pods'), (e: KubeApiError) => e.reason === 'TooLarge' && /^GET \/api\/v1\/pods: response larger than 1048576 bytes$/.test(e.message));
    await kube.close();
    const roomy = new KubeClient({ server: `http://127.0.0.1:${port}`, maxResponseBytes: 4 << 20 });
    assert.equal((await roomy.list('/api/v1/pods')).items.length, 1, 'the same answer within the bound');
    await roomy.close();
  });

  test('a body that never completes ends at requestTimeoutMs', async () => {
    mode = 'trickle';
    const kube = new KubeClient({ server: `http://127.0.0.1:${port}`, requestTimeoutMs: 700 });
    const started = Date.now();
    await assert.rejects(kube.get('/api/v1/namespaces/x/pods/y'), (e: KubeApiError) => e.reason === 'Timeout' && /no complete answer within 700 ms/.test(e.message));
    const took = Date.now() - started;
    assert.ok(took >= 650 && took < 3000, `gave up after ${took} ms`);
    await kube.close();
  });

  test('a watch line longer than maxResponseBytes is refused', async () => {
    mode = 'longline';
    const kube = new KubeClient({ server: `http://127.0.0.1:${port}`, maxResponseBytes: 1 << 20 });
    const watch = async () => { for await (const _ of kube.watch('/api/v1/pods', '1')) { /* no event completes */ } };
    await assert.rejects(watch(), (e: KubeApiError) => e.reason === 'TooLarge' && /an event longer than 1048576 bytes/.test(e.message));
    await kube.close();
  });
});

describe('kubeconfig token', () => {
  const write = (name: string, user: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify({
      'current-context': 'a', contexts: [{ name: 'a', context: { user: 'u' } }, { name: 'b', context: { user: 'missing' } }], users: [{ name: 'u', user }], ...extra,
    }));
    return file;
  };

  test('token, tokenFile (relative to the kubeconfig), and what cannot be used, each as one line', async () => {
    assert.equal((await kubeconfigToken({ file: write('k1', { token: 'abc' }) })).token, 'abc');
    writeFileSync(join(dir, 'tok'), 'from-file\n');
    assert.deepEqual(await kubeconfigToken({ file: write('k2', { tokenFile: 'tok' }) }), { token: 'from-file', source: `kubeconfig ${join(dir, 'k2')}, user u` });
    await assert.rejects(kubeconfigToken({ file: write('k3', { 'auth-provider': { name: 'oidc' } }) }), /auth-provider "oidc" is not supported; use an exec credential plugin or --token-file/);
    await assert.rejects(kubeconfigToken({ file: join(dir, 'k1'), context: 'b' }), /context "b" names user "missing", which is not in the file/);
    await assert.rejects(kubeconfigToken({ file: join(dir, 'k1'), context: 'zz' }), /no context "zz"/);
    await assert.rejects(kubeconfigToken({ file: write('k4', { exec: { command: process.execPath, args: ['-e', 'process.exit(4)'] } }) }), /\(exec .*\): exit 4$/);
    await assert.rejects(kubeconfigToken({ env: { KUBECONFIG: '', HOME: dir } }), /^Error: no kubeconfig/);
  });
});
