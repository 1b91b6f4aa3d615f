// The CLI as a process: a bad config at start is one clear line and exit 1; `entities` lists
// the host namespace (no CRI socket: the note says so), as JSON and as a table.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI } from '../helpers/paths.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'kubesonar-cli-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

test('the CLI: a bad config file at start is one clear line and exit 1; entities lists the host', async () => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'metric_config:\n  port: "nine"\n');
  const run = promisify(execFile);
  const err = await run('node', [CLI, 'run', '--config', bad]).then(() => undefined, (e) => e);
  assert.equal(err.code, 1);
  assert.equal(err.stderr, `kubesonar: config ${bad}: metric_config.port: must be an integer 1..65535, got "nine"\n`);

  const { stdout } = await run('node', [CLI, 'entities', '-o', 'json'], { env: { ...process.env, RUNTIME_SOCK: join(dir, 'none.sock') } });
  const out = JSON.parse(stdout);
  assert.equal(out.entities[0].attribution, 'host');
  assert.ok(out.entities[0].interfaces.includes('lo'));
  assert.match(out.notes[0], /CRI unavailable/);
  const table = (await run('node', [CLI, 'entities'], { env: { ...process.env, RUNTIME_SOCK: join(dir, 'none.sock') } })).stdout;
  assert.match(table, /^NETNS\s+NAMESPACE\s+POD\s+IP\s+ATTRIBUTION\s+PIDS\s+INTERFACES$/m);
  assert.match(table, /hostNetwork\s+hostNetwork\s+-\s+host\s/);
});
