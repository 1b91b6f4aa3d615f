// The image build without Docker: deploy/build.sh (what the Dockerfile's build stage runs) in
// a clean export of the committed tree, then the runtime tree it assembles started the way the
// image's entrypoint starts it, from its own directory, with only production dependencies.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/net.js';
import { giveUp, stopProcess, waitFor } from '../helpers/wait.js';
import { ROOT } from '../helpers/paths.js';


test('deploy/build.sh builds a runtime tree that runs the agent', { timeout: 900_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kubesonar-image-build-'));
  try {
    // The committed tree, as `COPY . .` sees it minus the .dockerignore'd directories.
    execFileSync('bash', ['-c', `git -C "${ROOT}" archive --format=tar HEAD | tar -x -C "${work}/"`], { timeout: 120_000 });
    const out = join(work, 'out');
    const started = Date.now();
    const log = execFileSync('bash', [join(work, 'deploy/build.sh'), out], {
      cwd: work, encoding: 'utf8', timeout: 840_000, maxBuffer: 64 << 20,
      env: { ...process.env, npm_config_loglevel: 'error', npm_config_update_notifier: 'false' },
    });
    t.diagnostic(`build.sh took ${Math.round((Date.now() - started) / 1000)} s: ${log.trim().split('\n').pop()}`);

    // What the runtime stage copies.
    for (const f of ['package.json', 'dist/src/cli/main.js', 'src/entities/cri-api.proto', 'build/Release/kubesonar.node', 'node_modules/yaml/package.json']) {
      assert.ok(existsSync(join(out, f)), `${f} in the runtime tree`);
    }
    assert.ok(!existsSync(join(out, 'node_modules/typescript')), 'devDependencies pruned');
    assert.ok(!existsSync(join(out, 'node_modules/kubernetes-models')), 'devDependencies pruned');
    assert.ok(!existsSync(join(out, 'dist/test')), 'tests are not shipped');
    if (existsSync(join(work, 'build/Release/bpf'))) {
      const objects = readdirSync(join(work, 'build/Release/bpf')).filter((f) => f.endsWith('.bpf.o'));
      assert.deepEqual(readdirSync(join(out, 'build/Release/bpf')).sort(), objects.sort(), 'BPF objects shipped');
    }

    // Every shared library the addons link comes from a Debian package the runtime stage
    // installs, or from one the node:20-bookworm-slim base already has (Node needs them).
    const runtimeStage = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8').split(/^FROM /m)[2]!;
    const installed = /apt-get install[^\n]*--no-install-recommends ([^\n&]+)/.exec(runtimeStage)![1]!.trim().split(/\s+/);
    const base = ['libc6', 'libstdc++6', 'libgcc-s1'];
    for (const addon of readdirSync(join(out, 'build/Release')).filter((f) => f.endsWith('.node'))) {
      const ldd = execFileSync('ldd', [join(out, 'build/Release', addon)], { encoding: 'utf8' });
      assert.doesNotMatch(ldd, /not found/, `${addon}: ${ldd}`);
      for (const m of ldd.matchAll(/=> (\S+) \(/g)) {
        // By directory and name: with merged /usr, ldd's path and dpkg's may differ in the /usr prefix.
        const lib = m[1]!;
        const pkg = execFileSync('dpkg', ['-S', `*/${basename(dirname(lib))}/${basename(lib)}`], { encoding: 'utf8' }).split(':')[0]!;
        assert.ok([...installed, ...base].includes(pkg), `${addon} needs ${m[1]} from ${pkg}, which the runtime image lacks`);
      }
    }

    // Start it as the image does (node dist/src/cli/main.js run --config ...), cwd = the tree.
    const [port, eventPort] = [await freePort(), await freePort()];
    writeFileSync(join(work, 'config.yaml'), `metric_config: { port: ${port} }\nevent_config: { port: ${eventPort} }\n`);
    const agent = spawn(process.execPath, ['dist/src/cli/main.js', 'run', '--config', join(work, 'config.yaml')],
      { cwd: out, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_NAME: 'image-test' } });
    let stderr = '';
    agent.stderr.on('data', (d) => { stderr += d; });
    try {
      const metrics = await waitFor('the tcp series on /metrics', async () => {
        if (agent.exitCode !== null) giveUp(`agent exited: ${stderr}`);
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return text.includes('netexporter_tcp_activeopens{') && text;
      }, 30_000);
      assert.match(metrics, /netexporter_tcp_activeopens\{[^}]*k8s_node="image-test"/);
      const status = await (await fetch(`http://127.0.0.1:${port}/status`)).json() as { native?: { loaded: boolean; error: string | null } };
      assert.deepEqual(status.native, { loaded: true, error: null }, 'the native addon loads from the runtime tree');
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1];
      t.diagnostic(`agent RSS after start, host namespace only: ${Math.round(Number(rss) / 1024)} MiB`);
    } finally {
      await stopProcess(agent, 'SIGTERM', 10_000);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
