// The alert rules pass promtool (syntax and unit tests), and the local example
// (examples/local/run.sh) starts the agent and Debian's Prometheus and gets a result.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/net.js';
import { waitForExit } from '../helpers/wait.js';
import { CLI, ROOT } from '../helpers/paths.js';

test('alert rules pass promtool check rules and their unit tests', () => {
  const check = spawnSync('promtool', ['check', 'rules', join(ROOT, 'examples/alerts.yml')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: \d+ rules found/);
  const unit = spawnSync('promtool', ['test', 'rules', join(ROOT, 'examples/alerts.test.yml')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(unit.status, 0, unit.stdout + unit.stderr);
  // promtool is not lenient: a broken expression fails.
  const dir = mkdtempSync(join(tmpdir(), 'kubesonar-rules-'));
  try {
    writeFileSync(join(dir, 'bad.yml'), 'groups: [{name: g, rules: [{alert: A, expr: "rate(netexporter_tcp_outrsts[5m]"}]}]\n');
    assert.notEqual(spawnSync('promtool', ['check', 'rules', join(dir, 'bad.yml')], { timeout: 60_000 }).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('examples/local/run.sh starts the agent and Prometheus and gets a query result', { timeout: 180_000 }, async () => {
  const [agentPort, promPort, eventPort] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'kubesonar-local-test-'));
  try {
    const config = readFileSync(join(ROOT, 'examples/local/config.yaml'), 'utf8').replace('port: 19102', `port: ${eventPort}`);
    writeFileSync(join(dir, 'config.yaml'), config);
    const child = spawn('bash', [join(ROOT, 'examples/local/run.sh'), '--check'], {
      env: { ...process.env, AGENT_PORT: String(agentPort), PROM_PORT: String(promPort), CONFIG: join(dir, 'config.yaml'),
        AGENT_JS: CLI },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const code = await waitForExit(child, 160_000).catch((err) => { child.kill('SIGTERM'); throw new Error(`${err.message}\n${out}`); });
    assert.equal(code, 0, out);
    const json = JSON.parse(/query netexporter_agent_entities: (.*)/.exec(out)![1]!);
    assert.equal(json.status, 'success');
    assert.equal(json.data.result[0].metric.job, 'kubesonar');
    assert.ok(Number(json.data.result[0].value[1]) >= 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
