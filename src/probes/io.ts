// io: read/write syscalls and storage bytes of every process in the namespace (/proc/<pid>/io).
// A sum over live processes: when one exits its share leaves the sum, which Prometheus
// handles as a counter reset.
import { metricsOf } from '../catalogue/metrics.js';
import type { MetricProbe } from '../model.js';
import { readText } from '../procfs/read.js';

const defs = metricsOf('io');

export const ioProbe: MetricProbe = {
  name: 'io',
  scope: 'netns',
  async collect(entity) {
    const sums = new Map<string, number>(defs.map((d) => [d.source, 0]));
    for (const pid of entity.pids) {
      let text: string;
      try {
        text = await readText(`/proc/${pid}/io`);
      } catch {
        continue; // exited meanwhile
      }
      for (const line of text.split('\n')) {
        const [field, value] = line.split(':');
        if (field && sums.has(field)) sums.set(field, sums.get(field)! + Number(value));
      }
    }
    return defs.map((d) => ({ metric: d.name, value: sums.get(d.source)! }));
  },
};
