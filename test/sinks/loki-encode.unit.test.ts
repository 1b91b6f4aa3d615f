// The Loki push body's hot path: the snappy compressor against an independent decoder
// (snappyjs, which the test receiver uses too) on data of every kind, and the pipeline's
// records (attributes walked in place) encoded byte for byte as the same records written out
// as plain objects with their attribute tables.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import snappyjs from 'snappyjs';
import type { EventRecord, NetEvent } from '../../src/events/model.js';
import type { PodRef } from '../../src/model.js';
import { EventPipeline, recordBytes, type NetnsAttribution } from '../../src/events/pipeline.js';
import { encodeProtobuf, groupStreams, type FieldStorage } from '../../src/sinks/loki/encode.js';
import { SnappyCompressor, maxCompressedLength } from '../../src/util/snappy.js';
import { LokiReceiver } from '../helpers/loki-receiver.js';

describe('snappy', () => {
  const c = new SnappyCompressor();
  let seed = 11;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  /** Bytes of a kind: random, a small alphabet, long repeats, far repeats (offsets up to 64 KiB and beyond). */
  function sample(kind: number, n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      if (kind === 0) b[i] = rand(256);
      else if (kind === 1) b[i] = 97 + rand(3);
      else if (kind === 2) b[i] = i % 5 === 0 ? 0 : b[i - 1]!;
      else b[i] = rand(20) === 0 || i === 0 ? rand(256) : b[Math.max(0, i - 1 - rand(Math.min(i, 70_000)))]!;
    }
    return b;
  }

  test('every input comes back whole through an independent decoder, within the size bound', () => {
    for (let t = 0; t < 400; t++) {
      const n = t < 40 ? t : t % 25 === 0 ? 70_000 + rand(200_000) : rand(4000);
      const input = sample(t % 4, n);
      const z = c.compress(input);
      assert.ok(z.length <= maxCompressedLength(n), `${z.length} > bound for ${n}`);
      assert.ok(Buffer.from(snappyjs.uncompress(z)).equals(input), `round trip, kind ${t % 4}, ${n} bytes`);
    }
  });

  test('the empty input is its length alone; results stay valid after the next call', () => {
    assert.deepEqual([...c.compress(Buffer.alloc(0))], [0]);
    const a = sample(3, 5000);
    const za = c.compress(a);
    c.compress(sample(0, 100_000)); // reuses the scratch space
    assert.ok(Buffer.from(snappyjs.uncompress(za)).equals(a));
  });

  test('repetitive text (a push body) shrinks as with the reference encoder', () => {
    const line = (i: number) => `{"timestamp":17638800000000${String(i).padStart(5, '0')},"type":"TCP_RCV_RST_ESTAB","msg":"event ${i}"}`;
    const text = Buffer.from(Array.from({ length: 2000 }, (_, i) => line(i)).join(''));
    const z = c.compress(text);
    assert.ok(z.length < text.length / 4, `${z.length} of ${text.length}`);
    assert.ok(z.length <= snappyjs.compress(text).length * 1.1, 'no worse than snappyjs by more than 10 %');
  });
});

describe('pipeline records', () => {
  const POD: PodRef = { name: 'cart-7d9f', namespace: 'shop', uid: 'u', source: 'cri' };
  const resolve = (netns: number): NetnsAttribution => (netns === 1 ? POD : netns === 2 ? 'host' : undefined);
  const p = new EventPipeline({ nodeName: 'node-1', resolve });
  const T = 1763880000123456789n;
  const events: NetEvent[] = [
    { timeUnixNano: T, type: 'TCP_RCV_RST_ESTAB', probe: 'tcpreset', severity: 'WARN', msg: 'reset "quoted" é', netns: 1, attrs: { saddr: '10.0.0.1', sport: 40000, 'event.type': 'spoofed', 'k8s.pod.name': 'spoofed', ratio: 0.5 } },
    { timeUnixNano: T + 1n, type: 'PACKETLOSS', probe: 'packetloss', severity: 'ERROR', msg: 'host drop', netns: 2, attrs: { reason: 'NO_SOCKET', 'k8s.namespace.name': 'given', 'netns.host': 'no' } },
    { timeUnixNano: T + 2n, type: 'PACKETLOSS', probe: 'packetloss', severity: 'INFO', msg: 'unknown netns', netns: 3, attrs: { 'k8s.namespace.name': 'own', 'k8s.pod.name': 'own-pod', level: 'x', 'a-b.c': 'renamed' } },
    { timeUnixNano: T - 5n, type: 'RPFilterKernelParam', probe: 'kernelparam', severity: 'WARN', msg: 'node-wide', attrs: { sysctl: 'net.ipv4.conf.all.rp_filter', netns: 'own netns' } },
    { timeUnixNano: 5n, type: 'TCP_RCV_RST_ESTAB', probe: 'tcpreset', severity: 'WARN', msg: 'early', pod: POD, attrs: {} },
  ];

  /** The same record as a plain object: attribute table and event written out. */
  const plain = (r: EventRecord): EventRecord => ({
    event: { ...r.event }, timeUnixNano: r.timeUnixNano, severityNumber: r.severityNumber, severityText: r.severityText, body: r.body, attributes: { ...r.attributes },
  });

  for (const storage of ['metadata', 'line'] as FieldStorage[]) {
    test(`encoded in place exactly as from the attribute table (fields in the ${storage})`, () => {
      const records = events.map((e) => p.toRecord(e));
      const fromTable = Buffer.from(encodeProtobuf(groupStreams(records.map(plain), 'node-1', { cluster: 'c1' }), storage));
      const inPlace = Buffer.from(encodeProtobuf(groupStreams(records, 'node-1', { cluster: 'c1' }), storage));
      assert.ok(inPlace.equals(fromTable));
      for (const r of records) assert.equal(recordBytes(r), recordBytes(plain(r)));
    });
  }

  test('fields: level first, a name met twice (own level, a.b and a_b) keeps its first place and its last value', async () => {
    const rx = await new LokiReceiver().start();
    try {
      const r = p.toRecord({ ...events[2]!, attrs: { ...events[2]!.attrs, a_b_c: 'later' } });
      const body = new Uint8Array(new SnappyCompressor().compress(Buffer.from(encodeProtobuf(groupStreams([r, r], 'node-1', {}), 'metadata'))));
      const res = await fetch(`${rx.url}/loki/api/v1/push`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
      assert.equal(res.status, 204);
      const [first, second] = rx.entries();
      assert.deepEqual(first!.labels, { k8s_node: 'node-1', type: 'PACKETLOSS', k8s_namespace: 'own' });
      for (const e of [first!, second!]) {
        assert.deepEqual(Object.entries(e.metadata), [['level', 'x'], ['probe', 'packetloss'], ['netns', 'ns3'], ['k8s_pod', 'own-pod'], ['a_b_c', 'later']]);
      }
    } finally {
      await rx.stop();
    }
  });

  test('the line and the entry carry the exact ns, at the edges of the second and of 64 bits', () => {
    for (const ns of [0n, 5n, 999_999_999n, 1_000_000_000n, 1_000_000_001n, 1763880000000000000n, 1763880000999999999n, 2n ** 63n + 1n, 2n ** 64n - 1n, 2n ** 64n + 7n]) {
      const r = p.toRecord({ ...events[4]!, timeUnixNano: ns });
      const raw = Buffer.from(encodeProtobuf(groupStreams([r], 'node-1', {}), 'metadata')).toString('latin1');
      assert.ok(raw.includes(`{"timestamp":${ns},"type":`), `line of ${ns}`);
    }
  });

  test('the attribute table: standard keys first, own attrs after, none overriding a standard key the record has', () => {
    const [pod, host, unknown, nodeWide] = events.map((e) => p.toRecord(e));
    assert.deepEqual(pod!.attributes, {
      'event.type': 'TCP_RCV_RST_ESTAB', 'event.probe': 'tcpreset', 'k8s.node.name': 'node-1', 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'cart-7d9f',
      netns: 'ns1', saddr: '10.0.0.1', sport: 40000, ratio: 0.5,
    });
    assert.deepEqual(host!.attributes, {
      'event.type': 'PACKETLOSS', 'event.probe': 'packetloss', 'k8s.node.name': 'node-1', netns: 'ns2', 'netns.host': 'true', reason: 'NO_SOCKET', 'k8s.namespace.name': 'given',
    });
    assert.equal(unknown!.attributes['k8s.pod.name'], 'own-pod', 'a standard key the record does not set comes from the event');
    assert.equal(nodeWide!.attributes.netns, 'own netns');
    assert.deepEqual(JSON.parse(JSON.stringify(pod, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).attributes, JSON.parse(JSON.stringify(pod!.attributes)), 'JSON (the spool) has the whole record');
  });
});

test('the receiver decodes a push strictly: a truncated or mistyped protobuf is refused', async () => {
  const rx = await new LokiReceiver().start();
  try {
    const p = new EventPipeline({ nodeName: 'node-1', resolve: () => undefined });
    const rec = p.toRecord({ timeUnixNano: 1763880000123456789n, type: 'PACKETLOSS', probe: 'packetloss', severity: 'WARN', msg: 'drop', netns: 7, attrs: { reason: 'NO_SOCKET', sport: 53 } });
    const proto = Buffer.from(encodeProtobuf(groupStreams([rec], 'node-1', {}), 'metadata'));
    const post = (raw: Buffer) => fetch(`${rx.url}/loki/api/v1/push`, { method: 'POST', body: new Uint8Array(new SnappyCompressor().compress(raw)), headers: { 'content-type': 'application/x-protobuf' } })
      .then(async (r) => ({ status: r.status, text: await r.text() }));
    assert.equal((await post(proto)).status, 204);
    assert.deepEqual(rx.entries().map((e) => [e.ns, e.labels.type, e.metadata]), [[1763880000123456789n, 'PACKETLOSS', { level: 'warn', probe: 'packetloss', netns: 'ns7', reason: 'NO_SOCKET', sport: '53' }]]);
    const truncated = await post(proto.subarray(0, proto.length - 1));
    assert.equal(truncated.status, 400);
    assert.match(truncated.text, /unexpected EOF/);
    const mistyped = Buffer.from(proto);
    mistyped[0] = (1 << 3) | 0; // streams as a varint
    assert.equal((await post(mistyped)).status, 400);
    assert.equal(rx.entries().length, 1, 'nothing of a refused push is kept');
    // Seconds and nanos split without BigInt division: exact at the edges.
    const times = [5n, 999_999_999n, 1_000_000_000n, 1763880000999999999n, 2n ** 63n + 1n, 2n ** 64n - 1n, 2n ** 64n + 7n];
    const many = times.map((ns) => p.toRecord({ timeUnixNano: ns, type: 'PACKETLOSS', probe: 'packetloss', severity: 'WARN', msg: 'drop', attrs: {} }));
    assert.equal((await post(Buffer.from(encodeProtobuf(groupStreams(many, 'node-1', {}), 'metadata')))).status, 204);
    assert.deepEqual(rx.entries().slice(1).map((e) => e.ns), times);
  } finally {
    await rx.stop();
  }
});
