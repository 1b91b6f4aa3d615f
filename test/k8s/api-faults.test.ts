// A Kubernetes API that misbehaves, against the strict fake API server: watches answered 410
// Gone (history compacted), watches closed as soon as they open, an API that goes away and
// comes back, and a list of 50 000 pods. Each: the informer keeps working (relist, re-watch
// with backoff, keep the last objects), says what happened in status(), and logs it once.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DEFAULT_PAGE_SIZE } from '../../src/k8s/informer.js';
import { Informer, KubeApiError, KubeClient } from '../../src/k8s/index.js';
import { createLogger } from '../../src/log.js';
import { FakeKubeApi, service } from '../helpers/kube-api.js';
import { waitFor } from '../helpers/wait.js';

function logged() {
  const lines: Record<string, any>[] = [];
  return { log: createLogger((l) => lines.push(JSON.parse(l))), lines, matching: (re: RegExp) => lines.filter((l) => re.test(l.msg)) };
}

test('410 Gone on a watch: one relist, counted in status, one log line', async () => {
  const api = await new FakeKubeApi().start();
  const client = new KubeClient({ server: api.url, token: api.token, timeoutMs: 1000 });
  const { log, matching } = logged();
  api.apply('v1/services', service('monitoring', 'loki', { ports: [{ port: 3100 }] }));
  const inf = new Informer(client, '/api/v1/services', { minBackoffMs: 20, log }).start();
  try {
    assert.ok(await inf.waitForSync(2000));
    await waitFor('watching', () => api.openWatches === 1, 2000);
    // The watch ends and history is compacted meanwhile: watching from the old version is 410.
    api.endWatches();
    api.apply('v1/services', service('monitoring', 'tempo', { ports: [{ port: 3200 }] }));
    api.compact();
    await waitFor('relisted', () => inf.status().lists === 2, 3000, () => JSON.stringify(inf.status()));
    await waitFor('both services', () => inf.objects().length === 2, 2000);
    const s = inf.status();
    assert.equal(s.gone, 1);
    assert.equal(s.error, undefined);
    assert.equal(matching(/410 Gone/).length, 1);
    assert.match(matching(/410 Gone/)[0]!.error, /too old resource version/);
  } finally {
    await inf.stop();
    await client.close();
    await api.stop();
  }
});

test('watches closed as soon as they open: re-watched after a backoff each time, one log line however many', async () => {
  const api = await new FakeKubeApi().start();
  const client = new KubeClient({ server: api.url, token: api.token, timeoutMs: 1000 });
  const { log, matching } = logged();
  api.closeWatchesAtOnce = true;
  const inf = new Informer(client, '/api/v1/services', { minBackoffMs: 50, log }).start();
  try {
    assert.ok(await inf.waitForSync(2000));
    await waitFor('three short watches', () => inf.status().shortWatches >= 3, 5000);
    assert.equal(matching(/watch ended at once/).length, 1);
    assert.equal(inf.status().lists, 1, 'a closed watch is re-watched, not relisted');
    assert.equal(inf.status().error, undefined);
  } finally {
    await inf.stop();
    await client.close();
    await api.stop();
  }
});

test('an API that goes away: the objects stay, status names the failure, one line when it starts and one when it ends', async () => {
  const api = await new FakeKubeApi().start();
  const client = new KubeClient({ server: api.url, token: api.token, timeoutMs: 500 });
  const { log, matching } = logged();
  api.apply('v1/services', service('monitoring', 'loki', { ports: [{ port: 3100 }] }));
  const inf = new Informer(client, '/api/v1/services', { minBackoffMs: 20, maxBackoffMs: 100, log }).start();
  try {
    assert.ok(await inf.waitForSync(2000));
    await api.stop();
    await waitFor('failing', () => inf.status().error !== undefined, 3000);
    await waitFor('several failures', () => inf.status().lists >= 3, 5000);
    assert.equal(inf.objects().length, 1, 'the last objects are kept');
    assert.ok(inf.status().failingSinceUnixMs! <= Date.now());
    assert.equal(matching(/failing/).length, 1);
    await api.start();
    await waitFor('recovered', () => inf.status().error === undefined, 5000, () => JSON.stringify(inf.status()));
    assert.equal(inf.status().failingSinceUnixMs, undefined);
    assert.equal(matching(/works again/).length, 1);
  } finally {
    await inf.stop();
    await client.close();
    await api.stop();
  }
});

/** A pod as a real API server lists it (about 1 KB of JSON). */
function pod(i: number) {
  const name = `app-${Math.floor(i / 10)}-${i.toString(36).padStart(5, '0')}`;
  return {
    metadata: {
      name, namespace: `team-${i % 50}`, uid: `0000${i}-aaaa-bbbb-cccc-${String(i).padStart(12, '0')}`,
      labels: { app: `app-${Math.floor(i / 10)}`, 'pod-template-hash': '7d9f8c6b5d', tier: 'backend' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `app-${Math.floor(i / 10)}-7d9f8c6b5d`, uid: `rs-${i}`, controller: true }],
      creationTimestamp: '2026-11-30T10:00:00Z',
    },
    spec: {
      nodeName: `node-${i % 500}`,
      containers: [{ name: 'app', image: 'registry.example.com/team/app:1.2.3', ports: [{ containerPort: 8080, protocol: 'TCP' }],
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } } }],
    },
    status: {
      phase: 'Running', podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, hostIP: `192.168.${(i % 500) >> 8}.${(i % 500) & 255}`,
      conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }],
    },
  };
}

test('50 000 pods: listed in pages, every pod kept, page size bounded; time and memory measured', async (t) => {
  const N = 50_000;
  const api = await new FakeKubeApi().start();
  api.load('v1/pods', Array.from({ length: N }, (_, i) => pod(i)));
  const onePage = JSON.stringify(Array.from({ length: DEFAULT_PAGE_SIZE }, (_, i) => pod(i))).length;
  const all = onePage * (N / DEFAULT_PAGE_SIZE);
  // A response bound a page fits in and the whole list does not.
  const maxResponseBytes = onePage * 4;
  const client = new KubeClient({ server: api.url, token: api.token, timeoutMs: 5000, maxResponseBytes });
  const inf = new Informer(client, '/api/v1/pods').start();
  try {
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const t0 = Date.now();
    assert.ok(await inf.waitForSync(120_000), JSON.stringify(inf.status()));
    const ms = Date.now() - t0;
    const rssMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.equal(inf.objects().length, N);
    assert.equal(api.listPages, N / DEFAULT_PAGE_SIZE);
    assert.equal(inf.status().error, undefined);
    t.diagnostic(`${N} pods (${(all / 2 ** 20).toFixed(0)} MiB of JSON) in ${api.listPages} pages of ${DEFAULT_PAGE_SIZE}: synced in ${ms} ms, RSS +${rssMb.toFixed(0)} MiB (the fake server in the same process)`);

    // The same list in one response would not fit the bound: it is refused with a clear error, not read whole.
    await assert.rejects(client.list('/api/v1/pods'), (err: KubeApiError) => /larger than|bytes/.test(err.message));
  } finally {
    await inf.stop();
    await client.close();
    await api.stop();
  }
});
