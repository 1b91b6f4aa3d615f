// Collection over the snmp-style files of /proc/<pid>/net: each catalogue entry's `source`
// (`Section:Field`, or several joined by `+` to sum them) names the kernel counters, so the
// probes of these files share this reader.
import type { Entity, MetricDef, ProbeContext, Sample } from '../model.js';
import { parseKeyValueLines, parseSnmp } from '../procfs/read.js';
import { parsedProcNet, type Parser } from './shared.js';

export function snmpCollect(files: readonly string[], defs: readonly Pick<MetricDef, 'name' | 'source'>[], parse: Parser = parseSnmp) {
  const sources = defs.map((def) => def.source.split('+'));
  return async (entity: Entity, ctx: ProbeContext): Promise<Sample[]> => {
    // Parsed once per namespace and cycle: tcp, udp and ip all read snmp.
    const parsed = await Promise.all(files.map((file) => parsedProcNet(entity, ctx, file, parse)));
    const samples: Sample[] = [];
    // Plain loops: a hundred-odd entries per namespace and cycle. The files are looked up one
    // after the other, the last holding a key winning, instead of being merged into one map
    // (ip's snmp and netstat alone are some 300 entries per namespace and cycle).
    for (let i = 0; i < defs.length; i++) {
      let sum = 0;
      let missing = false;
      for (const key of sources[i]!) {
        let v: number | undefined;
        for (let f = parsed.length - 1; f >= 0 && v === undefined; f--) v = parsed[f]!.get(key);
        if (v === undefined) missing = true;
        else sum += v;
      }
      if (missing) ctx.note(`${defs[i]!.source} is not in /proc/net/${files.join(', ')} on this kernel`);
      else samples.push({ metric: defs[i]!.name, value: sum });
    }
    return samples;
  };
}

export const mergeKeyValueLines: Parser = (text) => parseKeyValueLines(text);
