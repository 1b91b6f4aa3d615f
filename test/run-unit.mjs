// The unit tier: every test/**/*.unit.test.ts, run from its compiled file in dist/ (build first).
// These tests need no root, no namespaces, containerd, Prometheus, promtool, helm or BPF
// loading, so any user can run them. The list comes from the sources, not from dist/, so the
// compiled file of a test since renamed or removed is not run. Not a .ts file on purpose: it
// stays out of dist/test/, which `npm test` runs whole.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
const files = walk(join(root, 'test'))
  .filter((f) => f.endsWith('.unit.test.ts'))
  .map((f) => join('dist', relative(root, f)).replace(/\.ts$/, '.js'))
  .sort();
// Most of their time is spent waiting on loopback servers, timeouts and child processes, not on
// the CPU: 8 files at once on 2 cores ran the tier in 23 s (30 s with 4), seven runs alike.
const concurrency = Math.max(8, 4 * availableParallelism());
const run = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
