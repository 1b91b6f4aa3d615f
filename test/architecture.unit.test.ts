// ARCHITECTURE.md's rules, checked on the source: every module imports only from its own layer
// or the ones below it, and no import circle exists between modules.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers/paths.js';

const src = join(ROOT, 'src');

/** Layer of a source file (path relative to src/), from ARCHITECTURE.md's table. */
const LAYERS: [number, RegExp][] = [
  [1, /^(model\.ts|log\.ts|events\/model\.ts|events\/record\.ts|events\/format\.ts|util\/)/],
  [2, /^(procfs|netlink|native|bpf|entities|k8s|transport)\//],
  [3, /^(checks\/|pipeline\/|events\/pipeline\.ts|events\/spool\.ts)/],
  [4, /^probes\//],
  [5, /^catalogue\//],
  [6, /^(exporters|sinks)\//],
  [7, /^config\//],
  [8, /^(runtime\/|agent\.ts)/],
  [9, /^cli\//],
];
const layerOf = (file: string): number => {
  const hit = LAYERS.find(([, re]) => re.test(file));
  assert.ok(hit, `src/${file} is in no layer of ARCHITECTURE.md`);
  return hit[0];
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [relative(src, p)] : [];
  });
}

/** The src files a module imports (relative specifiers only; `.js` names the `.ts` source). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(src, file), 'utf8');
  const specs = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm), ...text.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)].map((m) => m[1]!);
  return specs.map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts'));
}

const files = sources(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('every module imports only from its own layer or below', () => {
  const upward: string[] = [];
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      assert.ok(graph.has(dep), `src/${file} imports src/${dep}, which does not exist`);
      if (layerOf(dep) > layerOf(file)) upward.push(`src/${file} (layer ${layerOf(file)}) -> src/${dep} (layer ${layerOf(dep)})`);
    }
  }
  assert.deepEqual(upward, []);
});

test('no import circle', () => {
  const state = new Map<string, 'open' | 'done'>();
  const circles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      circles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const dep of graph.get(file) ?? []) visit(dep, [...path, file]);
    state.set(file, 'done');
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(circles, []);
});
