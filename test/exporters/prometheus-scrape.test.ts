// A real Prometheus (Debian's package) scrapes the agent; the queried series carry the
// right names, types and labels.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startAgent, type TestAgent } from '../helpers/agent.js';
import { scrapeJob, startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

let agent: TestAgent;
let prometheus: TestPrometheus;
let promUrl: string;
const dir = mkdtempSync(join(tmpdir(), 'kubesonar-prom-'));

before(async () => {
  agent = await startAgent();
  prometheus = await startPrometheus(dir, scrapeJob('kubesonar', `127.0.0.1:${agent.agent.server.address!.port}`));
  promUrl = prometheus.url;
});

after(async () => {
  await prometheus?.stop();
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const query = (q: string) => prometheus.query(q);

test('Prometheus scrapes the endpoint and the series carry node, netns and the counter type', async () => {
  const hostNetns = String((await import('node:fs')).statSync('/proc/self/ns/net').ino);
  const result = await waitFor('netexporter_tcp_activeopens in Prometheus', async () => {
    const r = await query(`netexporter_tcp_activeopens{netns="ns${hostNetns}"}`);
    return r.length ? r : undefined;
  }, 40_000);
  assert.equal(result.length, 1);
  assert.deepEqual(result[0]!.metric, { __name__: 'netexporter_tcp_activeopens', instance: result[0]!.metric.instance!, job: 'kubesonar', k8s_node: 'test-node', netns: `ns${hostNetns}` });

  const meta = await (await fetch(`${promUrl}/api/v1/metadata?metric=netexporter_tcp_activeopens`)).json() as any;
  assert.equal(meta.data.netexporter_tcp_activeopens[0].type, 'counter');
  const gauge = await (await fetch(`${promUrl}/api/v1/metadata?metric=netexporter_tcp_currestab`)).json() as any;
  assert.equal(gauge.data.netexporter_tcp_currestab[0].type, 'gauge');

  // Over a minute, not the last scrape: a scrape that timed out on a loaded machine marks every
  // series stale for an instant and says nothing about the exposition.
  const up = await query('max_over_time(up{job="kubesonar"}[1m])');
  assert.equal(up[0]!.value[1], '1');
  // promtool's parser and linter accept the exposition; its only complaint is the missing
  // `_total` on counters, which keep the seeds' names by design.
  await agent.agent.collector.collect();
  const text = await agent.metrics();
  // Asynchronously: the agent under test shares this process and must keep answering scrapes.
  const lint = await new Promise<string>((resolve, reject) => {
    execFile('promtool', ['check', 'metrics'], { timeout: 60_000 }, (err, stdout, stderr) => {
      // A non-zero exit is promtool's verdict (read below); anything else (not installed) is a failure.
      if (err && typeof err.code !== 'number') reject(err);
      else resolve(`${stdout}${stderr}`);
    }).stdin!.end(text);
  });
  const problems = lint.split('\n').filter((l) => l.trim() && !l.endsWith('counter metrics should have "_total" suffix'));
  assert.deepEqual(problems, []);
  // The interface label of netdev reaches Prometheus too.
  const lo = await query(`last_over_time(netexporter_netdev_rxpackets{netns="ns${hostNetns}",if_name="lo"}[1m])`);
  assert.equal(lo.length, 1);
});
