// The BPF side: ring buffer batches (src/bpf/records.ts records(): [u32 length][u32 0][record
// padded to 8], records at the struct event layout the object's BTF gives) and the object
// contract read from BTF (src/bpf/contract.ts). Contracts: a batch never makes the decoder
// throw (the ring buffer callback runs inside the addon, where a throw would end the agent);
// a BTF that disagrees with the decoder is an Error naming what disagrees, never a TypeError,
// and a layout that is accepted decodes any record of its size.
import { readFileSync } from 'node:fs';
import type { BpfObject, BtfStruct } from '../../src/bpf/addon.js';
import { objectContract } from '../../src/bpf/contract.js';
import { RecordLayout, records, stackAddresses } from '../../src/bpf/records.js';
import { LATENCY_BUCKETS_NS } from '../../src/model.js';
import { check, ContractBroken, showHex, type Target } from '../harness.js';
import { mutateBytes } from '../mutate.js';
import { fixture } from '../paths.js';
import type { Rng } from '../prng.js';

const STRUCT_EVENT = (): BtfStruct => JSON.parse(readFileSync(fixture('bpf', 'struct-event.json'), 'utf8')).struct;

/** One record as a probe writes it: random tuple of a random family, 0 to 4 stack frames. */
function record(rng: Rng, layout: RecordLayout): Buffer {
  const frames = rng.pick([0, 0, 1, 4]);
  const r = rng.bytes(layout.stack + frames * 8);
  r.writeUInt16LE(rng.pick([2, 10, 0, 1, 0xffff]), layout.family);
  r.writeUInt32LE(frames * 8, layout.stackBytes);
  if (rng.chance(0.3)) Buffer.from('00000000000000000000ffff', 'hex').copy(r, layout.saddr);
  return r;
}

/** A batch as the addon packs it. */
function batch(rng: Rng, layout: RecordLayout): Buffer {
  const parts: Buffer[] = [];
  for (let n = rng.range(1, 5); n > 0; n--) {
    const r = record(rng, layout);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(r.length, 0);
    parts.push(head, r, Buffer.alloc(Math.ceil(r.length / 8) * 8 - r.length));
  }
  return Buffer.concat(parts);
}

function decodeAll(buf: Buffer, bytes: number, layout: RecordLayout): void {
  for (const r of records(buf, bytes, layout)) {
    check(r.stackKey.length % 8 === 0, 'a stack that is not whole frames');
    check(typeof r.saddr === 'string' && typeof r.daddr === 'string', 'an address that is not text');
    for (const a of stackAddresses(r.stackKey)) check(typeof a === 'bigint', 'a frame that is not a u64');
  }
}

export function bpfRecordsTarget(): Target<{ buf: Buffer; bytes: number }> {
  let layout: RecordLayout;
  const corpus: Buffer[] = [];
  return {
    name: 'bpf.records',
    async open() {
      layout = RecordLayout.of(STRUCT_EVENT());
    },
    make(rng) {
      const good = batch(rng, layout);
      if (corpus.length < 16) corpus.push(good);
      const buf = rng.chance(0.1) ? good : mutateBytes(rng, good, corpus);
      // The addon reuses its buffer: `bytes` may stop before its end.
      const bytes = rng.chance(0.8) ? buf.length : rng.int(buf.length + 1);
      return { buf, bytes };
    },
    feed: ({ buf, bytes }) => decodeAll(buf, bytes, layout),
    show: ({ buf, bytes }, max) => `bytes=${bytes} ${showHex(buf, max)}`,
    save: ({ buf, bytes }) => ({ bytes, buf: buf.toString('hex') }),
  };
}

// ---- the contract read from BTF ----

type Enum = [number, string][];
interface FakeBtf { structs: Record<string, BtfStruct>; enums: Record<string, Enum>; histBoundsSize?: number }

function realBtf(): FakeBtf {
  const n = LATENCY_BUCKETS_NS.length;
  return {
    structs: {
      event: STRUCT_EVENT(),
      settings: { size: 8, members: [{ name: 'events_per_sec', offset: 0, size: 4 }, { name: 'flags', offset: 4, size: 4 }] },
      hist: { size: (n + 2) * 8, members: [{ name: 'slots', offset: 0, size: (n + 2) * 8 }] },
    },
    enums: {
      setting_flag: [[1, 'SETTING_NO_STACK']],
      stat_index: [[0, 'STAT_LOST'], [1, 'STAT_SUPPRESSED'], [2, 'STAT_MAPFULL'], [3, 'STAT_OWN'], [4, 'STAT_UNATTRIBUTED']],
    },
    histBoundsSize: n * 8,
  };
}

const EDGES = [0, 1, 2, 4, 8, 16, 63, 64, 256, 320, 4096, 2 ** 31, 2 ** 32 - 1];

/** A BTF as a changed object would have it: members moved, resized, renamed, dropped, repeated, made bitfields. */
function mutateBtf(rng: Rng, btf: FakeBtf): FakeBtf {
  const out = structuredClone(btf);
  for (let n = rng.range(1, 3); n > 0; n--) {
    const which = rng.int(10);
    if (which < 7) {
      const s = out.structs[rng.pick(Object.keys(out.structs))]!;
      if (rng.chance(0.1) || !s.members.length) {
        s.size = rng.pick(EDGES);
        continue;
      }
      const i = rng.int(s.members.length);
      const m = s.members[i]!;
      switch (rng.int(6)) {
        case 0: m.offset = rng.chance(0.5) ? rng.pick(EDGES) : m.offset + rng.range(-8, 8) * (rng.chance(0.5) ? 1 : 8); break;
        case 1: m.size = rng.pick(EDGES); break;
        case 2: m.name = rng.pick(['', 'stack', 'ts', `${m.name}_`, m.name.toUpperCase()]); break;
        case 3: s.members.splice(i, 1); break;
        case 4: s.members.push({ ...m, offset: rng.pick(EDGES) }); break;
        default: m.bits = rng.pick([1, 3, 16]);
      }
      m.offset = Math.max(0, m.offset); // BTF offsets are unsigned
    } else if (which < 9) {
      const e = out.enums[rng.pick(Object.keys(out.enums))]!;
      if (e.length && rng.chance(0.5)) e.splice(rng.int(e.length), 1);
      else if (e.length) e[rng.int(e.length)]![0] = rng.pick([-1, 0, 7, 2 ** 31]);
    } else {
      out.histBoundsSize = rng.pick([0, 8, (btf.histBoundsSize ?? 0) - 8, (btf.histBoundsSize ?? 0) + 8]);
    }
  }
  return out;
}

function fakeObject(btf: FakeBtf): BpfObject {
  const obj: Partial<BpfObject> = {
    btfStruct: (name) => {
      const s = btf.structs[name];
      if (!s) throw new Error(`no struct ${name} in the object's BTF`);
      return s;
    },
    btfEnum: (name) => {
      const e = btf.enums[name];
      if (!e) throw new Error(`no enum ${name} in the object's BTF`);
      return e;
    },
    globals: () => (btf.histBoundsSize === undefined ? [] : [{ name: 'hist_bounds', section: '.rodata', offset: 0, size: btf.histBoundsSize }] as ReturnType<BpfObject['globals']>),
    setGlobal: () => undefined,
  };
  return obj as BpfObject;
}

export function bpfContractTarget(): Target<FakeBtf> {
  let seeds: FakeBtf[] = [];
  return {
    name: 'bpf.contract',
    async open() {
      const real = realBtf();
      const noHist = structuredClone(real);
      delete noHist.histBoundsSize;
      seeds = [real, noHist];
    },
    make: (rng) => mutateBtf(rng, rng.pick(seeds)),
    feed(btf) {
      let contract;
      try {
        contract = objectContract(fakeObject(btf));
      } catch (err) {
        // Documented: an Error (of the Error class itself) whose message names the struct, enum or variable.
        if (err instanceof ContractBroken || !(err instanceof Error) || err.constructor !== Error) throw err;
        check(/^(struct|enum|hist_bounds|no struct|no enum) /.test(err.message), `an error that names nothing: ${err.message}`);
        return;
      }
      // An accepted layout decodes a record of its size, with and without a stack (up to a
      // size a ring buffer record can have: the harness does not allocate gigabytes).
      const layout = contract.record;
      if (layout.stack > 1 << 16) return;
      const rec = Buffer.alloc(layout.stack + 16);
      rec.writeUInt32LE(16, layout.stackBytes);
      const head = Buffer.alloc(8);
      for (const r of [rec, rec.subarray(0, layout.stack)]) {
        head.writeUInt32LE(r.length, 0);
        const pad = Buffer.alloc(Math.ceil(r.length / 8) * 8 - r.length);
        decodeAll(Buffer.concat([head, r, pad]), 8 + r.length + pad.length, layout);
      }
    },
    show: (btf, max) => {
      const t = JSON.stringify(btf);
      return t.length > max ? `${t.slice(0, max)}…` : t;
    },
    save: (btf) => btf,
  };
}
