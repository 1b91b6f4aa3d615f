// io: read/write syscalls and storage bytes of every process in the namespace (/proc/<pid>/io).
// Processes come and go; MonotonicSums keeps what exited ones did, so the counters never
// go backwards.
import { readText } from '../procfs/read.js';
import { MonotonicSums } from '../util/monotonic.js';
import { counter, defineProbe } from './probe.js';

const METRICS = [
  counter('ioreadsyscall', 'syscr', 'Read system calls of the processes in the namespace (processes that exited drop out).', '{call}'),
  counter('iowritesyscall', 'syscw', 'Write system calls of the processes in the namespace.', '{call}'),
  counter('ioreadbytes', 'read_bytes', 'Bytes the processes read from storage.', 'By'),
  counter('iowritebytes', 'write_bytes', 'Bytes the processes wrote to storage.', 'By', { ack: 'inspector_pod_ioiowritebyres' }),
];
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

export default defineProbe({
  name: 'io',
  metrics: METRICS,
  async collect(entity, ctx) {
    sums.retain(new Set(ctx.entities.map((e) => e.netns)));
    const perField = new Map<string, Map<string, number>>(METRICS.map((d) => [d.source, new Map()]));
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
    return METRICS.map((d) => ({ metric: d.name, value: sums.total(entity.netns, d.name, perField.get(d.source)!) }));
  },
});
