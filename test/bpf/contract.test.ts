// The kernel ↔ TypeScript contract of every BPF object the build produced: what the agent reads
// from an object's BTF (struct event as the record decoder reads it, the settings and stats
// layouts, each probe's kind enum) and what it gives the object (the latency histogram bounds)
// must agree with the TypeScript side, or this file fails. Needs root and the built addon.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { nativeBpf, type BpfObject, type BtfStruct } from '../../src/bpf/addon.js';
import { objectContract } from '../../src/bpf/contract.js';
import { BpfProbe } from '../../src/bpf/probe.js';
import { decodeRecord, RecordLayout, type BpfRecord } from '../../src/bpf/records.js';
import type { NetEvent } from '../../src/events/model.js';
import { probe } from '../../src/catalogue/index.js';
import { LATENCY_BUCKETS_NS } from '../../src/model.js';
import { fixture } from '../helpers/paths.js';

const LATENCY_OBJECTS = ['dns', 'kernellatency', 'net_softirq', 'netiftxlat', 'socketlatency'];
/** Every object the build makes: one per eBPF probe, the loader's selftest and the benchmark's hookfloor. */
const OBJECTS = ['packetloss', 'tcpreset', 'tcpretrans', 'tcptwrcv', ...LATENCY_OBJECTS, 'self', 'selftest', 'hookfloor'].sort();

const bpf = nativeBpf();
const objectDir = bpf.objectDir!;
const objectNames = (): string[] => readdirSync(objectDir).filter((f) => f.endsWith('.bpf.o')).map((f) => f.slice(0, -'.bpf.o'.length)).sort();

/** Opens `name`.bpf.o, runs `fn`, closes it. */
function withObject<T>(name: string, fn: (obj: BpfObject) => T): T {
  const obj = bpf.addon!.open(path.join(objectDir, `${name}.bpf.o`));
  try {
    return fn(obj);
  } finally {
    obj.close();
  }
}

const probes: BpfProbe[] = [];
after(() => {
  for (const p of probes) p.close();
});

test('the addon is built and there is an object for every eBPF probe', () => {
  assert.equal(bpf.error, undefined);
  assert.deepEqual(objectNames(), OBJECTS);
});

test('every object: struct event is what the decoder reads, settings and stats are where the probe writes and reads them', () => {
  for (const name of objectNames()) {
    withObject(name, (obj) => {
      const c = objectContract(obj);
      const event = obj.btfStruct('event');
      // A record written member by member at the BTF's offsets decodes to the same values.
      const at = (member: string) => event.members.find((m) => m.name === member)!.offset;
      const rec = Buffer.alloc(event.size);
      rec.writeBigUInt64LE(123456789012345n, at('ts'));
      rec.writeUInt32LE(4026531840, at('netns'));
      rec.writeUInt16LE(5, at('kind'));
      rec.writeUInt16LE(2, at('family'));
      Buffer.from([10, 1, 2, 3]).copy(rec, at('saddr'));
      Buffer.from([192, 168, 0, 9]).copy(rec, at('daddr'));
      rec.writeUInt16LE(40000, at('sport'));
      rec.writeUInt16LE(443, at('dport'));
      rec[at('protocol')] = 6;
      rec[at('state')] = 10;
      rec.writeUInt32LE(0xfedcba98, at('reason'));
      rec.writeUInt32LE(16, at('stack_bytes'));
      rec.writeBigUInt64LE(0xffffffff81000010n, at('stack'));
      const r = decodeRecord(rec, 0, at('stack') + 16, c.record);
      assert.deepEqual({ ...r, stackKey: undefined }, {
        ktimeNs: 123456789012345n, netns: 4026531840, kind: 5, family: 2, saddr: '10.1.2.3', daddr: '192.168.0.9',
        sport: 40000, dport: 443, protocol: 6, state: 10, reason: 0xfedcba98, stackKey: undefined,
      }, name);
      assert.equal(r.stackKey.length, 16, name);
      // A record without a stack is EVENT_NOSTACK_SIZE long: it stops where the stack begins.
      assert.equal(decodeRecord(rec, 0, c.record.stack, c.record).stackKey, '', name);

      assert.deepEqual([c.settings.events_per_sec, c.settings.flags, c.settings.size], [0, 4, 8], name);
      assert.equal(new Set(Object.values(c.stats)).size, 5, `${name}: distinct stats keys`);
      assert.ok(c.settingFlags.SETTING_NO_STACK > 0, name);
      assert.equal(c.histogram !== undefined, LATENCY_OBJECTS.includes(name), `${name}: histogram bounds iff a latency object`);
    });
  }
});

test('every object\'s struct event is the layout the unit tests decode with (test/fixtures/bpf/struct-event.json)', () => {
  const captured = JSON.parse(readFileSync(fixture('bpf', 'struct-event.json'), 'utf8')).struct as BtfStruct;
  for (const name of objectNames()) withObject(name, (obj) => assert.deepEqual(obj.btfStruct('event'), captured, name));
});

test('the latency objects run with LATENCY_BUCKETS_NS as their bucket bounds', () => {
  for (const name of LATENCY_OBJECTS) {
    withObject(name, (obj) => {
      const c = objectContract(obj);
      assert.deepEqual(c.histogram, { bounds: LATENCY_BUCKETS_NS, slots: LATENCY_BUCKETS_NS.length + 2 }, name);
      assert.ok(obj.load().every((p) => p.loaded), name);
      // What the programs read: hist_bounds in the loaded (frozen) .rodata.
      const v = obj.globals().find((g) => g.name === 'hist_bounds')!;
      const rodata = obj.mapDump('.rodata').values;
      const bounds = Array.from({ length: v.size / 8 }, (_, i) => Number(rodata.readBigUInt64LE(v.offset + i * 8)));
      assert.deepEqual(bounds, [...LATENCY_BUCKETS_NS], name);
    });
  }
});

/**
 * Per probe: its kind enum, its members without the prefix, and what the probe's event for each
 * kind is (type, or flag for tcptwrcv).
 */
const KINDS: { probe: string; enumName: string; prefix: string; outcome: (e: NetEvent) => unknown; expect: Record<string, unknown> }[] = [
  {
    probe: 'tcpreset', enumName: 'tcpreset_kind', prefix: 'TCPRESET_', outcome: (e) => e.type,
    expect: {
      SEND_RST: 'TCP_SEND_RST', SEND_RST_NOSOCK: 'TCP_SEND_RST_NOSock', SEND_RST_ACTIVE: 'TCP_SEND_RST_ACTIVE',
      RCV_RST_SYN: 'TCP_RCV_RST_SYN', RCV_RST_ESTAB: 'TCP_RCV_RST_ESTAB', RCV_RST_TW: 'TCP_RCV_RST_TW',
    },
  },
  { probe: 'tcpretrans', enumName: 'tcpretrans_kind', prefix: 'TCPRETRANS_', outcome: (e) => e.type, expect: { RETRANS: 'TCP_RETRANS', SYNACK: 'TCP_RETRANS_SYNACK' } },
  { probe: 'tcptwrcv', enumName: 'tcptwrcv_kind', prefix: 'TCPTWRCV_', outcome: (e) => e.attrs.flag, expect: { SYN: 'SYN', RST: 'RST', FIN: 'FIN', ACK: 'ACK' } },
  { probe: 'kernellatency', enumName: 'kernellatency_kind', prefix: 'KERNELLATENCY_', outcome: (e) => e.type, expect: { RX: 'KERNEL_RCV_SLOW', TX: 'KERNEL_SEND_SLOW' } },
  { probe: 'netiftxlat', enumName: 'netiftxlat_kind', prefix: 'NETIFTXLAT_', outcome: (e) => e.type, expect: { QDISC: 'NETIF_TXLAT_QDISC_SLOW', XMIT: 'NETIF_TXLAT_XMIT_SLOW' } },
  { probe: 'net_softirq', enumName: 'net_softirq_kind', prefix: 'NET_SOFTIRQ_', outcome: (e) => e.type, expect: { SCHED: 'NET_SOFTIRQ_SCHED_SLOW', EXEC: 'NET_SOFTIRQ_EXEC_SLOW' } },
  { probe: 'socketlatency', enumName: 'socketlatency_kind', prefix: 'SOCKETLATENCY_', outcome: (e) => e.type, expect: { READ: 'SOCKETLAT_READSLOW', SEND: 'SOCKETLAT_SENDSLOW' } },
];

test('each probe\'s kinds are a named enum of its loaded object, with the members its TypeScript expects', () => {
  for (const { probe, enumName, prefix, expect } of KINDS) {
    const p = new BpfProbe(probe, 'stats');
    probes.push(p);
    assert.equal(p.unsupported(), undefined, probe);
    const kinds = p.kernelKinds(enumName, prefix);
    assert.deepEqual([...kinds.keys()].sort(), Object.keys(expect).sort(), `${probe}: members of enum ${enumName}`);
    // The event's u16 kind, and 8 bits of a latency histogram's key (kind << 8 | slot).
    for (const [name, value] of kinds) assert.ok(value >= 0 && value < 256, `${probe}: ${name} = ${value}`);
    assert.throws(() => p.kernelKinds('no_such_kind'), /no enum no_such_kind in the BTF of .*\.bpf\.o/);
    p.close();
  }
  assert.deepEqual(new BpfProbe('nonexistent', 'drops').kernelKinds('tcpreset_kind'), new Map(), 'nothing loaded, nothing named');
});

test('dns: its kinds, settings and event payload are the members src/probes/dns.ts reads', () => {
  const p = probe('dns')!;
  assert.equal(p.kernel!.unsupported(), undefined);
  try {
    assert.deepEqual([...p.kernel!.kernelKinds('dns_kind', 'DNS_').keys()].sort(),
      ['EVENT_ERROR', 'EVENT_TIMEOUT', 'LATENCY', 'MALFORMED', 'QUERIES', 'RESPONSES', 'TIMEOUTS']);
    assert.deepEqual([...p.kernel!.kernelKinds('dns_setting', 'DNS_SETTING_').keys()].sort(), ['COUNT', 'ERROR_RCODES', 'PORT0', 'TIMEOUT_NS']);
    const payload = p.kernel!.btfStruct('dns_payload')!;
    const stack = p.kernel!.btfStruct('event')!.members.find((m) => m.name === 'stack')!;
    assert.ok(payload.size <= stack.size, `struct dns_payload (${payload.size} bytes) fits where the stack goes (${stack.size})`);
    const r = p.event!.fromRecord!({ ...recordOf(p.kernel!.kernelKinds('dns_kind', 'DNS_').get('EVENT_TIMEOUT')!), family: 2, saddr: '10.0.0.2', daddr: '10.0.0.1', sport: 40000, dport: 53, protocol: 17, reason: 2_000_000,
      stackKey: (() => {
        const b = Buffer.alloc(payload.size);
        const at = (m: string) => payload.members.find((x) => x.name === m)!.offset;
        b.writeUInt16LE(0x1234, at('id'));
        b.writeUInt16LE(28, at('qtype'));
        const name = Buffer.from([3, 0x61, 0x70, 0x69, 4, 0x73, 0x68, 0x6f, 0x70, 0]);
        b[at('name_len')] = name.length;
        name.copy(b, at('name'));
        return b.toString('latin1');
      })() })!;
    assert.deepEqual([r.type, r.attrs.name, r.attrs.qtype, r.attrs.id, r.attrs.server, r.attrs.elapsed_ms], ['DNS_TIMEOUT', 'api.shop', 'AAAA', 0x1234, '10.0.0.1', 2000]);
  } finally {
    p.kernel!.close();
  }
});

/** A record of kind `kind` and nothing else. */
const recordOf = (kind: number): BpfRecord => ({
  ktimeNs: 0n, netns: 0, kind, family: 0, saddr: '', daddr: '', sport: 0, dport: 0, protocol: 0, state: 0, reason: 0, stackKey: '',
});

// Each probe's record conversion names every kind of the loaded object as the kernel means it.
for (const { probe: name, enumName, prefix, outcome, expect } of KINDS) {
  test(`${name}: its record conversion reads each kind of enum ${enumName} as the kernel means it`, () => {
    const p = probe(name)!;
    assert.equal(p.kernel!.unsupported(), undefined, name);
    try {
      const kinds = p.kernel!.kernelKinds(enumName, prefix);
      assert.equal(kinds.size, Object.keys(expect).length, `${name}: members of enum ${enumName}`);
      for (const [member, value] of kinds) assert.equal(outcome(p.event!.fromRecord!(recordOf(value))!), expect[member], `${name}: ${member} = ${value}`);
      assert.throws(() => p.event!.fromRecord!(recordOf(255)), /unknown kind 255/, `${name}: a kind the object does not have`);
    } finally {
      p.kernel!.close();
    }
  });
}

/** `event` with one member changed (or removed, with `to` undefined). */
function changed(event: BtfStruct, member: string, to?: Partial<BtfStruct['members'][number]>): BtfStruct {
  return { size: event.size, members: event.members.flatMap((m) => (m.name !== member ? [m] : to ? [{ ...m, ...to }] : [])) };
}

/** What objectContract() uses of a real opened object, with the BTF answers `override` gives instead. */
function overridden(obj: BpfObject, override: Partial<Pick<BpfObject, 'btfStruct' | 'btfEnum' | 'globals'>>): BpfObject {
  const real: Pick<BpfObject, 'btfStruct' | 'btfEnum' | 'globals' | 'setGlobal'> = {
    btfStruct: (n) => obj.btfStruct(n), btfEnum: (n) => obj.btfEnum(n), globals: () => obj.globals(), setGlobal: (n, v) => obj.setGlobal(n, v),
  };
  return { ...real, ...override } as BpfObject;
}

test('a layout or a count that disagrees is an error that names it', () => {
  withObject('netiftxlat', (obj) => {
    const event = obj.btfStruct('event');
    assert.throws(() => RecordLayout.of(changed(event, 'sport', { size: 4 })), /^Error: struct event member sport is 4 bytes, the record decoder \(src\/bpf\/records\.ts\) reads 2$/);
    assert.throws(() => RecordLayout.of(changed(event, 'reason')), /struct event has no member reason/);
    assert.throws(() => RecordLayout.of(changed(event, 'state', { bits: 4 })), /member state is a bitfield/);
    assert.throws(() => RecordLayout.of(changed(event, 'stack_bytes', { offset: event.size - 4 })), /member stack_bytes ends past stack/);

    const struct = (name: string, s: BtfStruct) => (n: string) => (n === name ? s : obj.btfStruct(n));
    const settings = obj.btfStruct('settings');
    assert.throws(() => objectContract(overridden(obj, { btfStruct: struct('settings', changed(settings, 'flags', { size: 2 })) })),
      /struct settings member flags is 2 bytes, src\/bpf\/probe\.ts reads 4/);
    assert.throws(() => objectContract(overridden(obj, { btfEnum: (n) => obj.btfEnum(n).filter(([, m]) => m !== 'STAT_MAPFULL') })),
      /enum stat_index has no STAT_MAPFULL/);
    assert.throws(() => objectContract(overridden(obj, { globals: () => obj.globals().map((g) => (g.name === 'hist_bounds' ? { ...g, size: g.size - 8 } : g)) })),
      /hist_bounds holds 18 bucket bounds \(HIST_BOUNDS in latency\.bpf\.h\), LATENCY_BUCKETS_NS in src\/model\.ts has 19/);
    const hist = obj.btfStruct('hist');
    assert.throws(() => objectContract(overridden(obj, { btfStruct: struct('hist', { ...hist, size: hist.size + 8 }) })),
      /struct hist has 22 u64 slots, src\/probes\/latency\.ts reads 21/);
    assert.throws(() => obj.btfStruct('no_such_struct'), /no struct no_such_struct in the BTF of .*netiftxlat\.bpf\.o/);
  });
});

test('a probe whose object disagrees with the decoder reports itself unsupported, naming the member, and loads nothing', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubesonar-contract-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // struct event of common.bpf.h with kind widened to 32 bits (so family and the rest move too).
  writeFileSync(path.join(dir, 'widened.bpf.c'), `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct event {
  __u64 ts; __u32 netns; __u32 kind; __u16 family; __u8 saddr[16]; __u8 daddr[16]; __u16 sport; __u16 dport;
  __u8 protocol; __u8 state; __u16 pad; __u32 reason; __u32 stack_bytes; __u64 stack[32];
};
struct event *btf_export_event __attribute__((unused));
SEC("tp_btf/tcp_receive_reset")
int good(void *ctx) { return 0; }
`);
  const object = path.join(dir, 'widened.bpf.o');
  try {
    execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-I', objectDir, '-c', path.join(dir, 'widened.bpf.c'), '-o', object], { stdio: 'pipe' });
  } catch (err) {
    t.skip(`cannot compile a BPF object here: ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  const probe = new BpfProbe('widened', 'stats', object);
  const reason = 'widened.bpf.o does not match this agent: struct event member kind is 4 bytes, the record decoder (src/bpf/records.ts) reads 2';
  assert.equal(probe.unsupported(), reason);
  assert.deepEqual(probe.status(), { state: 'unsupported', reason, programs: [] });
  assert.equal(probe.startEvents({ ratePerSecond: 1 }, () => {}), reason);
  probe.close();
});
