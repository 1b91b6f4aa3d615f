// Who may read /metrics, /status and /events: each endpoint on the real servers (the metrics
// server and the event stream) in bearer mode and in kubernetes mode against the fake API
// server's TokenReview and SubjectAccessReview; the verdict cache (hits, expiry, bound, what is
// never cached); the loopback mode and what `auto` chooses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EndpointAccess } from '../../src/exporters/access.js';
import { MetricsServer } from '../../src/exporters/http-server.js';
import { SERVER_SECTION, type AuthMode, type ServerConfig } from '../../src/exporters/server-config.js';
import { KubeClient } from '../../src/k8s/index.js';
import { createLogger } from '../../src/log.js';
import { StreamSink } from '../../src/sinks/stream.js';
import { TtlCache } from '../../src/util/ttl-cache.js';
import { fakeEndpointSource } from '../helpers/endpoint-source.js';
import { httpGet } from '../helpers/http-client.js';
import { FakeKubeApi } from '../helpers/kube-api.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'kubesonar-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const logs: string[] = [];
const log = createLogger((l) => logs.push(l));

const source = fakeEndpointSource({ '/debug/config': () => ({ secret: 'debug' }) });

function serverConfig(modes: Partial<Record<'metrics' | 'status' | 'events', AuthMode>>, extra: Partial<ServerConfig> = {}): ServerConfig {
  const d = structuredClone(SERVER_SECTION.defaults);
  return { ...d, ...extra, auth: { ...d.auth, ...modes }, kubernetes: { ...d.kubernetes, ...extra.kubernetes }, limits: { ...d.limits, ...extra.limits } };
}

interface Servers {
  metrics: MetricsServer;
  stream: StreamSink;
  /** [endpoint, port, path] of the three protected endpoints. */
  endpoints: [string, number, string][];
  close(): Promise<void>;
}

async function servers(config: ServerConfig, kube?: () => Promise<KubeClient>): Promise<Servers> {
  const metrics = new MetricsServer(source, { log, kube, env: {} });
  await metrics.listen(0, config);
  const stream = new StreamSink({ log, kube, env: {} });
  await stream.listen(0, '127.0.0.1', config);
  const m = metrics.address!.port;
  const s = stream.address!.port;
  return {
    metrics, stream,
    endpoints: [['metrics', m, '/metrics'], ['status', m, '/status'], ['events', s, '/events']],
    close: async () => { await metrics.close(); await stream.close(); },
  };
}

const get = (port: number, path: string, token?: string) => httpGet(port, path, { token, headersOnly: path === '/events' });

describe('bearer mode', () => {
  const tokenFile = join(dir, 'token');
  let s: Servers;
  before(async () => {
    writeFileSync(tokenFile, 'right-token-1\n');
    s = await servers(serverConfig({ metrics: 'bearer', status: 'bearer', events: 'bearer' }, { bearer_token_file: tokenFile }));
  });
  after(() => s.close());

  test('each endpoint: no token 401 with a Bearer challenge, a wrong token 403, the right token 200', async () => {
    for (const [name, port, path] of s.endpoints) {
      const none = await get(port, path);
      assert.equal(none.status, 401, `${name} without a token`);
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="kubesonar"');
      assert.equal(none.body, 'authentication required: send Authorization: Bearer <token>\n');
      const wrong = await get(port, path, 'right-token-2');
      assert.equal(wrong.status, 403, `${name} with a wrong token`);
      assert.equal(wrong.body, 'forbidden: wrong bearer token\n');
      assert.equal((await get(port, path, 'right-token-1')).status, 200, `${name} with the right token`);
    }
    // Not a bearer credential at all.
    assert.equal((await httpGet(s.endpoints[0]![1], '/metrics', { headers: { authorization: 'Basic cmlnaHQtdG9rZW4tMQ==' } })).status, 401);
    const body = await get(s.endpoints[1]![1], '/status', 'right-token-1');
    assert.deepEqual(JSON.parse(body.body), { node: 'test-node' });
  });

  test('the debug routes are guarded like /status; /healthz, / and unknown paths need nothing', async () => {
    const port = s.endpoints[0]![1];
    assert.equal((await get(port, '/debug/config')).status, 401);
    assert.equal((await get(port, '/debug/config', 'right-token-1')).status, 200);
    assert.deepEqual(await get(port, '/healthz').then((r) => [r.status, r.body]), [200, 'ok\n']);
    assert.equal((await get(port, '/')).status, 200);
    assert.equal((await get(port, '/nothing')).status, 404);
    assert.equal((await get(s.endpoints[2]![1], '/')).status, 200, 'the stream\'s usage text');
  });

  test('a rotated token file applies to the next request', async () => {
    const next = join(dir, 'token.next');
    writeFileSync(next, 'right-token-2\n');
    renameSync(next, tokenFile); // what a Secret volume update amounts to: a new file in place
    for (const [name, port, path] of s.endpoints) {
      assert.equal((await get(port, path, 'right-token-1')).status, 403, `${name}: the old token`);
      assert.equal((await get(port, path, 'right-token-2')).status, 200, `${name}: the new token`);
    }
  });

  test('a token file that cannot be read or is empty refuses to start the server, naming the file', async () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    const m = new MetricsServer(source, { log, env: {} });
    await assert.rejects(m.listen(0, serverConfig({ metrics: 'bearer' }, { bearer_token_file: empty })), new RegExp(`server.bearer_token_file ${empty}: the file is empty`));
    await assert.rejects(m.listen(0, serverConfig({ metrics: 'bearer' }, { bearer_token_file: join(dir, 'missing') })), /server.bearer_token_file .*missing: ENOENT/);
    assert.equal(m.address, undefined, 'nothing listens');
  });
});

describe('kubernetes mode (TokenReview + SubjectAccessReview)', () => {
  let api: FakeKubeApi;
  let s: Servers;
  const kube = () => Promise.resolve(new KubeClient({ server: api.url, token: 'agent-sa-token' }));
  const READER = 'system:serviceaccount:monitoring:prometheus';

  before(async () => {
    api = await new FakeKubeApi({ token: 'agent-sa-token' }).start();
    api.addToken('reader-token', { username: READER, groups: ['system:serviceaccounts', 'system:authenticated'] });
    api.addToken('alice-token', { username: 'alice', groups: ['system:authenticated'] });
    api.grant({ users: [READER], nonResourceURLs: ['/metrics', '/status', '/events'], verbs: ['get'], role: 'kubesonar-reader' });
    s = await servers(serverConfig({ metrics: 'kubernetes', status: 'kubernetes', events: 'kubernetes' }), kube);
  });
  after(async () => {
    await s?.close();
    await api?.stop();
  });

  test('each endpoint: no token 401, a token the API does not know 401, a user without the grant 403, a granted user 200', async () => {
    for (const [name, port, path] of s.endpoints) {
      const none = await get(port, path);
      assert.equal(none.status, 401, `${name} without a token`);
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="kubesonar"');
      const unknown = await get(port, path, 'forged-token');
      assert.equal(unknown.status, 401, `${name} with a token the API does not know`);
      assert.match(unknown.body, /^token not accepted by the Kubernetes API: \[invalid bearer token/);
      const alice = await get(port, path, 'alice-token');
      assert.equal(alice.status, 403, `${name} for a user without the grant`);
      assert.equal(alice.body, `forbidden: user "alice" may not get ${path} (a ClusterRole with nonResourceURLs: ["${path}"] grants it)\n`);
      assert.equal((await get(port, path, 'reader-token')).status, 200, `${name} for the granted user`);
    }
    // The reviews asked what the server was asked: the path as a nonResourceURL, verb get.
    const status = s.metrics.status() as { auth: { modes: unknown }; requests: unknown };
    assert.deepEqual(status.auth.modes, { metrics: 'kubernetes', status: 'kubernetes' });
    const each = { no_token: 1, bad_token: 1, forbidden: 1, allowed: 1 };
    assert.deepEqual(status.requests, { metrics: each, status: each });
    assert.deepEqual(s.stream.requestPoints().map((p) => [p.attributes!.endpoint, p.attributes!.result, p.value]),
      [['events', 'no_token', 1], ['events', 'bad_token', 1], ['events', 'forbidden', 1], ['events', 'allowed', 1]]);
  });

  test('verdicts are cached per token and path, granted and refused alike; a new path is a new review', async () => {
    const [, port] = s.endpoints[0]!;
    const tr = api.reviews('tokenreviews');
    const sar = api.reviews('subjectaccessreviews');
    for (let i = 0; i < 5; i++) {
      assert.equal((await get(port, '/metrics', 'reader-token')).status, 200);
      assert.equal((await get(port, '/metrics', 'alice-token')).status, 403);
      assert.equal((await get(port, '/metrics', 'forged-token')).status, 401);
    }
    assert.equal(api.reviews('tokenreviews'), tr, 'no TokenReview for cached verdicts');
    assert.equal(api.reviews('subjectaccessreviews'), sar);
    assert.equal((await get(port, '/debug/config', 'reader-token')).status, 403, 'the debug routes need their own grant');
    assert.equal(api.reviews('subjectaccessreviews'), sar + 1);
  });

  test('concurrent requests with one token share one review; beyond max_pending_reviews new tokens get 503', async () => {
    const cfg = serverConfig({ metrics: 'kubernetes' }, { kubernetes: { ...SERVER_SECTION.defaults.kubernetes, max_pending_reviews: 1 } });
    const m = new MetricsServer(source, { log, kube, env: {} });
    await m.listen(0, cfg);
    const port = m.address!.port;
    api.addToken('reader-token-2', { username: READER });
    api.addToken('reader-token-3', { username: READER });
    api.reviewDelayMs = 300;
    try {
      const tr = api.reviews('tokenreviews');
      const same = await Promise.all([1, 2, 3].map(() => get(port, '/metrics', 'reader-token')));
      assert.deepEqual(same.map((r) => r.status), [200, 200, 200]);
      assert.equal(api.reviews('tokenreviews'), tr + 1, 'one review for three requests');
      // Whichever arrives second finds the one review slot taken.
      const two = await Promise.all([get(port, '/metrics', 'reader-token-2'), get(port, '/metrics', 'reader-token-3')]);
      assert.deepEqual(two.map((r) => r.status).sort(), [200, 503]);
      const refused = two.find((r) => r.status === 503)!;
      assert.equal(refused.body, 'too many token reviews in flight; retry\n');
      assert.equal(refused.headers['retry-after'], '5');
    } finally {
      api.reviewDelayMs = 0;
      await m.close();
    }
  });

  test('cached verdicts expire; the cache is bounded (the oldest entry goes)', async () => {
    const cfg = serverConfig({ metrics: 'kubernetes', status: 'kubernetes' }, { kubernetes: { ...SERVER_SECTION.defaults.kubernetes, allow_cache_seconds: 1, cache_entries: 2 } });
    const m = new MetricsServer(source, { log, kube, env: {} });
    await m.listen(0, cfg);
    const port = m.address!.port;
    try {
      const tr = () => api.reviews('tokenreviews');
      const start = tr();
      await get(port, '/metrics', 'reader-token');
      await get(port, '/metrics', 'reader-token');
      assert.equal(tr(), start + 1);
      const cachedAt = Date.now();
      // Expiry: requests keep coming; a new review happens once the second has passed.
      await waitFor('a review after the cached verdict expired', async () => (await get(port, '/metrics', 'reader-token'), tr() === start + 2), 5000);
      assert.ok(Date.now() - cachedAt >= 900, `re-reviewed after ${Date.now() - cachedAt} ms, before the 1 s cache time`);
      // Bound: two entries; a third pushes out the oldest (reader /metrics), which is then reviewed again.
      await get(port, '/status', 'reader-token');
      await get(port, '/metrics', 'alice-token');
      const before3 = tr();
      await get(port, '/metrics', 'reader-token');
      assert.equal(tr(), before3 + 1, 'the evicted verdict was reviewed again');
      await get(port, '/metrics', 'alice-token');
      assert.equal(tr(), before3 + 1, 'the younger entry is still cached');
    } finally {
      await m.close();
    }
  });

  test('no verdict from the API: 503 with the reason, logged once, never cached; the API back means 200', async () => {
    const [, port] = s.endpoints[0]!;
    api.addToken('late-token', { username: READER });
    api.canReview = false; // the agent's ServiceAccount lacks create on tokenreviews
    const denied = await get(port, '/metrics', 'late-token');
    assert.equal(denied.status, 503);
    assert.match(denied.body, /^cannot review the token: POST \/apis\/authentication.k8s.io\/v1\/tokenreviews: HTTP 403 Forbidden: tokenreviews.authentication.k8s.io is forbidden/);
    api.canReview = true;
    assert.equal((await get(port, '/metrics', 'late-token')).status, 200, 'the 503 was not cached');

    await api.stop();
    api.addToken('later-token', { username: READER });
    const down = await get(port, '/metrics', 'later-token');
    assert.equal(down.status, 503);
    assert.match(down.body, /^cannot review the token: Kubernetes API http:\/\/127.0.0.1:\d+ unreachable: POST \/apis\/authentication.k8s.io\/v1\/tokenreviews: ECONNREFUSED/);
    await get(port, '/metrics', 'later-token');
    assert.equal(logs.filter((l) => l.includes('endpoint authentication unavailable') && l.includes('ECONNREFUSED')).length, 1, 'logged once');
    await api.start();
    assert.equal((await get(port, '/metrics', 'later-token')).status, 200);
    assert.ok(logs.some((l) => l.includes('endpoint authentication available again')));
  });

  test('audiences: a token must be for one of them', async () => {
    const cfg = serverConfig({ metrics: 'kubernetes' }, { kubernetes: { ...SERVER_SECTION.defaults.kubernetes, audiences: ['kubesonar'] } });
    api.addToken('aud-token', { username: READER, audiences: ['kubesonar'] });
    const m = new MetricsServer(source, { log, kube, env: {} });
    await m.listen(0, cfg);
    try {
      assert.equal((await get(m.address!.port, '/metrics', 'aud-token')).status, 200);
      const other = await get(m.address!.port, '/metrics', 'reader-token');
      assert.equal(other.status, 401, 'a token issued for the API server only');
    } finally {
      await m.close();
    }
  });

  test('without a Kubernetes configuration the server does not start, and says why', async () => {
    const m = new MetricsServer(source, { log, env: {}, kube: () => KubeClient.inCluster({ env: {} }) });
    await assert.rejects(m.listen(0, serverConfig({ metrics: 'kubernetes' })),
      /^Error: server.auth.metrics: kubernetes mode needs the API server: not in a Kubernetes pod: KUBERNETES_SERVICE_HOST\/KUBERNETES_SERVICE_PORT are not set$/);
  });
});

describe('loopback mode and auto', () => {
  const fakeReq = (remoteAddress: string, authorization?: string) =>
    ({ socket: { remoteAddress }, headers: authorization ? { authorization } : {} }) as unknown as IncomingMessage;

  test('loopback admits 127.0.0.0/8 and ::1 (also IPv4-mapped), refuses other addresses with 403', async () => {
    const access = await EndpointAccess.create(serverConfig({ events: 'loopback' }), ['events'], { log, env: {} });
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(await access.check(fakeReq(a), 'events', '/events'), undefined, a);
    for (const a of ['10.0.0.7', '::ffff:10.0.0.7', 'fd00::7', '::ffff:128.0.0.1']) {
      assert.deepEqual(await access.check(fakeReq(a), 'events', '/events'),
        { status: 403, reason: 'not_loopback', message: 'forbidden: this endpoint answers loopback clients only (server.auth)' }, a);
    }
  });

  test('auto: bearer with a token file, kubernetes in a pod, loopback otherwise; the stream then binds 127.0.0.1 only', async () => {
    const tokenFile = join(dir, 'auto-token');
    writeFileSync(tokenFile, 'tok\n');
    const modes = async (c: ServerConfig, env: Record<string, string>) =>
      (await EndpointAccess.create(c, ['metrics', 'status', 'events'], { log, env, kube: async () => new KubeClient({ server: 'http://127.0.0.1:1' }) })).modes;
    assert.deepEqual(await modes(serverConfig({}), {}), { metrics: 'none', status: 'none', events: 'loopback' });
    assert.deepEqual(await modes(serverConfig({}), { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), { metrics: 'none', status: 'none', events: 'kubernetes' });
    assert.deepEqual(await modes(serverConfig({ metrics: 'auto' }, { bearer_token_file: tokenFile }), { KUBERNETES_SERVICE_HOST: '10.96.0.1' }),
      { metrics: 'bearer', status: 'none', events: 'bearer' });

    const stream = new StreamSink({ log, env: {} });
    await stream.listen(0); // default config, no host given
    try {
      assert.equal(stream.address!.address, '127.0.0.1');
      assert.equal((await get(stream.address!.port, '/events')).status, 200, 'a loopback client needs no token');
    } finally {
      await stream.close();
    }
  });

  test('TtlCache: expiry, bound, and a zero time stores nothing', () => {
    let now = 1000;
    const c = new TtlCache<string>(2, () => now);
    c.set('a', 'A', 100);
    c.set('b', 'B', 100);
    c.set('c', 'C', 100);
    assert.equal(c.get('a'), undefined, 'the oldest went');
    assert.equal(c.get('b'), 'B');
    now += 100;
    assert.equal(c.get('b'), undefined, 'expired');
    c.set('d', 'D', 0);
    assert.equal(c.get('d'), undefined);
    assert.equal(c.size, 1);
  });
});
