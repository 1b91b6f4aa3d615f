// slab: the TCP slab cache from /proc/slabinfo (kernel-wide, host entity only).
import { readText } from '../procfs/read.js';
import { defineProbe, gauge } from './probe.js';

// "TCP  <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ..."
const FIELDS = ['active_objs', 'num_objs', 'objsize', 'objperslab', 'pagesperslab'];

const METRICS = [
  gauge('tcpslabobjactive', 'active_objs', 'Active objects in the TCP slab cache.', '{object}'),
  gauge('tcpslabobjnum', 'num_objs', 'Objects in the TCP slab cache.', '{object}'),
  gauge('tcpslabobjsize', 'objsize', 'Size of one TCP slab object.', 'By'),
  gauge('tcpslabobjperslab', 'objperslab', 'TCP slab objects per slab.', '{object}'),
  gauge('tcpslabpagesperslab', 'pagesperslab', 'Pages per TCP slab.', '{page}'),
];

/** The fields of `cache`'s line; undefined when there is no such cache, an Error when its line is cut short. */
export function parseSlabLine(text: string, cache: string): Record<string, number> | undefined {
  const line = text.split('\n').find((l) => l.split(/\s+/, 1)[0] === cache);
  if (!line) return undefined;
  const cols = line.split(/\s+/).slice(1, 1 + FIELDS.length).map(Number);
  // A short line would make samples without a value.
  if (cols.length < FIELDS.length) throw new Error(`/proc/slabinfo: the ${cache} line has ${cols.length} of its ${FIELDS.length} counts`);
  return Object.fromEntries(FIELDS.map((f, i) => [f, cols[i]!]));
}

export default defineProbe({
  name: 'slab',
  scope: 'host',
  metrics: METRICS,
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
    return METRICS.map((d) => ({ metric: d.name, value: slab[d.source]! }));
  },
});
