// The netlink library without a namespace of its own: messages framed and parsed, replies the
// kernel really sent decoded (sock_diag and RTM_GETLINK dumps captured on a test machine, see
// test/fixtures/netlink/), genetlink IPVS attributes, and the error paths of the native addon in
// the test's own namespace (errno names, acks, the 2 s reply timeout, a namespace gone).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { loadNativeAddon, nativeAddon, type NativeAddon } from '../../src/native/addon.js';
import { formatIPv6 } from '../../src/netlink/addr.js';
import { DEST, genlFamilyId, IPVS_CMD_ATTR_DEST, IPVS_CMD_ATTR_SERVICE, parseDest, parseService, serviceName, SVC } from '../../src/netlink/ipvs.js';
import {
  attrMap, buildRequest, encodeAttrs, messages, NETLINK_ROUTE, NETLINK_SOCK_DIAG, NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLM_F_ACK, NLM_F_DUMP, parseAttrs,
  pickAttrs, type AttrSpec,
} from '../../src/netlink/message.js';
import { links, qdiscs } from '../../src/netlink/rtnetlink.js';
import { inetSockets, TCP_STATES, TCPF_ALL } from '../../src/netlink/sockdiag.js';
import { netlinkRequest, type NetlinkError } from '../../src/netlink/socket.js';
import { ipView, oursLikeIp, type IpLink } from '../helpers/ip-link.js';
import { deadProcessNetnsPath } from '../helpers/netns.js';
import { fixture } from '../helpers/paths.js';

// ---- wire format, no kernel ----

test('requests are framed and attributes (nested, flagged, unaligned) parse back', () => {
  const req = buildRequest({
    type: 18,
    flags: NLM_F_DUMP,
    seq: 7,
    header: Buffer.from([1, 2, 3, 4, 5]), // 5 bytes: padded to 8 before the attributes
    attrs: [
      { type: 1 | NLA_F_NESTED, value: [{ type: 2, value: Buffer.from([9, 0, 0, 0]) }] },
      { type: 3 | NLA_F_NET_BYTEORDER, value: Buffer.from('abc') },
      { type: 4, value: Buffer.from([0xff]) },
    ],
  });
  assert.equal(req.readUInt32LE(0), req.length);
  assert.equal(req.length, 16 + 8 + 12 + 8 + 8);
  assert.equal(req.readUInt16LE(6), NLM_F_DUMP | 1);
  assert.equal(req.readUInt32LE(8), 7);

  const [msg, ...rest] = [...messages(Buffer.concat([req, req.subarray(0, 20)]))]; // a truncated second message is ignored
  assert.equal(rest.length, 0);
  assert.equal(msg!.type, 18);
  const attrs = parseAttrs(msg!.payload, 8);
  assert.deepEqual(
    attrs.map((a) => [a.type, a.nested, a.netByteOrder, a.value.length]),
    [[1, true, false, 8], [3, false, true, 3], [4, false, false, 1]],
  );
  assert.deepEqual(parseAttrs(attrs[0]!.value).map((a) => [a.type, a.value.readUInt32LE(0)]), [[2, 9]]);
  assert.equal(attrs[1]!.value.toString(), 'abc');
  assert.equal(encodeAttrs([]).length, 0);
});

test('pickAttrs gives the attributes asked for as attrMap has them: flags masked, the first of a type, a malformed tail ignored', () => {
  const body = encodeAttrs([
    { type: 5, value: Buffer.from('first') },
    { type: 2 | NLA_F_NET_BYTEORDER, value: Buffer.from([1, 2]) },
    { type: 5, value: Buffer.from('second') },
    { type: 7 | NLA_F_NESTED, value: [{ type: 1, value: Buffer.from([3]) }] },
  ]);
  const buf = Buffer.concat([Buffer.alloc(4), body, Buffer.from([0xff, 0x00, 0x01, 0x00])]); // a header, then a length past the end
  const map = attrMap(buf, 4);
  const types = [7, 5, 9, 2];
  assert.deepEqual(pickAttrs(buf, 4, types), types.map((t) => map.get(t)));
  assert.equal(pickAttrs(buf, 4, [5])[0]!.toString(), 'first');
  assert.deepEqual(pickAttrs(Buffer.alloc(2), 0, [1]), [undefined]);
});

test('IPv6 addresses print as ss and ip print them', () => {
  const v6 = (hex: string) => formatIPv6(Buffer.from(hex.replace(/:/g, ''), 'hex'));
  assert.equal(v6('0000:0000:0000:0000:0000:0000:0000:0001'), '::1');
  assert.equal(v6('0000:0000:0000:0000:0000:0000:0000:0000'), '::');
  assert.equal(v6('fe80:0000:0000:0000:0000:0000:0000:0099'), 'fe80::99');
  assert.equal(v6('2001:0db8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
  assert.equal(v6('2001:0db8:0000:0001:0001:0001:0001:0001'), '2001:db8:0:1:1:1:1:1');
  assert.equal(v6('2001:0db8:0001:0000:0000:0000:0000:0000'), '2001:db8:1::');
  assert.equal(v6('0000:0000:0000:0000:0000:ffff:0a00:0001'), '::ffff:10.0.0.1');
});

// ---- genetlink: IPVS ----

test('IPVS replies parse (genetlink attributes as the kernel sends them); genetlink family lookup', async () => {
  const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
  const be16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
  const v4 = (ip: string) => Buffer.concat([Buffer.from(ip.split('.').map(Number)), Buffer.alloc(12)]); // union nf_inet_addr
  const genl = (attrs: AttrSpec[]) => Buffer.concat([Buffer.from([1, 1, 0, 0]), encodeAttrs(attrs)]);
  const svc = parseService(genl([{ type: IPVS_CMD_ATTR_SERVICE, value: [
    { type: SVC.AF, value: u16(2) }, { type: SVC.PROTOCOL, value: u16(17) }, { type: SVC.ADDR, value: v4('10.96.0.10') },
    { type: SVC.PORT, value: be16(53) }, { type: SVC.SCHED_NAME, value: Buffer.from('rr\0') },
  ] }]))!;
  assert.deepEqual([svc.family, svc.protocol, svc.address, svc.port, svc.scheduler, serviceName(svc)], [4, 'UDP', '10.96.0.10', 53, 'rr', 'UDP 10.96.0.10:53']);
  assert.deepEqual(svc.key.map((k) => k.type), [SVC.AF, SVC.PROTOCOL, SVC.ADDR, SVC.PORT]);
  const dest = parseDest(genl([{ type: IPVS_CMD_ATTR_DEST, value: [
    { type: DEST.ADDR, value: v4('10.244.1.7') }, { type: DEST.PORT, value: be16(5353) }, { type: DEST.WEIGHT, value: u32(1) },
    { type: DEST.ACTIVE_CONNS, value: u32(3) }, { type: DEST.INACT_CONNS, value: u32(4) },
  ] }]), 4);
  assert.deepEqual(dest, { address: '10.244.1.7', port: 5353, weight: 1, activeConns: 3, inactiveConns: 4 });
  assert.equal(parseService(genl([])), undefined);

  assert.equal(await genlFamilyId(null, 'nlctrl'), 0x10);
  await assert.rejects(genlFamilyId(null, 'no-such-family'), (err: Error & { code?: string }) => err.code === 'ENOENT');
});


// ---- replies the kernel sent, captured ----

interface Capture { captured: string; protocol: number; request: string[]; reply: string[] }
const capture = <T extends Capture>(name: string): T & { requestBytes: Buffer; replyBytes: Buffer } => {
  const c = JSON.parse(readFileSync(fixture('netlink', name), 'utf8')) as T;
  return { ...c, requestBytes: Buffer.from(c.request.join(''), 'hex'), replyBytes: Buffer.from(c.reply.join(''), 'hex') };
};

/** Runs `fn` with the addon answering the captured reply, after checking the request is the captured one. */
async function replaying<T>(c: Capture & { requestBytes: Buffer; replyBytes: Buffer }, fn: () => Promise<T>): Promise<T> {
  const state = nativeAddon();
  const real = state.addon;
  const fake: NativeAddon = {
    netlinkDump: async (netnsPath, protocol, request) => {
      assert.deepEqual([netnsPath, protocol], [null, c.protocol]);
      // nlmsg_seq (bytes 8..11) counts the process's requests: the rest is the captured request.
      const withoutSeq = (b: Uint8Array) => Buffer.concat([b.subarray(0, 8), Buffer.alloc(4), b.subarray(12)]).toString('hex');
      assert.equal(withoutSeq(request), withoutSeq(c.requestBytes), 'the request is encoded as when captured');
      return c.replyBytes;
    },
  };
  state.addon = fake;
  try {
    return await fn();
  } finally {
    state.addon = real;
  }
}

test('a captured sock_diag dump decodes to what ss showed: queue lengths and limits, unread bytes, inodes, a listener\'s drops', async () => {
  const c = capture<Capture & { ss: string[] }>('sock-diag-tcp4.json');
  assert.equal(c.protocol, NETLINK_SOCK_DIAG);
  const sockets = await replaying(c, () => inetSockets(null, { family: 4, protocol: 'tcp', states: TCPF_ALL }));
  // What the capture set up, by hand: the listener's limit, the unread bytes, the overflowed listener.
  const at = (state: number, port: number) => sockets.filter((s) => s.state === state && s.srcPort === port);
  assert.deepEqual(at(TCP_STATES.LISTEN, 7100).map((s) => [s.rqueue, s.wqueue, s.drops]), [[0, 4, 0]]);
  assert.deepEqual(at(TCP_STATES.LISTEN, 7101).map((s) => [s.wqueue, s.drops]), [[1, 6]]);
  assert.deepEqual(at(TCP_STATES.ESTABLISHED, 7100).map((s) => s.rqueue), [1000]);
  // Every socket as `ss -tanem` printed it at capture time (a line, then its skmem line with d<drops>).
  const ss: string[] = [];
  for (let i = 1; i + 1 < c.ss.length; i += 2) {
    const [state, rq, wq, local, peer] = c.ss[i]!.trim().split(/\s+/);
    ss.push(`${state} ${rq}/${wq} ${local} ${peer} ${/ino:(\d+)/.exec(c.ss[i]!)![1]} d${/,d(\d+)\)/.exec(c.ss[i + 1]!)![1]}`);
  }
  const name = (s: number) => (s === TCP_STATES.LISTEN ? 'LISTEN' : 'ESTAB');
  assert.deepEqual(sockets.map((s) => `${name(s.state)} ${s.rqueue}/${s.wqueue} ${s.srcAddr}:${s.srcPort} ${s.dstAddr}:${s.dstPort || '*'} ${s.inode} d${s.drops}`), ss);
});

test('a captured RTM_GETLINK dump decodes to what ip -s -s -j link showed, every counter', async () => {
  const c = capture<Capture & { ip: IpLink[] }>('rtm-getlink.json');
  assert.equal(c.protocol, NETLINK_ROUTE);
  const ours = await replaying(c, () => links(null));
  assert.deepEqual(ours.map((l) => l.name), ['lo', 'veth-b', 'veth-a']);
  assert.deepEqual(ours.map((l) => oursLikeIp(l, ipView(c.ip.find((i) => i.ifindex === l.index)!))), c.ip.map(ipView));
  assert.deepEqual([ours[0]!.stats.rx_packets, ours[0]!.stats.rx_bytes, ours[2]!.stats.rx_packets], [5, 1276, 3]);
});

// ---- the addon in the test's own namespace ----

test('the native addon loads', () => {
  const { addon, error } = nativeAddon();
  assert.equal(error, undefined);
  assert.equal(typeof addon?.netlinkDump, 'function');
  assert.equal(nativeAddon(), nativeAddon(), 'cached');
});

test('a missing or broken addon is reported, not thrown', () => {
  assert.match(loadNativeAddon('/nonexistent/kubesonar.node').error ?? '', /not built: \/nonexistent\/kubesonar.node is missing/);
  const dir = mkdtempSync(path.join(tmpdir(), 'kubesonar-'));
  writeFileSync(path.join(dir, 'kubesonar.node'), 'not a shared object');
  const broken = loadNativeAddon(path.join(dir, 'kubesonar.node'));
  rmSync(dir, { recursive: true });
  assert.equal(broken.addon, undefined);
  assert.match(broken.error ?? '', /failed to load/);
});

test('a kernel error rejects with the errno name and code', async () => {
  const ifinfomsg = Buffer.alloc(16);
  ifinfomsg.writeInt32LE(0x7ffffff0, 4); // no such interface
  await assert.rejects(netlinkRequest(null, NETLINK_ROUTE, { type: 18, flags: 0, header: ifinfomsg }), (err: NetlinkError) => {
    assert.equal(err.code, 'ENODEV');
    assert.match(err.message, /^netlink: ENODEV \(No such device\)/);
    return true;
  });
});

test('an ack resolves empty; a request the kernel never answers times out instead of hanging', async () => {
  // Types below NLMSG_MIN_TYPE are control messages the kernel only acknowledges, if asked.
  const noop = (flags: number) => buildRequest({ type: 1, flags, header: Buffer.alloc(0) });
  const { addon } = nativeAddon();
  assert.equal((await addon!.netlinkDump(null, NETLINK_ROUTE, noop(NLM_F_ACK))).length, 0);
  const started = Date.now();
  await assert.rejects(addon!.netlinkDump(null, NETLINK_ROUTE, noop(0)), { code: 'ETIMEDOUT', message: 'netlink: no reply within 2 s' });
  assert.ok(Date.now() - started >= 1900);
});

test('a namespace whose process has exited rejects clearly', async () => {
  const dead = await deadProcessNetnsPath();
  await assert.rejects(inetSockets(dead, { family: 4, protocol: 'tcp', states: TCPF_ALL }), (err: NetlinkError) => {
    assert.equal(err.code, 'ENOENT');
    assert.match(err.message, new RegExp(`cannot open network namespace ${dead}: ENOENT .*process may have exited`));
    return true;
  });
  await assert.rejects(links('/proc/self/status'), (err: NetlinkError) => err.code === 'EINVAL' && /cannot enter network namespace/.test(err.message));
});

// ---- replies npm run fuzz found breaking a decoder (test/fixtures/fuzz/, written by --save) ----

interface FuzzFinding { parser: string; seed: number; case: number; input: Record<string, string[]> }

/** Runs `fn` with the addon answering the saved replies, each to its kind of request (protocol, nlmsg_type, first header byte). */
async function replayingFinding<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const f = JSON.parse(readFileSync(fixture('fuzz', file), 'utf8')) as FuzzFinding;
  const replies = new Map(Object.entries(f.input).map(([k, v]) => [k, Buffer.from(v.join(''), 'hex')]));
  const state = nativeAddon();
  const real = state.addon;
  state.addon = {
    netlinkDump: async (_ns, protocol, request) => replies.get(`${protocol}:${Buffer.from(request).readUInt16LE(4)}:${request[16]}`) ?? Buffer.alloc(0),
  };
  try {
    return await fn();
  } finally {
    state.addon = real;
  }
}

test('sock_diag: a memory-info attribute longer than its message reads as no drops, not past the message (fuzz case 48)', async () => {
  const sockets = await replayingFinding('netlink.sock_diag-seed1-case48.json', () => inetSockets(null, { family: 4, protocol: 'tcp', states: TCPF_ALL }));
  assert.ok(sockets.length > 0);
  for (const s of sockets) assert.ok(s.drops === undefined || Number.isInteger(s.drops));
});

test('rtnetlink: a qdisc message shorter than its tcmsg is skipped, the others decode (fuzz case 302)', async () => {
  const found = await replayingFinding('netlink.rtnetlink.qdisc-seed1-case302.json', () => qdiscs(null));
  assert.deepEqual(found.map((q) => q.kind), ['noqueue', 'htb']);
});
