// `npm run fuzz`: every parser of outside input fed generated and mutated inputs; one line per
// parser, then `fuzz: N inputs, C crashes, H hangs`; exit 1 on any crash, hang or target that
// did not reach its inputs within its budget.
//   --inputs N     cases per parser (default 10000)
//   --budget-s S   time per parser, s (default 120)
//   --seed S       PRNG seed (default 1); case i of parser p is the same for the same seed
//   --only a,b     only these parsers (names as printed, or a prefix such as netlink.)
//   --case I       only case I (replay a failure: the report prints the command)
//   --save DIR     write each failing input there as JSON (a regression test's fixture)
//   --capture      record the netlink dumps of this machine as new seeds (root), then exit
import { parseArgs } from 'node:util';
import { failureLines, resultLine, runTarget, type TargetResult } from './harness.js';
import { allTargets } from './targets/index.js';

export interface FuzzOptions {
  seed?: number;
  inputs?: number;
  budgetMs?: number;
  only?: string[];
  case?: number;
  saveDir?: string;
  log?: (line: string) => void;
}

export interface FuzzSummary {
  results: TargetResult[];
  inputs: number;
  crashes: number;
  hangs: number;
  ok: boolean;
  summary: string;
}

/** Runs the targets one after the other; prints through `log`. */
export async function fuzz(o: FuzzOptions = {}): Promise<FuzzSummary> {
  const seed = o.seed ?? 1;
  const log = o.log ?? ((l: string) => console.log(l));
  const targets = allTargets().filter((t) => !o.only?.length || o.only.some((n) => t.name === n || t.name.startsWith(n)));
  if (!targets.length) throw new Error(`no parser named ${o.only?.join(', ')}; see npm run fuzz`);
  const results: TargetResult[] = [];
  for (const t of targets) {
    const r = await runTarget(t, { seed, inputs: o.inputs ?? 10_000, budgetMs: o.budgetMs ?? 120_000, only: o.case, saveDir: o.saveDir });
    results.push(r);
    log(resultLine(r));
    for (const l of failureLines(r, seed)) log(l);
  }
  const inputs = results.reduce((n, r) => n + r.inputs, 0);
  const crashes = results.reduce((n, r) => n + r.crashes, 0);
  const hangs = results.reduce((n, r) => n + r.hangs, 0);
  const summary = `fuzz: ${inputs} inputs, ${crashes} crashes, ${hangs} hangs`;
  return { results, inputs, crashes, hangs, ok: crashes === 0 && hangs === 0 && !results.some((r) => r.outOfBudget), summary };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      inputs: { type: 'string' }, 'budget-s': { type: 'string' }, seed: { type: 'string' },
      only: { type: 'string' }, case: { type: 'string' }, save: { type: 'string' }, capture: { type: 'boolean' },
    },
  });
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got "${v}"`);
    return n;
  };
  if (values.capture) {
    const { capture } = await import('./capture.js');
    await capture((l) => console.log(l));
    return;
  }
  const r = await fuzz({
    seed: num(values.seed, 'seed'),
    inputs: num(values.inputs, 'inputs'),
    budgetMs: (num(values['budget-s'], 'budget-s') ?? 120) * 1000,
    only: values.only?.split(',').filter(Boolean),
    case: num(values.case, 'case'),
    saveDir: values.save,
  });
  for (const t of r.results.filter((x) => x.outOfBudget)) console.log(`${t.name}: only ${t.inputs} inputs within the budget`);
  console.log(r.summary);
  process.exitCode = r.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  main().catch((err: Error) => {
    console.error(`fuzz: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  });
}
