// What the collection of the eBPF probes shares: their counters of one namespace, read from the
// kernel once per cycle for every namespace (a dead namespace's are deleted there), and the
// node-wide count of their events the ring buffer lost, on the host entity only.
import type { BpfProbe } from '../bpf/probe.js';
import type { Entity, ProbeContext, Sample } from '../model.js';

/** kind → count of `entity`'s namespace (undefined: nothing counted there yet). */
export async function countersIn(kernel: BpfProbe, entity: Entity, ctx: ProbeContext): Promise<ReadonlyMap<number, number> | undefined> {
  const all = await ctx.shared(`bpf:${kernel.name}`, async () => kernel.counters(new Set(ctx.entities.map((e) => e.netns))));
  return all.get(entity.netns);
}

/** The `eventslost` sample, on the host entity only (the ring buffer is node-wide). */
export function lostEvents(kernel: BpfProbe, entity: Entity): Sample[] {
  return entity.isHost ? [{ metric: 'eventslost', value: kernel.stats().lost }] : [];
}
