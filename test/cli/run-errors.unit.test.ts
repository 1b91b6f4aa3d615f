// `kubesonar run` as a process: a bad config file at start is one clear line and exit 1.
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

test('the CLI: a bad config file at start is one clear line and exit 1', async () => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'metric_config:\n  port: "nine"\n');
  const run = promisify(execFile);
  const err = await run('node', [CLI, 'run', '--config', bad]).then(() => undefined, (e) => e);
  assert.equal(err.code, 1);
  assert.equal(err.stderr, `kubesonar: config ${bad}: metric_config.port: must be an integer 1..65535, got "nine"\n`);
});
