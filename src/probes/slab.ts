// slab: the TCP slab cache from /proc/slabinfo (kernel-wide, host entity only).
import { metricsOf } from '../catalogue/metrics.js';
import type { MetricProbe } from '../model.js';
import { readText } from '../procfs/read.js';

// "TCP  <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ..."
const FIELDS = ['active_objs', 'num_objs', 'objsize', 'objperslab', 'pagesperslab'];

export function parseSlabLine(text: string, cache: string): Record<string, number> | undefined {
  const line = text.split('\n').find((l) => l.split(/\s+/, 1)[0] === cache);
  if (!line) return undefined;
  const cols = line.split(/\s+/).slice(1, 1 + FIELDS.length).map(Number);
  return Object.fromEntries(FIELDS.map((f, i) => [f, cols[i]!]));
}

export const slabProbe: MetricProbe = {
  name: 'slab',
  scope: 'host',
  async unsupported() {
    try {
      const text = await readText('/proc/slabinfo');
      return parseSlabLine(text, 'TCP') ? undefined : 'no TCP cache in /proc/slabinfo (merged into another cache?)';
    } catch (e) {
      return `cannot read /proc/slabinfo: ${(e as Error).message}`;
    }
  },
  async collect() {
    const slab = parseSlabLine(await readText('/proc/slabinfo'), 'TCP');
    if (!slab) throw new Error('no TCP cache in /proc/slabinfo');
    return metricsOf('slab').map((d) => ({ metric: d.name, value: slab[d.source]! }));
  },
};
