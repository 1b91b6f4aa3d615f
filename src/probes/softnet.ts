// softnet: per-CPU backlog statistics, summed over CPUs. The kernel keeps them per CPU,
// not per namespace, so they are reported on the host entity only.
import { metricsOf } from '../catalogue/metrics.js';
import type { MetricProbe } from '../model.js';
import { readText } from '../procfs/read.js';

const COLUMNS: Record<string, number> = { processed: 0, dropped: 1, time_squeeze: 2 };

export function parseSoftnetStat(text: string): Record<string, number> {
  const sums: Record<string, number> = { processed: 0, dropped: 0, time_squeeze: 0 };
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 3) continue;
    for (const [name, i] of Object.entries(COLUMNS)) sums[name]! += parseInt(cols[i]!, 16);
  }
  return sums;
}

export const softnetProbe: MetricProbe = {
  name: 'softnet',
  scope: 'host',
  async collect() {
    const sums = parseSoftnetStat(await readText('/proc/net/softnet_stat'));
    return metricsOf('softnet').map((d) => ({ metric: d.name, value: sums[d.source]! }));
  },
};
