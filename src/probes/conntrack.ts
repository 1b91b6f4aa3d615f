// conntrack: per-namespace connection-tracking statistics over ctnetlink (what
// `conntrack -S` and `conntrack -C` show). Counters a kernel no longer sends (e.g. `ignore`)
// are noted in /status instead of being exported as zeros.
import { metricsOf } from '../catalogue/metrics.js';
import { netnsPath, type MetricProbe, type Sample } from '../model.js';
import { conntrackStats, type ConntrackCounter } from '../netlink/conntrack.js';
import { needsNative } from './native.js';

const defs = metricsOf('conntrack');

export const conntrackProbe: MetricProbe = {
  name: 'conntrack',
  scope: 'netns',
  unsupported: needsNative,
  async collect(entity, ctx) {
    const stats = await conntrackStats(netnsPath(entity));
    const values: Record<string, number> = { ...stats.counters, entries: stats.entries, max_entries: stats.maxEntries };
    const samples: Sample[] = [];
    for (const d of defs) {
      const isCounter = d.type === 'counter';
      if (isCounter && !stats.present.has(d.source as ConntrackCounter)) ctx.note(`conntrack counter ${d.source} is not sent by this kernel`);
      else samples.push({ metric: d.name, value: values[d.source] ?? 0 });
    }
    return samples;
  },
};
