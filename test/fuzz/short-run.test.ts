// A short `npm run fuzz` (500 inputs per parser, seed 1) as part of `npm test`: every parser
// of outside input still keeps its contract on mutated captures and generated inputs. The full
// run (10 000 per parser) is `npm run fuzz`; a failure prints the command replaying its case.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzz } from '../../fuzz/run.js';

const INPUTS = 500;

test(`every parser keeps its contract on ${INPUTS} fuzzed inputs`, async (t) => {
  const lines: string[] = [];
  const r = await fuzz({ seed: 1, inputs: INPUTS, budgetMs: 60_000, log: (l) => lines.push(l) });
  for (const l of [...lines, r.summary]) t.diagnostic(l);
  assert.ok(r.results.length >= 20, `${r.results.length} parsers`);
  for (const p of r.results) assert.equal(p.inputs, INPUTS, `${p.name}: ${p.inputs} inputs within the budget`);
  assert.equal(r.summary, `fuzz: ${INPUTS * r.results.length} inputs, 0 crashes, 0 hangs`, lines.join('\n'));
});
