// net_softirq: NET_RX and NET_TX softirqs per CPU (irq:softirq_raise/entry/exit,
// native/bpf/net_softirq.bpf.c): schedule delay (raise → entry) and execution time
// (entry → exit) as histograms kept in the kernel, the seeds' counters of runs over 100 ms,
// and events over the threshold. Kernel-wide: exported on the host entity only.
import type { NetEvent } from '../events/model.js';
import type { MetricProbe, Sample } from '../model.js';
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import type { BpfRecord } from '../bpf/records.js';
import { histogramOf, over100ms } from './latency.js';

const bpf = new BpfProbe('net_softirq', 'hist');

/** The softirq vectors traced (enum in include/linux/interrupt.h, stable since 2.6). */
const VECTORS = [[2, 'NET_TX'], [3, 'NET_RX']] as const;
export const vectorName = (vec: number): string => VECTORS.find(([v]) => v === vec)?.[1] ?? `VEC_${vec}`;

/** Kernel metric/kind → histogram, counter, program and event type (enum in net_softirq.bpf.c). */
const KINDS = [
  { histogram: 'schedlatency', slow: 'schedslow100ms', program: 'softirq_entry', type: 'NET_SOFTIRQ_SCHED_SLOW', what: 'waited' },
  { histogram: 'execlatency', slow: 'execslow100ms', program: 'softirq_exit', type: 'NET_SOFTIRQ_EXEC_SLOW', what: 'ran' },
] as const;

export const netSoftirqProbe: MetricProbe = {
  name: 'net_softirq',
  scope: 'host',
  async unsupported() {
    return bpf.unsupported();
  },
  async collect(_entity, ctx) {
    const perCpu = bpf.counters();
    const cpus = [...perCpu.keys()].sort((x, y) => x - y);
    const samples: Sample[] = [];
    KINDS.forEach(({ histogram, slow, program }, kind) => {
      // The schedule delay needs softirq_raise as well as softirq_entry.
      if (!bpf.isAttached(program) || (kind === 0 && !bpf.isAttached('softirq_raise'))) return;
      let slowRuns = 0;
      for (const [vec, vector] of VECTORS) {
        for (const cpu of cpus) {
          const h = histogramOf(perCpu.get(cpu), (vec << 16) | (kind << 8));
          if (!h) continue; // a CPU that never ran this softirq has no series
          slowRuns += over100ms(h);
          samples.push({ metric: histogram, value: h, labels: { cpu: String(cpu), vector } });
        }
      }
      // Always present (0 before the first run), so the counter exists from the start.
      samples.push({ metric: slow, value: slowRuns });
    });
    for (const f of bpf.failures()) ctx.note(`not attached, its metrics are not exported: ${f}`);
    samples.push({ metric: 'eventslost', value: bpf.stats().lost });
    return samples;
  },
};

export function toEvent(r: BpfRecord): NetEvent {
  const k = KINDS[r.kind] ?? KINDS[0];
  const cpu = r.sport;
  const vector = vectorName(r.state);
  const latencyMs = r.reason / 1000;
  return recordEvent('net_softirq', k.type, r, `${vector} softirq on CPU ${cpu} ${k.what} ${latencyMs.toFixed(3)} ms`, { cpu, vector, latency_ms: latencyMs });
}

/** The kernel side: histograms, events (see src/bpf/registry.ts), per-program status. */
export const netSoftirqBpf = bpf;
