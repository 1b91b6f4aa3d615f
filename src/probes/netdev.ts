// netdev: per-interface counters from IFLA_STATS64 over rtnetlink in the entity's namespace
// (sysfs would show the agent's own namespace; /proc/net/dev lacks CRC errors).
import { metricsOf } from '../catalogue/metrics.js';
import type { MetricProbe, Sample } from '../model.js';
import type { LinkStats } from '../netlink/rtnetlink.js';
import { needsNative } from './native.js';
import { linksOf } from './shared.js';

const defs = metricsOf('netdev');

export const netdevProbe: MetricProbe = {
  name: 'netdev',
  scope: 'netns',
  unsupported: needsNative,
  async collect(entity, ctx) {
    const samples: Sample[] = [];
    for (const link of await linksOf(entity, ctx)) {
      for (const d of defs) samples.push({ metric: d.name, value: link.stats[d.source as keyof LinkStats], labels: { if_name: link.name } });
    }
    return samples;
  },
};
