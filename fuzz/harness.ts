// Runs fuzz targets: for each, `inputs` cases, case i made from a PRNG seeded by (seed, target,
// i), each fed with a bound on its time. A case is a crash when the target throws (a target
// catches the errors its parser documents and checks what it returns), a hang when it takes
// longer than the bound. One line per target; the caller prints the summary.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, seedOf } from './prng.js';

export interface Target<I = unknown> {
  name: string;
  /** Servers, corpora: made once before the first case. */
  open?(): Promise<void>;
  close?(): Promise<void>;
  /** Case i: a seed mutated, or an input generated. */
  make(rng: Rng): I;
  /** Feeds one input to the parser; throws when the parser broke its contract. */
  feed(input: I): void | Promise<void>;
  /** The input for the report (JSON text, hex for bytes), cut at about `max` characters. */
  show(input: I, max: number): string;
  /** The input as JSON data, for a failure saved as a regression test's fixture (default: show()). */
  save?(input: I): unknown;
  /** A case taking longer than this is a hang, ms (default 2000: a garbage collection of a busy machine is not a hang). */
  hangMs?: number;
}

export interface RunOptions {
  seed: number;
  inputs: number;
  /** Per target, ms: a target that has not done `inputs` cases by then fails. */
  budgetMs: number;
  /** Only this case of each target (replaying a failure). */
  only?: number;
  /** Where to write each failing input as JSON (for a regression test), if anywhere. */
  saveDir?: string;
}

export interface Failure {
  kind: 'crash' | 'hang';
  index: number;
  error: string;
  input: string;
}

export interface TargetResult {
  name: string;
  inputs: number;
  crashes: number;
  hangs: number;
  ms: number;
  slowestMs: number;
  /** The budget ran out before `inputs` cases. */
  outOfBudget: boolean;
  failures: Failure[];
}

const KEEP_FAILURES = 3;

class Hang extends Error {}

function bounded(p: void | Promise<void>, ms: number): void | Promise<void> {
  if (!(p instanceof Promise)) return p;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((_, reject) => (timer = setTimeout(() => reject(new Hang(`no result within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

export async function runTarget(t: Target, o: RunOptions): Promise<TargetResult> {
  const r: TargetResult = { name: t.name, inputs: 0, crashes: 0, hangs: 0, ms: 0, slowestMs: 0, outOfBudget: false, failures: [] };
  const hangMs = t.hangMs ?? 2000;
  // A replayed case is shown whole, to be copied into a regression test.
  const showMax = o.only === undefined ? 300 : Infinity;
  const start = performance.now();
  await t.open?.();
  try {
    for (let i = o.only ?? 0; i < (o.only === undefined ? o.inputs : o.only + 1); i++) {
      if (performance.now() - start > o.budgetMs) {
        r.outOfBudget = true;
        break;
      }
      const input = t.make(new Rng(seedOf(o.seed, t.name, i)));
      const t0 = performance.now();
      let failure: Failure | undefined;
      try {
        await bounded(t.feed(input), hangMs);
      } catch (err) {
        const hang = err instanceof Hang;
        failure = { kind: hang ? 'hang' : 'crash', index: i, error: describe(err), input: t.show(input, showMax) };
      }
      const took = performance.now() - t0;
      if (!failure && took > hangMs) failure = { kind: 'hang', index: i, error: `took ${Math.round(took)} ms`, input: t.show(input, showMax) };
      r.slowestMs = Math.max(r.slowestMs, took);
      r.inputs++;
      if (failure) {
        if (o.saveDir) {
          const file = join(o.saveDir, `${t.name}-seed${o.seed}-case${i}.json`);
          const data = { parser: t.name, seed: o.seed, case: i, [failure.kind]: failure.error, input: t.save ? t.save(input) : typeof input === 'string' ? input : t.show(input, Infinity) };
          writeFileSync(file, `${JSON.stringify(data, null, 1)}\n`);
        }
        if (failure.kind === 'crash') r.crashes++;
        else r.hangs++;
        if (r.failures.length < KEEP_FAILURES) r.failures.push(failure);
      }
    }
  } finally {
    await t.close?.();
  }
  r.ms = performance.now() - start;
  return r;
}

function describe(err: unknown): string {
  // Where it was thrown, relative to the checkout (the line goes into saved fixtures).
  const at = err instanceof Error && err.stack ? (err.stack.split('\n')[1] ?? '').trim().replace(/file:\/\/\S*?\/dist\//, 'dist/') : '';
  if (err instanceof Error) return `${err.name}: ${err.message.split('\n')[0]}${at ? ` (${at})` : ''}`;
  return `threw a non-Error: ${String(err)}`;
}

/** `text` as a JSON string, cut at `max` characters. */
export const showText = (text: string, max: number): string => JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
/** `b` as hex, cut at `max` characters. */
export const showHex = (b: Buffer, max: number): string => {
  const hex = b.toString('hex');
  return hex.length > max ? `${hex.slice(0, max)}… (${b.length} bytes)` : hex;
};

/** A parser broke its contract: thrown by a target's own checks. */
export class ContractBroken extends Error {
  override name = 'ContractBroken';
}

export function check(ok: unknown, what: string): asserts ok {
  if (!ok) throw new ContractBroken(what);
}

/** The line of one target. */
export function resultLine(r: TargetResult): string {
  const name = r.name.padEnd(24);
  const budget = r.outOfBudget ? '  OUT OF BUDGET' : '';
  return `${name} ${String(r.inputs).padStart(6)} inputs  ${r.crashes} crashes  ${r.hangs} hangs  ${(r.ms / 1000).toFixed(1)} s  slowest ${r.slowestMs.toFixed(1)} ms${budget}`;
}

/** What to print for a failure: the error, the input, and how to replay it alone. */
export function failureLines(r: TargetResult, seed: number): string[] {
  return r.failures.map(
    (f) => `  ${f.kind} case ${f.index}: ${f.error}\n    input: ${f.input}\n    replay: npm run fuzz -- --only ${r.name} --seed ${seed} --case ${f.index}`,
  );
}
