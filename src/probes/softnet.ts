// softnet: per-CPU backlog statistics, summed over CPUs. The kernel keeps them per CPU,
// not per namespace, so they are reported on the host entity only.
import { readText } from '../procfs/read.js';
import { counter, defineProbe } from './probe.js';

const COLUMNS: Record<string, number> = { processed: 0, dropped: 1, time_squeeze: 2 };

const METRICS = [
  counter('processed', 'processed', 'Packets processed from the per-CPU backlog, all CPUs.', '{packet}'),
  counter('dropped', 'dropped', 'Packets dropped because a per-CPU backlog was full (netdev_max_backlog), all CPUs.', '{packet}'),
  counter('timesqueeze', 'time_squeeze', 'Times NET_RX softirq stopped with work left (budget or time exhausted), all CPUs.', '{event}'),
];

export function parseSoftnetStat(text: string): Record<string, number> {
  const sums: Record<string, number> = { processed: 0, dropped: 0, time_squeeze: 0 };
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 3) continue;
    for (const [name, i] of Object.entries(COLUMNS)) sums[name]! += parseInt(cols[i]!, 16);
  }
  return sums;
}

export default defineProbe({
  name: 'softnet',
  aliases: ['softnetstat'],
  scope: 'host',
  metrics: METRICS,
  async collect() {
    const sums = parseSoftnetStat(await readText('/proc/net/softnet_stat'));
    return METRICS.map((d) => ({ metric: d.name, value: sums[d.source]! }));
  },
});
