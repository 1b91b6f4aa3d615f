// A Kubernetes API that misbehaves, against the strict fake API server: watches answered 410
// Gone (history compacted), watches closed as soon as they open, an API that goes away and
// comes back, and a list of 50 000 pods. Each: the informer keeps working (relist, re-watch
// with backoff, keep the last objects), says what happened in status(), and logs it once; the
// checks' view of the cluster (what /status shows as events.checkKube) names each informer.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { checkOptions } from '../../src/checks/model.js';
import { KubeView } from '../../src/checks/kubeview.js';
import { DEFAULT_PAGE_SIZE } from '../../src/k8s/informer.js';
import { Informer, KubeApiError, KubeClient } from '../../src/k8s/index.js';
import { createLogger } from '../../src/log.js';
import { FakeKubeApi, service } from '../helpers/kube-api.js';
import { waitFor, waitForLine } from '../helpers/wait.js';

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

test('50 000 pods: listed in pages, every pod kept, page size bounded; time and memory measured', async (t) => {
  const N = 50_000;
  // The API server runs in a process of its own, so the memory measured here is the informer's.
  const server = spawn(process.execPath, [fileURLToPath(new URL('../helpers/kube-api-big.js', import.meta.url)), String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const { url, token, pageBytes } = JSON.parse(await waitForLine(server, /^\{/, 60_000)) as { url: string; token: string; pageBytes: number };
    // A response bound a page fits in and the whole list does not.
    const client = new KubeClient({ server: url, token, timeoutMs: 5000, maxResponseBytes: pageBytes * 4 });
    const inf = new Informer(client, '/api/v1/pods').start();
    try {
      const before = process.memoryUsage();
      const t0 = Date.now();
      assert.ok(await inf.waitForSync(120_000), JSON.stringify(inf.status()));
      const ms = Date.now() - t0;
      const after = process.memoryUsage();
      assert.equal(inf.objects().length, N);
      assert.equal(inf.status().error, undefined);
      const pages = Math.ceil(N / DEFAULT_PAGE_SIZE);
      t.diagnostic(`${N} pods (${((pageBytes * pages) / 2 ** 20).toFixed(0)} MiB of JSON) in ${pages} pages of ${DEFAULT_PAGE_SIZE}: synced in ${ms} ms; ` +
        `informer process RSS +${((after.rss - before.rss) / 2 ** 20).toFixed(0)} MiB, heap +${((after.heapUsed - before.heapUsed) / 2 ** 20).toFixed(0)} MiB`);
      // The same list in one response would not fit the bound: refused with a clear error, never read whole.
      await assert.rejects(client.list('/api/v1/pods', { limit: 0 }), (err: KubeApiError) => /larger than|bytes/.test(err.message));
    } finally {
      await inf.stop();
      await client.close();
    }
  } finally {
    server.kill();
  }
});

test("the checks' view of the cluster: every informer in status, a failing API named per path, one line per informer", async () => {
  const api = await new FakeKubeApi().start();
  api.register('discovery.k8s.io/v1/endpointslices', { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', namespaced: true });
  const client = new KubeClient({ server: api.url, token: api.token, timeoutMs: 500 });
  const { log, matching } = logged();
  const view = new KubeView(client, checkOptions({ nodeName: 'node-1' }), undefined, log).start();
  try {
    assert.ok(await view.waitForSync(3000));
    assert.deepEqual(view.status().map((s) => [s.path, s.synced, s.error]), [
      ['/api/v1/services', true, undefined],
      ['/apis/discovery.k8s.io/v1/endpointslices', true, undefined],
      ['/apis/networking.k8s.io/v1/networkpolicies', true, undefined],
      ['/api/v1/namespaces/kube-system/configmaps', true, undefined],
      ['/api/v1/namespaces/kube-system/pods', true, undefined],
      ['/api/v1/nodes', true, undefined],
    ]);
    await api.stop();
    await waitFor('every informer failing', () => view.status().every((s) => s.error !== undefined), 10_000, () => JSON.stringify(view.status()));
    assert.ok(view.status().every((s) => s.synced), 'what was listed stays');
    assert.equal(matching(/failing/).length, 6, 'one line per informer');
  } finally {
    await view.stop();
    await client.close();
    await api.stop();
  }
});
