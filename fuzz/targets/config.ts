// The config file: YAML, then the schema, then the code checks. Contract (src/config/load.ts):
// an AgentConfig, or a ConfigError of one-line problems; nothing else escapes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { CONFIG_SCHEMA, ConfigError, parseConfig } from '../../src/config/index.js';
import { check, showText, type Target } from '../harness.js';
import { mutateJson, mutateText, randomValue, TOKENS } from '../mutate.js';
import { ROOT } from '../paths.js';
import type { Rng } from '../prng.js';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : []);
}

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; items?: Schema; enum?: readonly unknown[]; minimum?: number; maximum?: number };

/** A document shaped like the schema: known keys with values of the right and wrong types, edges of ranges. */
function fromSchema(rng: Rng, s: Schema, depth = 0): unknown {
  if (rng.chance(0.08) || depth > 6) return randomValue(rng);
  if (s.properties) {
    const keys = Object.keys(s.properties);
    const out: Record<string, unknown> = {};
    for (let n = rng.int(Math.min(keys.length, 5)) + 1; n > 0; n--) {
      const k = rng.pick(keys);
      out[k] = fromSchema(rng, s.properties[k]!, depth + 1);
    }
    if (rng.chance(0.05)) out[rng.pick(TOKENS) || 'x'] = randomValue(rng);
    return out;
  }
  if (s.enum) return rng.chance(0.8) ? rng.pick(s.enum) : rng.pick(TOKENS);
  const type = Array.isArray(s.type) ? rng.pick(s.type) : s.type;
  switch (type) {
    case 'integer':
    case 'number':
      return rng.pick([s.minimum ?? 0, s.maximum ?? 65535, (s.minimum ?? 0) - 1, (s.maximum ?? 65535) + 1, rng.int(100000), 0.5]);
    case 'boolean': return rng.chance(0.9) ? rng.chance(0.5) : 'yes';
    case 'array': return Array.from({ length: rng.int(4) }, () => fromSchema(rng, s.items ?? {}, depth + 1));
    case 'string':
      return rng.pick(['', 'http://127.0.0.1:3100', 'https://[::1]:4318/v1/logs', 'loki:3100', 'a,b', 'tcp,udp', '10.0.0.0/8', 'fd00::/64', '/tmp/x', '5s', ...TOKENS]);
    default: return randomValue(rng);
  }
}

export function configTarget(): Target<string> {
  let seeds: string[] = [];
  let emitWarning: typeof process.emitWarning | undefined;
  return {
    name: 'config',
    async open() {
      seeds = yamlFiles(join(ROOT, 'examples')).map((f) => readFileSync(f, 'utf8'));
      // yaml warns on stderr about mapping keys that are collections; thousands of such
      // documents would bury the report (the key is then reported as unknown anyway).
      emitWarning = process.emitWarning;
      process.emitWarning = () => undefined;
    },
    async close() {
      if (emitWarning) process.emitWarning = emitWarning;
    },
    make(rng) {
      const r = rng.int(10);
      if (r < 5) return mutateText(rng, rng.pick(seeds), seeds);
      if (r < 8) return stringify(fromSchema(rng, CONFIG_SCHEMA as unknown as Schema)) ?? "";
      // a seed's document with values changed (survives the YAML parser, reaches the checks)
      const doc = parseConfigDoc(rng.pick(seeds));
      return stringify(mutateJson(rng, doc)) ?? "";
    },
    feed(text) {
      let problems: readonly string[];
      try {
        const config = parseConfig(text, 'fuzz.yaml', {});
        check(config && typeof config === 'object' && config.metric_config && config.event_config, 'parseConfig returned no config');
        return;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems = err.problems;
      }
      check(problems.length > 0, 'a ConfigError without a problem');
      for (const p of problems) check(p.length > 0 && !p.includes('\n'), `a problem that is not one line: ${JSON.stringify(p)}`);
    },
    show: showText,
  };
}

/** A seed as plain data (the seeds are valid YAML; only their values are then changed). */
function parseConfigDoc(text: string): unknown {
  return (JSON.parse(JSON.stringify(parseYaml(text) ?? {})) as unknown);
}
