// io: read/write syscalls and storage bytes of every process in the namespace (/proc/<pid>/io).
// Processes come and go; MonotonicSums keeps what exited ones did, so the counters never
// go backwards.
import { MonotonicSums } from '../util/monotonic.js';
import { counter, defineProbe } from './probe.js';
import { pidStatsOf } from './shared.js';

const METRICS = [
  counter('ioreadsyscall', 'syscr', 'Read system calls of the processes in the namespace (processes that exited drop out).', '{call}'),
  counter('iowritesyscall', 'syscw', 'Write system calls of the processes in the namespace.', '{call}'),
  counter('ioreadbytes', 'read_bytes', 'Bytes the processes read from storage.', 'By'),
  counter('iowritebytes', 'write_bytes', 'Bytes the processes wrote to storage.', 'By', { ack: 'inspector_pod_ioiowritebyres' }),
];
const sums = new MonotonicSums();

export default defineProbe({
  name: 'io',
  metrics: METRICS,
  async collect(entity, ctx) {
    sums.retainEntities(ctx.entities);
    const perField = new Map<string, Map<string, number>>(METRICS.map((d) => [d.source, new Map()]));
    for (const p of await pidStatsOf(entity, ctx)) {
      if (!p.io) {
        if (p.ioError === 'ENOENT' || p.ioError === 'ESRCH') continue; // exited
        // EACCES without CAP_SYS_PTRACE: say so rather than report zeros
        throw Object.assign(new Error(`cannot read /proc/${p.pid}/io: ${p.ioError}`), { code: p.ioError });
      }
      for (const d of METRICS) perField.get(d.source)!.set(String(p.pid), p.io[d.source as keyof typeof p.io]);
    }
    return METRICS.map((d) => ({ metric: d.name, value: sums.total(entity.netns, d.name, perField.get(d.source)!) }));
  },
});
