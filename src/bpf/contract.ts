// The kernel ↔ TypeScript contract of a kubesonar BPF object, checked when the object is opened
// rather than kept in step by comments. Each thing has one place:
//  - layouts and numbers the kernel side defines (struct event, struct settings, enum
//    setting_flag, enum stat_index in common.bpf.h; each probe's kind enum) are read from the
//    object's own BTF by name; a member that is missing or resized is an error naming it;
//  - the latency histogram bounds are LATENCY_BUCKETS_NS (src/model.ts), which the
//    metric catalogue needs without any object: they are written into the object's
//    `const volatile` hist_bounds (latency.bpf.h) before load, after checking that the
//    object's bucket count (HIST_BOUNDS, the size of hist_bounds and of struct hist) matches.
// BpfProbe refuses an object whose contract does not hold and reports the reason in /status.
import { LATENCY_BUCKETS_NS } from '../model.js';
import type { BpfObject } from './addon.js';
import { enumMap, enumValues, memberOffsets } from './btf.js';
import { RecordLayout } from './records.js';

export interface ObjectContract {
  /** Where struct event's members are in a ring buffer record. */
  record: RecordLayout;
  /** The `settings` map value: its size and where its two u32 are. */
  settings: { size: number; events_per_sec: number; flags: number };
  /** Bits of settings.flags. */
  settingFlags: { SETTING_NO_STACK: number };
  /** Keys of the per-CPU `stats` map. */
  stats: { STAT_LOST: number; STAT_SUPPRESSED: number; STAT_MAPFULL: number; STAT_OWN: number; STAT_UNATTRIBUTED: number };
  /** Latency objects: bucket bounds written into hist_bounds, and u64 slots per histogram (buckets, +Inf, sum). */
  histogram?: { bounds: readonly number[]; slots: number };
}

const USER = 'src/bpf/probe.ts';

/** The histogram bounds as hist_bounds holds them (u64 ns). */
function boundsBuffer(): Buffer {
  const b = Buffer.alloc(LATENCY_BUCKETS_NS.length * 8);
  LATENCY_BUCKETS_NS.forEach((ns, i) => b.writeBigUInt64LE(BigInt(ns), i * 8));
  return b;
}

/**
 * Reads and checks the contract of an opened object and gives it what userspace owns (the
 * histogram bounds), so call it before load(). Throws with a message that names what disagrees.
 */
export function objectContract(obj: BpfObject): ObjectContract {
  const record = RecordLayout.of(obj.btfStruct('event'));
  const settingsStruct = obj.btfStruct('settings');
  const settings = { size: settingsStruct.size, ...memberOffsets('settings', settingsStruct, { events_per_sec: 4, flags: 4 }, USER) };
  const settingFlags = enumValues('setting_flag', enumMap(obj.btfEnum('setting_flag')), ['SETTING_NO_STACK'], USER);
  const stats = enumValues('stat_index', enumMap(obj.btfEnum('stat_index')), ['STAT_LOST', 'STAT_SUPPRESSED', 'STAT_MAPFULL', 'STAT_OWN', 'STAT_UNATTRIBUTED'], USER);

  let histogram: ObjectContract['histogram'];
  const bounds = obj.globals().find((g) => g.name === 'hist_bounds');
  if (bounds) {
    const n = LATENCY_BUCKETS_NS.length;
    if (bounds.size !== n * 8) {
      throw new Error(`hist_bounds holds ${bounds.size / 8} bucket bounds (HIST_BOUNDS in latency.bpf.h), LATENCY_BUCKETS_NS in src/model.ts has ${n}`);
    }
    // Buckets, the +Inf bucket, the sum: what histogramOf() reads as slots 0..n+1.
    const slots = obj.btfStruct('hist').size / 8;
    if (slots !== n + 2) throw new Error(`struct hist has ${slots} u64 slots, src/probes/latency.ts reads ${n + 2} (${n} bounds, +Inf, sum)`);
    obj.setGlobal('hist_bounds', boundsBuffer());
    histogram = { bounds: LATENCY_BUCKETS_NS, slots };
  }
  return { record, settings, settingFlags, stats, histogram };
}
