// qdisc: root qdisc statistics over rtnetlink for devices matching `qdisc_devices`
// (KCE default cali* and eth*): summed per namespace, or per interface when configured.
// The sum's counters go through MonotonicSums: devices and qdiscs come and go with pods.
import { metricsOf } from '../catalogue/metrics.js';
import { netnsPath, type MetricProbe, type Sample } from '../model.js';
import { qdiscs, TC_H_ROOT, type Qdisc } from '../netlink/rtnetlink.js';
import { MonotonicSums } from '../pipeline/monotonic.js';
import { needsNative } from './native.js';
import { linksOf } from './shared.js';

const defs = metricsOf('qdisc');
const sums = new MonotonicSums();

export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export const qdiscProbe: MetricProbe = {
  name: 'qdisc',
  scope: 'netns',
  unsupported: needsNative,
  async collect(entity, ctx) {
    const [ifs, qs] = await Promise.all([linksOf(entity, ctx), qdiscs(netnsPath(entity))]);
    const patterns = ctx.options.qdiscDevices.map(globToRegExp);
    const names = new Map(ifs.map((l) => [l.index, l.name]));
    // Only root qdiscs: children are already counted in their root's statistics.
    const roots = qs.filter((q) => q.parent === TC_H_ROOT && patterns.some((p) => p.test(names.get(q.ifindex) ?? '')));
    const value = (q: Qdisc, d: (typeof defs)[number]) => q[d.source as keyof Qdisc] as number;
    if (ctx.options.qdiscPerInterface) {
      return roots.flatMap((q) => defs.map((d) => ({ metric: d.name, value: value(q, d), labels: { if_name: names.get(q.ifindex)! } })));
    }
    sums.retain(new Set(ctx.entities.map((e) => e.netns)));
    if (roots.length === 0) return [];
    return defs.map((d): Sample => {
      if (d.type === 'gauge') return { metric: d.name, value: roots.reduce((n, q) => n + value(q, d), 0) };
      const parts = new Map(roots.map((q) => [`${q.ifindex}:${q.handle}:${q.kind}`, value(q, d)]));
      return { metric: d.name, value: sums.total(entity.netns, d.name, parts) };
    });
  },
};
