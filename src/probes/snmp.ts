// Collection over the snmp-style files of /proc/<pid>/net: each catalogue entry's `source`
// (`Section:Field`, or several joined by `+` to sum them) names the kernel counters, so the
// probes of these files share this reader.
import type { Entity, MetricDef, ProbeContext, Sample } from '../model.js';
import { parseKeyValueLines, parseSnmp } from '../procfs/read.js';
import { procNetText } from './shared.js';

type Parser = (text: string, into: Map<string, number>) => Map<string, number>;

export function snmpCollect(files: readonly string[], defs: readonly Pick<MetricDef, 'name' | 'source'>[], parse: Parser = parseSnmp) {
  return async (entity: Entity, ctx: ProbeContext): Promise<Sample[]> => {
    const values = new Map<string, number>();
    for (const file of files) parse(await procNetText(entity, ctx, file), values);
    const samples: Sample[] = [];
    for (const def of defs) {
      const parts = def.source.split('+').map((key) => values.get(key));
      if (parts.includes(undefined)) ctx.note(`${def.source} is not in /proc/net/${files.join(', ')} on this kernel`);
      else samples.push({ metric: def.name, value: parts.reduce((a, b) => a! + b!, 0)! });
    }
    return samples;
  };
}

export const mergeKeyValueLines: Parser = (text, into) => {
  for (const [k, v] of parseKeyValueLines(text)) into.set(k, v);
  return into;
};
