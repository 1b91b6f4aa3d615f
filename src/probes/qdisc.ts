// qdisc: root qdisc statistics over rtnetlink for devices matching `qdisc_devices`
// (KCE default cali* and eth*): summed per namespace, or per interface when configured.
import { metricsOf } from '../catalogue/metrics.js';
import { netnsPath, type MetricProbe, type Sample } from '../model.js';
import { qdiscs, TC_H_ROOT, type Qdisc } from '../netlink/rtnetlink.js';
import { needsNative } from './native.js';
import { linksOf } from './shared.js';

const defs = metricsOf('qdisc');

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
    const totals = new Map<string, Record<string, number>>();
    for (const q of qs) {
      const name = names.get(q.ifindex);
      // Only root qdiscs: children are already counted in their root's statistics.
      if (q.parent !== TC_H_ROOT || !name || !patterns.some((p) => p.test(name))) continue;
      const key = ctx.options.qdiscPerInterface ? name : '';
      const sum = totals.get(key) ?? Object.fromEntries(defs.map((d) => [d.source, 0]));
      for (const d of defs) sum[d.source]! += q[d.source as keyof Qdisc] as number;
      totals.set(key, sum);
    }
    const samples: Sample[] = [];
    for (const [ifName, sum] of totals) {
      for (const d of defs) samples.push({ metric: d.name, value: sum[d.source]!, ...(ifName ? { labels: { if_name: ifName } } : {}) });
    }
    return samples;
  },
};
