import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Informer, KubeApiError, KubeClient, type KubeObject, type WatchEvent } from '../../src/k8s/index.js';
import { FakeKubeApi, service } from '../helpers/kube-api.js';
import { TEST_TLS } from '../helpers/loki-receiver.js';
import { freePort } from '../helpers/net.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

async function rejectsWith(p: Promise<unknown>, check: (e: KubeApiError) => void): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KubeApiError, `not a KubeApiError: ${String(err)}`);
    check(err);
    return;
  }
  assert.fail('did not reject');
}

describe('KubeClient against the fake API server', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  before(async () => {
    api = await new FakeKubeApi().start();
    client = new KubeClient({ server: api.url, token: api.token, timeoutMs: 2000 });
    api.apply('v1/services', service('monitoring', 'grafana-loki', { clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 3100 }] }));
    api.apply('v1/services', service('default', 'kubernetes', { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443 }] }));
    api.apply('v1/configmaps', { metadata: { name: 'ip-masq-agent', namespace: 'kube-system', labels: { tier: 'node' } }, data: { config: 'nonMasqueradeCIDRs: []' } });
  });
  after(async () => {
    await client.close();
    await api.stop();
  });

  test('list: kind, apiVersion, resourceVersion, items with kind filled in', async () => {
    const list = await client.list('/api/v1/services');
    assert.equal(list.kind, 'ServiceList');
    assert.equal(list.apiVersion, 'v1');
    assert.match(list.metadata.resourceVersion, /^\d+$/);
    assert.deepEqual(list.items.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort(), ['default/kubernetes', 'monitoring/grafana-loki']);
    assert.ok(list.items.every((s) => s.kind === 'Service' && s.apiVersion === 'v1'));
    const req = api.requests.at(-1)!;
    assert.equal(req.path, '/api/v1/services');
    assert.deepEqual(req.query, {});
  });

  test('field and label selectors, namespaced paths, get', async () => {
    const byName = await client.list('/api/v1/services', { fieldSelector: 'metadata.name=grafana-loki' });
    assert.deepEqual(byName.items.map((s) => s.metadata.namespace), ['monitoring']);
    assert.deepEqual(api.requests.at(-1)!.query, { fieldSelector: 'metadata.name=grafana-loki' });
    const inNs = await client.list('/api/v1/namespaces/default/services');
    assert.deepEqual(inNs.items.map((s) => s.metadata.name), ['kubernetes']);
    const byLabel = await client.list('/api/v1/configmaps', { labelSelector: 'tier=node' });
    assert.equal(byLabel.items.length, 1);
    assert.equal((await client.list('/api/v1/configmaps', { labelSelector: 'tier!=node' })).items.length, 0);
    assert.equal((await client.list('/api/v1/configmaps', { labelSelector: 'tier in (node,edge),!missing' })).items.length, 1);
    assert.equal((await client.list('/api/v1/configmaps', { labelSelector: 'tier notin (node)' })).items.length, 0);
    await rejectsWith(client.list('/api/v1/configmaps', { labelSelector: 'tier=(' }), (e) => assert.equal(e.status, 400));
    const one = await client.get<KubeObject>('/api/v1/namespaces/kube-system/configmaps/ip-masq-agent');
    assert.equal(one.kind, 'ConfigMap');
    assert.deepEqual(one.data, { config: 'nonMasqueradeCIDRs: []' });
    assert.equal((await client.list('/apis/networking.k8s.io/v1/networkpolicies')).kind, 'NetworkPolicyList');
  });

  test('API errors carry the status and the Status message', async () => {
    await rejectsWith(client.list('/api/v1/services', { fieldSelector: 'spec.clusterIP=1.2.3.4' }), (e) => {
      assert.equal(e.status, 400);
      assert.match(e.message, /HTTP 400 BadRequest: "spec.clusterIP=1.2.3.4" is not a known field selector/);
    });
    await rejectsWith(client.get('/api/v1/namespaces/x/services/nope'), (e) => assert.equal(e.status, 404));
    await rejectsWith(client.list('/api/v1/widgets'), (e) => assert.equal(e.status, 404));
    const anonymous = new KubeClient({ server: api.url });
    const wrong = new KubeClient({ server: api.url, token: 'stolen' });
    try {
      await rejectsWith(anonymous.list('/api/v1/services'), (e) => assert.equal(e.status, 401));
      await rejectsWith(wrong.list('/api/v1/services'), (e) => assert.equal(e.status, 401));
    } finally {
      await anonymous.close();
      await wrong.close();
    }
  });

  test('watch: live ADDED, MODIFIED, DELETED and BOOKMARK after the list version', async () => {
    const list = await client.list('/api/v1/services', { fieldSelector: 'metadata.namespace=monitoring' });
    const ac = new AbortController();
    const seen: WatchEvent[] = [];
    const done = (async () => {
      for await (const ev of client.watch('/api/v1/services', list.metadata.resourceVersion, { fieldSelector: 'metadata.namespace=monitoring', signal: ac.signal })) seen.push(ev);
    })();
    await waitFor('watch open', () => api.openWatches === 1, 2000);
    const q = api.requests.at(-1)!.query;
    assert.deepEqual(q, { watch: 'true', allowWatchBookmarks: 'true', resourceVersion: list.metadata.resourceVersion, timeoutSeconds: '300', fieldSelector: 'metadata.namespace=monitoring' });
    api.apply('v1/services', service('monitoring', 'tempo', { ports: [{ port: 3200 }] }));
    api.apply('v1/services', service('default', 'ignored', { ports: [{ port: 80 }] })); // other namespace: filtered
    api.apply('v1/services', service('monitoring', 'tempo', { ports: [{ port: 3201 }] }));
    api.bookmark();
    api.delete('v1/services', 'monitoring', 'tempo');
    await waitFor('4 events', () => seen.length === 4, 2000);
    ac.abort();
    await done;
    await waitFor('watch closed on abort', () => api.openWatches === 0, 2000);
    assert.deepEqual(seen.map((e) => e.type), ['ADDED', 'MODIFIED', 'BOOKMARK', 'DELETED']);
    assert.equal(seen[0].object.kind, 'Service');
    assert.equal((seen[1].object.spec as { ports: Array<{ port: number }> }).ports[0].port, 3201);
    const rvs = seen.map((e) => Number(e.object.metadata.resourceVersion));
    assert.ok(rvs.every((v, i) => i === 0 || v >= rvs[i - 1]), `resource versions ascend: ${rvs}`);
  });

  test('watch from a compacted version throws 410 Gone', async () => {
    const list = await client.list('/api/v1/services');
    api.apply('v1/services', service('default', 'later', { ports: [{ port: 80 }] }));
    api.compact();
    await rejectsWith((async () => {
      for await (const _ of client.watch('/api/v1/services', list.metadata.resourceVersion)) { /* none */ }
    })(), (e) => {
      assert.equal(e.status, 410);
      assert.ok(e.gone);
    });
    api.delete('v1/services', 'default', 'later');
  });

  test('bad watch parameters are rejected by the fake (strictness)', async () => {
    const res = await fetch(`${api.url}/api/v1/services?watch=true&resourceVersion=abc`, { headers: { authorization: `Bearer ${api.token}` } });
    assert.equal(res.status, 400);
    const res2 = await fetch(`${api.url}/api/v1/services?wacth=true`, { headers: { authorization: `Bearer ${api.token}` } });
    assert.equal(res2.status, 400);
    assert.match(((await res2.json()) as { message: string }).message, /unknown query parameter wacth/);
  });
});

describe('Informer', () => {
  test('syncs, follows live changes, re-watches after a server timeout, relists after 410 and after an outage', async () => {
    const api = await new FakeKubeApi().start();
    const client = new KubeClient({ server: api.url, token: api.token, timeoutMs: 1000 });
    const errors: string[] = [];
    let changes = 0;
    const inf = new Informer(client, '/api/v1/services', { fieldSelector: 'metadata.name=grafana-loki', minBackoffMs: 20, maxBackoffMs: 100, onChange: () => changes++, onError: (e) => errors.push(e.message) }).start();
    const names = () => inf.objects().map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort().join(',');
    try {
      assert.ok(await inf.waitForSync(2000));
      assert.equal(names(), '');
      api.apply('v1/services', service('monitoring', 'grafana-loki', { ports: [{ port: 3100 }] }));
      api.apply('v1/services', service('monitoring', 'other', { ports: [{ port: 1 }] }));
      await waitFor('added', () => names() === 'monitoring/grafana-loki', 2000);
      // Server-side watch timeout: the informer watches again from its last version, no relist.
      const lists = () => api.requests.filter((r) => r.query.watch === undefined).length;
      const listsBefore = lists();
      api.endWatches();
      api.apply('v1/services', service('logging', 'grafana-loki', { ports: [{ port: 3100 }] }));
      await waitFor('second', () => names() === 'logging/grafana-loki,monitoring/grafana-loki', 2000);
      assert.equal(lists(), listsBefore);
      // History compacted while the watch was down: 410 → relist.
      await waitFor('rewatch', () => api.openWatches === 1, 2000);
      api.endWatches();
      api.delete('v1/services', 'logging', 'grafana-loki');
      api.compact();
      await waitFor('relist after 410', () => names() === 'monitoring/grafana-loki', 2000);
      assert.equal(lists(), listsBefore + 1);
      // Outage: errors reported with backoff, then recovery with a fresh list.
      await api.stop();
      await waitFor('errors while down', () => errors.length >= 2, 3000);
      assert.match(errors[0], /unreachable|ECONNREFUSED|closed|terminated|socket/i);
      api.apply('v1/services', service('monitoring', 'grafana-loki', { ports: [{ port: 3101 }] }));
      await api.start();
      await waitFor('recovered', () => {
        const s = inf.objects()[0] as { spec?: { ports: Array<{ port: number }> } } | undefined;
        return s?.spec?.ports[0].port === 3101;
      }, 3000);
      assert.ok(changes >= 5);
    } finally {
      await inf.stop();
      await client.close();
      await api.stop();
    }
  });
});

describe('Informer pacing', () => {
  test('watches that end at once are not retried in a tight loop', async () => {
    const api = await new FakeKubeApi().start();
    const client = new KubeClient({ server: api.url, token: api.token });
    api.closeWatchesAtOnce = true;
    const inf = new Informer(client, '/api/v1/pods', { minBackoffMs: 100 }).start();
    try {
      assert.ok(await inf.waitForSync(2000));
      const watches = () => api.requests.filter((r) => r.query.watch === 'true').length;
      await waitFor('a second watch (it does retry)', () => watches() >= 2, 5000);
      // ...at most once per backoff, counted over however long the window really was, all along it.
      const [n0, t0] = [watches(), Date.now()];
      await holdsFor('at most one watch per 100 ms backoff', () => watches() - n0 <= Math.ceil((Date.now() - t0) / 100) + 1, 600);
    } finally {
      await inf.stop();
      await client.close();
      await api.stop();
    }
  });
});

describe('configuration and failures', () => {
  test('in-cluster config from the service account over TLS with its CA; rotated token re-read on 401', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sa-'));
    await writeFile(join(dir, 'ca.crt'), TEST_TLS.cert);
    const tls = TEST_TLS;
    const api = await new FakeKubeApi({ token: 'first', tls }).start();
    try {
      await writeFile(join(dir, 'token'), 'first\n');
      await writeFile(join(dir, 'namespace'), 'kubesonar\n');
      const port = new URL(api.url).port;
      const c = await KubeClient.inCluster({ dir, env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port } });
      assert.equal(c.server, `https://127.0.0.1:${port}`);
      assert.equal(c.namespace, 'kubesonar');
      assert.equal((await c.list('/api/v1/pods')).kind, 'PodList');
      api.token = 'second';
      await writeFile(join(dir, 'token'), 'second\n');
      assert.equal((await c.list('/api/v1/pods')).kind, 'PodList');
      assert.deepEqual(api.requests.map((r) => r.status), [200, 401, 200]);
      await c.close();
      // Without the CA the server is not trusted.
      const untrusted = new KubeClient({ server: api.url, token: 'second', timeoutMs: 1000 });
      await rejectsWith(untrusted.list('/api/v1/pods'), (e) => {
        assert.equal(e.status, 0);
        assert.match(e.message, /unreachable: GET \/api\/v1\/pods: .*(self-signed|SELF_SIGNED)/i);
      });
      await untrusted.close();
      await assert.rejects(KubeClient.inCluster({ dir, env: {} }), /not in a Kubernetes pod/);
      await assert.rejects(KubeClient.inCluster({ dir: join(dir, 'none'), env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' } }), /service account .*ca.crt: ENOENT/);
    } finally {
      await api.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an unreachable API gives a clear error; a silent one times out', async () => {
    const port = await freePort(); // nothing listens there
    const c = new KubeClient({ server: `http://127.0.0.1:${port}`, token: 't', timeoutMs: 300 });
    await rejectsWith(c.list('/api/v1/services'), (e) => {
      assert.equal(e.status, 0);
      assert.match(e.message, new RegExp(`^Kubernetes API http://127.0.0.1:${port} unreachable: GET /api/v1/services: ECONNREFUSED`));
    });
    await c.close();

    const silent: Server = createServer(() => { /* never answers */ });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const c2 = new KubeClient({ server: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, token: 't', timeoutMs: 300 });
    const t0 = Date.now();
    await rejectsWith(c2.list('/api/v1/services'), (e) => {
      assert.equal(e.status, 0);
      assert.match(e.message, /unreachable: GET \/api\/v1\/services: timed out/);
    });
    assert.ok(Date.now() - t0 < 2000);
    await c2.close().catch(() => {});
    silent.closeAllConnections();
    await new Promise<void>((r) => silent.close(() => r()));
  });
});
