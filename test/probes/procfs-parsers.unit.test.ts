// procfs text → samples, on files captured from a test machine's kernel (6.18; the host
// namespace after a test run): /proc/net/snmp, netstat, sockstat, sockstat6, softnet_stat,
// stat/arp_cache, /proc/slabinfo (its header and the TCP, UDP and RAW caches' real lines, plus
// kmalloc-256) and /proc/<pid>/io of a process that wrote 256 KiB and fsynced. They live in
// test/fixtures/procfs/. The probes read them through their own collect() (the snmp-style
// ones) or their exported parsers (files read at fixed paths). The expected values are the
// files' own numbers, read off them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import type { Entity, MetricProbe, ProbeContext } from '../../src/model.js';
import { sumStatColumn } from '../../src/probes/arp.js';
import ip from '../../src/probes/ip.js';
import { parseSlabLine } from '../../src/probes/slab.js';
import sock from '../../src/probes/sock.js';
import { parseSoftnetStat } from '../../src/probes/softnet.js';
import tcp from '../../src/probes/tcp.js';
import tcpext from '../../src/probes/tcpext.js';
import udp from '../../src/probes/udp.js';
import { parseProcIo } from '../../src/procfs/pids.js';
import { fixture } from '../helpers/paths.js';

const captured = (file: string): string => readFileSync(fixture('procfs', file), 'utf8');
const HOST: Entity = { netns: 4026531840, isHost: true, pids: [1] };

/** Runs a probe's collect() with /proc/<pid>/net/<file> answered by `files` (through ctx.shared, as probes read it). */
async function collect(probe: MetricProbe, files: Record<string, string>): Promise<{ values: Record<string, number>; notes: string[] }> {
  const notes: string[] = [];
  const ctx: ProbeContext = {
    options: {}, entities: [HOST], note: (m) => void notes.push(m),
    shared: async <T>(key: string) => {
      const file = key.split(':proc:')[1];
      if (file === undefined || !(file in files)) throw new Error(`unexpected read ${key}`);
      return files[file] as T;
    },
  };
  const samples = await probe.collect(HOST, ctx);
  return { values: Object.fromEntries(samples.map((s) => [s.metric, s.value as number])), notes };
}

const snmp = captured('snmp');
const netstat = captured('netstat');

test('tcp: every catalogue metric from the Tcp lines of snmp', async () => {
  const { values, notes } = await collect(tcp.metric!, { snmp });
  assert.deepEqual(notes, []);
  assert.deepEqual(values, {
    activeopens: 3557, passiveopens: 2254, attemptfails: 1095, estabresets: 233, currestab: 0, insegs: 77137, outsegs: 70349,
    retransseg: 73, inerrs: 0, outrsts: 1695, incsumerrors: 0,
  });
});

test('udp: every catalogue metric from the Udp lines of snmp (not UdpLite\'s)', async () => {
  const { values, notes } = await collect(udp.metric!, { snmp });
  assert.deepEqual(notes, []);
  assert.deepEqual(values, {
    indatagrams: 439, noports: 29, inerrors: 0, outdatagrams: 440, rcvbuferrors: 0, sndbuferrors: 0, incsumerrors: 0, ignoredmulti: 0, memerrors: 0,
  });
});

test('ip: Ip from snmp and IpExt from netstat', async () => {
  const { values, notes } = await collect(ip.metric!, { snmp, netstat });
  assert.deepEqual(notes, []);
  assert.equal(Object.keys(values).length, ip.metric!.metrics.length);
  assert.deepEqual([values.inreceives, values.indelivers, values.outrequests, values.innoroutes], [77596, 77596, 70538, 0]);
});

test('tcpext: every catalogue metric is a TcpExt field of this kernel\'s netstat', async () => {
  const { values, notes } = await collect(tcpext.metric!, { netstat });
  assert.deepEqual(notes, []);
  assert.equal(Object.keys(values).length, tcpext.metric!.metrics.length);
  assert.deepEqual(
    [values.tcptimeouts, values.tcpabortonclose, values.tcpabortondata, values.tcpackskippedseq, values.tcpwinprobe, values.tcpkeepalive, values.listenoverflows],
    [2, 15, 351, 7, 15, 4492, 0],
  );
});

test('sock: sockstat and sockstat6 summed where the catalogue says TCP:inuse+TCP6:inuse', async () => {
  const { values, notes } = await collect(sock.metric!, { sockstat: captured('sockstat'), sockstat6: captured('sockstat6') });
  assert.deepEqual(notes, []);
  assert.deepEqual(values, { inuse: 1, tw: 0, orphan: 0, alloc: 1, mem: 140, inuse_udp: 0, mem_udp: 21 });
  // IPv6 sockets count into the same series.
  const { values: more } = await collect(sock.metric!, { sockstat: captured('sockstat'), sockstat6: captured('sockstat6').replace('TCP6: inuse 0', 'TCP6: inuse 3') });
  assert.equal(more.inuse, 4);
});

test('a field this kernel lacks is a note naming it, and its metric is left out rather than zero', async () => {
  // The same snmp as an older kernel writes it: Tcp without InCsumErrors (its last column).
  const older = snmp.split('\n').map((l) => (l.startsWith('Tcp: ') ? l.replace(/ \S+$/, '') : l)).join('\n');
  const { values, notes } = await collect(tcp.metric!, { snmp: older });
  assert.deepEqual(notes, ['Tcp:InCsumErrors is not in /proc/net/snmp on this kernel']);
  assert.equal('incsumerrors' in values, false);
  assert.equal(values.activeopens, 3557);
});

test('softnet_stat: hex columns summed over the CPUs', () => {
  assert.deepEqual(parseSoftnetStat(captured('softnet_stat')), { processed: 0x128d157b + 0x1bc6c, dropped: 0, time_squeeze: 0x3a + 0x1 });
});

test('slabinfo: the TCP cache\'s line, not TCPv6\'s, tw_sock_TCP\'s or request_sock_TCP\'s', () => {
  const text = captured('slabinfo');
  assert.deepEqual(parseSlabLine(text, 'TCP'), { active_objs: 117, num_objs: 130, objsize: 2368, objperslab: 13, pagesperslab: 8 });
  assert.deepEqual(parseSlabLine(text, 'TCPv6'), { active_objs: 26, num_objs: 26, objsize: 2496, objperslab: 13, pagesperslab: 8 });
  assert.equal(parseSlabLine(text, 'tcp'), undefined);
});

test('slabinfo cut short in the TCP line is an error naming it, not samples without values (found by npm run fuzz)', () => {
  // procfs.slabinfo seed 1 case 232: the captured file truncated after the TCP line's first count.
  const text = captured('slabinfo').slice(0, 1299);
  assert.ok(text.endsWith('\nTCP                  117'));
  assert.throws(() => parseSlabLine(text, 'TCP'), { message: '/proc/slabinfo: the TCP line has 1 of its 5 counts' });
  assert.equal(parseSlabLine(text, 'TCPv6')?.objsize, 2496, 'other caches still read');
});

test('arp_cache: a column summed over the CPUs, by its header name', () => {
  const text = captured('arp_cache');
  assert.equal(sumStatColumn(text, 'unresolved_discards'), 0);
  assert.equal(sumStatColumn(text, 'lookups'), 0x302 + 0x2aa);
  assert.throws(() => sumStatColumn(text, 'no_such_column'), /no no_such_column column in arp_cache statistics/);
});

test('/proc/<pid>/io: every field, the storage bytes of the fsynced writes included', () => {
  assert.deepEqual(Object.fromEntries(parseProcIo(captured('pid-io'))), {
    rchar: 1692216, wchar: 263839, syscr: 708, syscw: 93, read_bytes: 8192, write_bytes: 270336, cancelled_write_bytes: 0,
  });
});
