// net_softirq: NET_RX and NET_TX softirqs per CPU (irq:softirq_raise/entry/exit,
// native/bpf/net_softirq.bpf.c): schedule delay (raise → entry) and execution time
// (entry → exit) as histograms kept in the kernel, the seeds' counters of runs over 100 ms,
// and events over the threshold. Kernel-wide: exported on the host entity only.
import type { Sample } from '../model.js';
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import type { BpfRecord } from '../bpf/records.js';
import { lostEvents } from './counters.js';
import { histogram, histogramOf, LATENCY_PERIOD, LATENCY_SAMPLE, LATENCY_THRESHOLD, LATENCY_WINDOW, PER_PACKET, SAMPLED, tuneSampling, over100ms, writeThreshold } from './latency.js';
import { counter, defineProbe, event, eventsLost, HOST } from './probe.js';

const NAME = 'net_softirq';
const kernel = new BpfProbe(NAME, 'hist');

/** The softirq vectors traced (enum in include/linux/interrupt.h, stable since 2.6). */
const VECTORS = [[2, 'NET_TX'], [3, 'NET_RX']] as const;
export const vectorName = (vec: number): string => VECTORS.find(([v]) => v === vec)?.[1] ?? `VEC_${vec}`;

/** Each member of enum net_softirq_kind (net_softirq.bpf.c) → histogram, counter, program and event type. */
const KINDS = {
  SCHED: {
    histogram: 'schedlatency', slow: 'schedslow100ms', program: 'softirq_entry', what: 'waited',
    event: event('NET_SOFTIRQ_SCHED_SLOW', 'WARN', 'A NET_RX/NET_TX softirq waited longer than the threshold between raise and entry.'),
  },
  EXEC: {
    histogram: 'execlatency', slow: 'execslow100ms', program: 'softirq_exit', what: 'ran',
    event: event('NET_SOFTIRQ_EXEC_SLOW', 'WARN', 'A NET_RX/NET_TX softirq ran longer than the threshold.'),
  },
} as const;
const ENUM = ['net_softirq_kind', 'NET_SOFTIRQ_'] as const;

function fromRecord(r: BpfRecord) {
  const k = KINDS[kernel.kindName(...ENUM, r.kind) as keyof typeof KINDS];
  if (!k) throw new Error(`${NAME}: unknown kind ${r.kind}`);
  const cpu = r.sport;
  const vector = vectorName(r.state);
  const latencyMs = r.reason / 1000;
  return recordEvent(NAME, k.event, r, `${vector} softirq on CPU ${cpu} ${k.what} ${latencyMs.toFixed(3)} ms`, { cpu, vector, latency_ms: latencyMs });
}

export default defineProbe({
  name: NAME,
  aliases: ['netsoftirq'],
  kernel,
  scope: 'host',
  metrics: [
    histogram('schedlatency', 'irq:softirq_raise → irq:softirq_entry', 'Time NET_RX/NET_TX softirqs waited from their first raise to the start of their run, per CPU and vector.', { labels: ['cpu', 'vector'], ack: 'inspector_node_netsoftirqshed', ...HOST }),
    histogram('execlatency', 'irq:softirq_entry → irq:softirq_exit', 'Time NET_RX/NET_TX softirq runs took, per CPU and vector.', { labels: ['cpu', 'vector'], ack: 'inspector_node_netsoftirq', ...HOST }),
    counter('schedslow100ms', 'irq:softirq_raise → irq:softirq_entry', 'NET_RX/NET_TX softirqs that waited more than 100 ms to run, all CPUs.', '{event}', { sampled: SAMPLED, ack: 'inspector_pod_net_softirq_schedslow100ms', ...HOST }),
    counter('execslow100ms', 'irq:softirq_entry → irq:softirq_exit', 'NET_RX/NET_TX softirq runs that took more than 100 ms, all CPUs.', '{event}', { sampled: SAMPLED, ack: 'inspector_pod_net_softirq_excuteslow100ms', ...HOST }),
    eventsLost(NAME, HOST),
  ],
  unsupported: async () => kernel.unsupported(),
  async collect(entity, ctx) {
    const perCpu = kernel.counters();
    const cpus = [...perCpu.keys()].sort((x, y) => x - y);
    const samples: Sample[] = [];
    const values = kernel.kernelKinds(...ENUM);
    for (const [kindName, { histogram: name, slow, program }] of Object.entries(KINDS)) {
      // The schedule delay needs softirq_raise as well as softirq_entry.
      if (!kernel.isAttached(program) || (kindName === 'SCHED' && !kernel.isAttached('softirq_raise'))) continue;
      const kind = values.get(kindName)!;
      let slowRuns = 0;
      for (const [vec, vector] of VECTORS) {
        for (const cpu of cpus) {
          const h = histogramOf(perCpu.get(cpu), (vec << 16) | (kind << 8));
          if (!h) continue; // a CPU that never ran this softirq has no series
          slowRuns += over100ms(h);
          samples.push({ metric: name, value: h, labels: { cpu: String(cpu), vector } });
        }
      }
      // Always present (0 before the first run), so the counter exists from the start.
      samples.push({ metric: slow, value: slowRuns });
    }
    for (const f of kernel.failures()) ctx.note(`not attached, its metrics are not exported: ${f}`);
    return [...samples, ...lostEvents(kernel, entity)];
  },
  events: Object.values(KINDS).map((k) => k.event),
  fromRecord,
  configure: (options) => writeThreshold(kernel, options),
  tune: tuneSampling(kernel),
  optIn: PER_PACKET,
  options: [LATENCY_THRESHOLD, LATENCY_SAMPLE, LATENCY_WINDOW, LATENCY_PERIOD],
});
