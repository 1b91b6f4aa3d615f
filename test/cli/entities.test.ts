// `kubesonar entities` as a process, as root (it enters the host namespace to list its
// interfaces): without a CRI socket it lists the host namespace and says why, as JSON and as a table.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI } from '../helpers/paths.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'kubesonar-cli-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

test('the CLI: entities lists the host', async () => {
  const run = promisify(execFile);
  const { stdout } = await run('node', [CLI, 'entities', '-o', 'json'], { env: { ...process.env, RUNTIME_SOCK: join(dir, 'none.sock') } });
  const out = JSON.parse(stdout);
  assert.equal(out.entities[0].attribution, 'host');
  assert.ok(out.entities[0].interfaces.includes('lo'));
  assert.match(out.notes[0], /CRI unavailable/);
  const table = (await run('node', [CLI, 'entities'], { env: { ...process.env, RUNTIME_SOCK: join(dir, 'none.sock') } })).stdout;
  assert.match(table, /^NETNS\s+NAMESPACE\s+POD\s+IP\s+ATTRIBUTION\s+PIDS\s+INTERFACES$/m);
  assert.match(table, /hostNetwork\s+hostNetwork\s+-\s+host\s/);
});
