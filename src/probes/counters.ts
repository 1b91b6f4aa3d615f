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

/**
 * The counters of `entity`'s namespace, one sample per kind (an enum of the object's BTF) whose
 * program is attached, and `eventslost`. A kind whose program the kernel refused has no series
 * (not a zero that would read as "none happened"); /status says which, and what it costs.
 */
export async function kindSamples<K extends { program: string }>(
  kernel: BpfProbe, entity: Entity, ctx: ProbeContext,
  kindEnum: readonly [enumName: string, prefix: string], kinds: Readonly<Record<string, K>>,
  sample: (kind: K, value: number) => Sample, whatIsMissing: string,
): Promise<Sample[]> {
  const mine = await countersIn(kernel, entity, ctx);
  const values = kernel.kernelKinds(...kindEnum);
  const samples: Sample[] = [];
  for (const [name, kind] of Object.entries(kinds)) {
    if (kernel.isAttached(kind.program)) samples.push(sample(kind, mine?.get(values.get(name)!) ?? 0));
  }
  for (const f of kernel.failures()) ctx.note(`not attached, ${whatIsMissing}: ${f}`);
  return [...samples, ...lostEvents(kernel, entity)];
}
