// io: read/write syscalls and storage bytes of every process in the namespace (/proc/<pid>/io).
// Processes come and go; MonotonicSums keeps what exited ones did, so the counters never
// go backwards.
import { metricsOf } from '../catalogue/metrics.js';
import type { MetricProbe } from '../model.js';
import { MonotonicSums } from '../pipeline/monotonic.js';
import { readText } from '../procfs/read.js';

const defs = metricsOf('io');
const sums = new MonotonicSums();

/** Parses "syscr: 12" lines. */
export function parseProcIo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [field, value] = line.split(':');
    if (field && value !== undefined) out.set(field, Number(value));
  }
  return out;
}

export const ioProbe: MetricProbe = {
  name: 'io',
  scope: 'netns',
  async collect(entity, ctx) {
    sums.retain(new Set(ctx.entities.map((e) => e.netns)));
    const perField = new Map<string, Map<string, number>>(defs.map((d) => [d.source, new Map()]));
    for (const pid of entity.pids) {
      let text: string;
      try {
        text = await readText(`/proc/${pid}/io`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') continue; // exited
        throw e; // EACCES without CAP_SYS_PTRACE: say so rather than report zeros
      }
      for (const [field, value] of parseProcIo(text)) perField.get(field)?.set(String(pid), value);
    }
    return defs.map((d) => ({ metric: d.name, value: sums.total(entity.netns, d.name, perField.get(d.source)!) }));
  },
};
