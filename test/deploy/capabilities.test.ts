// The DaemonSet's capability set, tried on the real kernel: the agent runs as uid 0 with only
// the capabilities deploy/manifests/kubesonar.yaml grants (setpriv bounding set, no new
// privileges, as allowPrivilegeEscalation: false), and every probe that works as full root
// also works there, including fd/io of a pod process running as another user and BPF. Leaving
// out DAC_READ_SEARCH or SYSLOG breaks what the chart's comments say they are for.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { cleanup, createNetns, type Netns } from '../helpers/netns.js';
import { seriesValue } from '../helpers/agent.js';
import { freePort } from '../helpers/net.js';
import { giveUp, stopProcess, waitFor } from '../helpers/wait.js';
import { CLI, ROOT } from '../helpers/paths.js';


after(() => cleanup());

/** The capabilities the committed manifests add (they drop ALL). */
function chartCapabilities(): string[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/manifests/kubesonar.yaml'), 'utf8')).map((d) => d.toJS());
  const ds = docs.find((d) => d?.kind === 'DaemonSet');
  const sc = ds.spec.template.spec.containers[0].securityContext;
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  return sc.capabilities.add as string[];
}

/** setpriv arguments: uid 0 whose capabilities are exactly `caps` after exec. */
function limitedTo(caps: string[]): string[] {
  const set = ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');
  return ['--bounding-set', set, '--inh-caps', '-all', '--no-new-privs'];
}

interface Run { status: any; metrics: string }

/** Starts the agent with `caps`, waits for two collections, returns /status and /metrics. */
async function runAgent(caps: string[] | 'all'): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonar-caps-'));
  const [port, eventPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'config.yaml'), `metric_config: { port: ${port}, interval: 1 }\nevent_config: { port: ${eventPort} }\n`);
  const args = [CLI, 'run', '--config', join(dir, 'config.yaml')];
  const child: ChildProcess = caps === 'all'
    ? spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn('setpriv', [...limitedTo(caps), process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  try {
    const status = await waitFor(`two collections (${caps === 'all' ? 'root' : caps.join(',')})`, async () => {
      if (child.exitCode !== null) giveUp(`agent exited: ${stderr}`);
      const s = await (await fetch(`http://127.0.0.1:${port}/status`)).json() as any;
      return s.lastCollection && s.uptimeSeconds >= 2 ? s : undefined;
    }, 40_000);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return { status, metrics };
  } finally {
    await stopProcess(child, 'SIGTERM', 10_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

const probeStates = (s: any): Record<string, string> => Object.fromEntries(Object.entries<any>(s.probes).map(([k, v]) => [k, v.state]));

/** A "pod": a namespace whose only process runs as nobody (65534). */
async function podAsNobody(): Promise<{ ns: Netns; netns: string }> {
  const ns = await createNetns();
  const child = ns.spawn('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'sleep', '600']);
  // statSync throws until the process exists; waitFor polls again then.
  await waitFor('the nobody process', () => statSync(`/proc/${child.pid}/status`).uid === 65534, 20_000);
  return { ns, netns: `ns${ns.inode}` };
}

test('the chart capabilities run every probe root can, fd/io of other users included', { timeout: 180_000 }, async (t) => {
  const caps = chartCapabilities();
  const { netns } = await podAsNobody();
  const asRoot = await runAgent('all');
  const limited = await runAgent(caps);

  assert.equal(limited.status.native.loaded, asRoot.status.native.loaded, 'native addon');
  t.diagnostic(`probe states with ${caps.join(',')}: ${JSON.stringify(probeStates(limited.status))}`);
  assert.deepEqual(probeStates(limited.status), probeStates(asRoot.status), 'every probe in the same state as under full root');
  const states = probeStates(limited.status);
  assert.equal(states.fd, 'ok');
  assert.equal(states.io, 'ok');
  // The nobody process is seen: its open fds (0, 1, 2 at least) and its namespace.
  assert.ok((seriesValue(limited.metrics, 'netexporter_fd_openfd', { netns }) ?? 0) >= 3, `fd of the nobody process in ${netns}`);
  assert.equal(seriesValue(limited.metrics, 'netexporter_fd_openfd', { netns }), seriesValue(asRoot.metrics, 'netexporter_fd_openfd', { netns }));
});

test('without DAC_READ_SEARCH the fd and io probes fail on other users\' processes', { timeout: 120_000 }, async () => {
  await podAsNobody();
  const without = await runAgent(chartCapabilities().filter((c) => c !== 'DAC_READ_SEARCH'));
  const states = probeStates(without.status);
  assert.ok(states.fd === 'error' || states.io === 'error', `fd/io should fail without DAC_READ_SEARCH: ${JSON.stringify(states)}`);
});

test('SYSLOG is what makes kernel addresses readable (stack names of drop events)', () => {
  const firstAddress = (caps: string[]) => {
    const r = spawnSync('setpriv', [...limitedTo(caps), 'head', '-1', '/proc/kallsyms'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split(' ')[0]!;
  };
  const caps = chartCapabilities();
  assert.doesNotMatch(firstAddress(caps), /^0+$/, 'addresses with the chart capabilities');
  const kptr = readFileSync('/proc/sys/kernel/kptr_restrict', 'utf8').trim();
  const paranoid = Number(readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8'));
  if (kptr === '0' && paranoid <= 1) return; // this kernel shows addresses to everyone anyway
  assert.match(firstAddress(caps.filter((c) => c !== 'SYSLOG')), /^0+$/, 'zeros without SYSLOG');
});
