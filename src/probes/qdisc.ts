// qdisc: root qdisc statistics over rtnetlink for devices matching `qdisc_devices`
// (KCE default cali* and eth*): summed per namespace, or per interface when configured.
// The sum's counters go through MonotonicSums: devices and qdiscs come and go with pods.
import { netnsRef, type Sample } from '../model.js';
import { qdiscs, TC_H_ROOT, type Qdisc } from '../netlink/rtnetlink.js';
import { globToRegExp } from '../util/glob.js';
import { MonotonicSums } from '../util/monotonic.js';
import { needsNative } from './native.js';
import { counter, defineProbe, gauge, IF, type ProbeOption } from './probe.js';
import { linksOf } from './shared.js';

const METRICS = [
  counter('bytes', 'bytes', 'Bytes sent by the qdiscs.', 'By', IF),
  counter('packets', 'packets', 'Packets sent by the qdiscs.', '{packet}', IF),
  counter('drops', 'drops', 'Packets dropped by the qdiscs.', '{packet}', IF),
  counter('overlimits', 'overlimits', 'Times a qdisc was over its limit (packets delayed or dropped by shaping).', '{event}', IF),
  counter('requeues', 'requeues', 'Packets requeued because the driver was busy.', '{packet}', IF),
  gauge('backlog', 'backlog', 'Bytes waiting in the qdiscs.', 'By', IF),
  gauge('qlen', 'qlen', 'Packets waiting in the qdiscs.', '{packet}', IF),
];
const sums = new MonotonicSums();

/** The device globs as expressions, compiled once per configuration (the option's array). */
const compiledGlobs = new WeakMap<readonly string[], RegExp[]>();
function compiled(globs: readonly string[]): RegExp[] {
  let res = compiledGlobs.get(globs);
  if (!res) compiledGlobs.set(globs, (res = globs.map(globToRegExp)));
  return res;
}

const DEVICES: ProbeOption = {
  section: 'metric_config',
  key: 'qdisc_devices',
  schema: {
    type: 'array', minItems: 1, items: { type: 'string', format: 'ifname-glob' }, default: ['cali*', 'eth*'],
    description: 'Globs of devices whose qdisc stats are summed',
  },
};
const PER_INTERFACE: ProbeOption = {
  section: 'metric_config',
  key: 'qdisc_per_interface',
  schema: { type: 'boolean', default: false, description: 'Report qdisc stats per interface instead of summed' },
};

export default defineProbe({
  name: 'qdisc',
  metrics: METRICS,
  options: [DEVICES, PER_INTERFACE],
  unsupported: needsNative,
  async collect(entity, ctx) {
    const [ifs, qs] = await Promise.all([linksOf(entity, ctx), qdiscs(netnsRef(entity))]);
    const patterns = compiled(ctx.options[DEVICES.key] as string[]);
    const names = new Map(ifs.map((l) => [l.index, l.name]));
    // Only root qdiscs: children are already counted in their root's statistics.
    const roots = qs.filter((q) => q.parent === TC_H_ROOT && patterns.some((p) => p.test(names.get(q.ifindex) ?? '')));
    const value = (q: Qdisc, d: (typeof METRICS)[number]) => q[d.source as keyof Qdisc] as number;
    if (ctx.options[PER_INTERFACE.key]) {
      return roots.flatMap((q) => METRICS.map((d) => ({ metric: d.name, value: value(q, d), labels: { if_name: names.get(q.ifindex)! } })));
    }
    sums.retainEntities(ctx.entities);
    if (roots.length === 0) return [];
    return METRICS.map((d): Sample => {
      if (d.type === 'gauge') return { metric: d.name, value: roots.reduce((n, q) => n + value(q, d), 0) };
      const parts = new Map(roots.map((q) => [`${q.ifindex}:${q.handle}:${q.kind}`, value(q, d)]));
      return { metric: d.name, value: sums.total(entity.netns, d.name, parts) };
    });
  },
});
