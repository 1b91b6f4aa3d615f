// The dns probe against the real kernel and real pods: two containerd sandboxes on a CNI bridge, a
// DNS server written for the test in one (test/fixtures/dns/server.cjs: answers at once, after
// 300 ms, with SERVFAIL, or never, by name), a client in the other sending a known mix over UDP
// and TCP, IPv4 and IPv6. The probe's metrics and events must equal what the client itself saw,
// in the client's pod only. Traffic stays on the test's own bridge.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { after, before, test } from 'node:test';

import type { EventPublisher, NetEvent } from '../../src/events/model.js';
import type { Entity, HistogramValue, ProbeContext, Sample } from '../../src/model.js';
import { LATENCY_BUCKETS_S } from '../../src/model.js';
import { newUid, PrivateContainerd, type RunningPod } from '../helpers/containerd.js';
import { ebpf } from '../helpers/ebpf.js';
import { inNetns, spawnInNetns } from '../helpers/exec.js';
import { fixture } from '../helpers/paths.js';
import { stopProcess, waitFor } from '../helpers/wait.js';

const dns = ebpf('dns');
const TIMEOUT_MS = 1000;

let ctrd: PrivateContainerd;
let serverPod: RunningPod;
let clientPod: RunningPod;
let server: ChildProcess | undefined;
let server6: string;
let client6: string;
const events: NetEvent[] = [];
const publisher: EventPublisher = { publish: (e) => void events.push(e) };

const netnsOf = (pid: number): number => statSync(`/proc/${pid}/ns/net`).ino;
const entity = (pod: RunningPod): Entity => ({ netns: netnsOf(pod.pid), isHost: false, pids: [pod.pid] });
const HOST: Entity = { netns: netnsOf(process.pid), isHost: true, pids: [process.pid] };

async function collect(target: Entity): Promise<Sample[]> {
  const ctx: ProbeContext = {
    options: { qdisc_devices: [], qdisc_per_interface: false, pod_cidrs: [], cni_conf_dir: '', cni_data_dir: '' },
    entities: [entity(serverPod), entity(clientPod), HOST],
    note: () => {},
    shared: (_key, read) => read(),
  };
  return dns.metric.collect(target, ctx);
}

const sum = (samples: Sample[], metric: string, labels: Record<string, string> = {}): number =>
  samples.filter((s) => s.metric === metric && Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))
    .reduce((t, s) => t + (s.value as number), 0);
const histogramOf = (samples: Sample[], server: string): HistogramValue | undefined =>
  samples.find((s) => s.metric === 'latency_seconds' && s.labels?.server === server)?.value as HistogramValue | undefined;

/** Runs the test client in the client pod; what it saw. */
async function ask(queries: { server: string; proto: 'udp' | 'tcp'; name: string; id: number }[]): Promise<{ sent: number; answers: Record<string, number>; unanswered: number }> {
  const out = await inNetns(clientPod.pid, process.execPath, [fixture('dns', 'client.cjs'), JSON.stringify(queries), String(TIMEOUT_MS + 1500)]);
  return JSON.parse(out.trim().split('\n').pop()!);
}

before(async () => {
  ctrd = await PrivateContainerd.start();
  serverPod = await ctrd.runPodSandbox({ name: 'dns-server', namespace: 'kube-system', uid: newUid() });
  clientPod = await ctrd.runPodSandbox({ name: 'dns-client', namespace: 'shop', uid: newUid() });
  // The CNI bridge gives IPv4 only: IPv6 addresses of a private prefix on the same link.
  const prefix = `fd53:${(process.pid % 0xffff).toString(16)}::`;
  server6 = `${prefix}1`;
  client6 = `${prefix}2`;
  for (const [pod, addr] of [[serverPod, server6], [clientPod, client6]] as const) {
    await inNetns(pod.pid, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.eth0.disable_ipv6=0']);
    await inNetns(pod.pid, 'ip', ['-6', 'addr', 'add', `${addr}/64`, 'dev', 'eth0', 'nodad']);
  }
  server = await spawnInNetns(serverPod.pid, process.execPath, [fixture('dns', 'server.cjs'), serverPod.ip, server6]);
  const why = dns.startEvents(publisher, { ratePerSecond: 1000, values: { dns: { timeout_ms: TIMEOUT_MS, error_rcodes: ['SERVFAIL', 'REFUSED'], ports: [53] } } });
  assert.equal(why, undefined, why);
});

after(async () => {
  dns.stopEvents();
  dns.kernel.close();
  if (server) await stopProcess(server, 'SIGKILL');
  await ctrd?.stop();
});

test('both dns programs load and attach at the cgroup v2 root', () => {
  assert.deepEqual(dns.kernel.programs().map((p) => [p.name, p.attached, p.error]), [['dns_egress', true, undefined], ['dns_ingress', true, undefined]]);
});

test('a known mix over UDP and TCP, IPv4 and IPv6: counts, latency buckets and timeout events equal what the client saw, in the client pod only', async () => {
  const hostBefore = await collect(HOST);
  const kinds = { fast: 0, slow: 0, fail: 0, drop: 0 };
  const mix: { server: string; proto: 'udp' | 'tcp'; name: string; id: number }[] = [];
  const plan: [string, 'udp' | 'tcp', Record<keyof typeof kinds, number>][] = [
    [serverPod.ip, 'udp', { fast: 5, slow: 3, fail: 2, drop: 2 }],
    [serverPod.ip, 'tcp', { fast: 2, slow: 1, fail: 1, drop: 1 }],
    [server6, 'udp', { fast: 2, slow: 1, fail: 1, drop: 1 }],
    [server6, 'tcp', { fast: 1, slow: 1, fail: 0, drop: 1 }],
  ];
  let id = 0x1000;
  for (const [addr, proto, counts] of plan) {
    for (const [kind, n] of Object.entries(counts) as [keyof typeof kinds, number][]) {
      for (let i = 0; i < n; i++) {
        id++;
        mix.push({ server: addr, proto, name: `${kind}-${proto}-${addr.includes(':') ? 6 : 4}-${i}.svc.test`, id });
        kinds[kind]++;
      }
    }
  }
  const seen = await ask(mix);
  assert.equal(seen.sent, mix.length);
  assert.equal(seen.unanswered, kinds.drop, `the client saw ${JSON.stringify(seen)}`);
  assert.equal(seen.answers['0'], kinds.fast + kinds.slow);
  assert.equal(seen.answers['2'], kinds.fail);

  const client = entity(clientPod);
  const samples = await waitFor('every ignored query counted as a timeout', async () => {
    const s = await collect(client);
    return sum(s, 'timeouts') >= kinds.drop ? s : undefined;
  }, 10_000);
  const perServer = (addr: string) => mix.filter((q) => q.server === addr);
  for (const addr of [serverPod.ip, server6]) {
    const qs = perServer(addr);
    assert.equal(sum(samples, 'queries', { server: addr, qtype: 'A' }), qs.length, `queries to ${addr}`);
    assert.equal(sum(samples, 'timeouts', { server: addr }), qs.filter((q) => q.name.startsWith('drop-')).length, `timeouts of ${addr}`);
    const h = histogramOf(samples, addr);
    assert.ok(h, `no latency histogram for ${addr}`);
    const answered = qs.filter((q) => !q.name.startsWith('drop-'));
    assert.equal(h.count, answered.length, `answers timed from ${addr}`);
    // The 300 ms answers land in (0.2, 0.5]; the others well under 0.2 s.
    const i200 = LATENCY_BUCKETS_S.indexOf(0.2);
    const i500 = LATENCY_BUCKETS_S.indexOf(0.5);
    assert.equal(h.counts[i500], answered.filter((q) => q.name.startsWith('slow-')).length, `(0.2, 0.5] of ${addr}: ${h.counts.join(',')}`);
    assert.equal(h.counts.slice(0, i200 + 1).reduce((a, b) => a + b, 0), answered.filter((q) => !q.name.startsWith('slow-')).length);
  }
  assert.equal(sum(samples, 'queries'), mix.length, 'queries counted once each');
  assert.equal(sum(samples, 'responses', { rcode: 'NOERROR' }), kinds.fast + kinds.slow);
  assert.equal(sum(samples, 'responses', { rcode: 'SERVFAIL' }), kinds.fail);
  assert.equal(sum(samples, 'responses'), kinds.fast + kinds.slow + kinds.fail);
  assert.equal(sum(samples, 'malformed'), 0);

  // The server pod answered but asked nothing; the host saw the packets pass its bridge only.
  const serverSide = await collect(entity(serverPod));
  for (const m of ['queries', 'responses', 'timeouts']) assert.equal(sum(serverSide, m), 0, `${m} in the server pod`);
  const hostAfter = await collect(HOST);
  for (const addr of [serverPod.ip, server6]) {
    assert.equal(sum(hostAfter, 'queries', { server: addr }), sum(hostBefore, 'queries', { server: addr }), `host queries to ${addr}`);
  }

  // One DNS_TIMEOUT per ignored query, naming the client's namespace, the server and the name;
  // one DNS_ERROR per SERVFAIL.
  await waitFor('the timeout and error events', () => {
    dns.kernel.drain();
    return events.filter((e) => e.type === 'DNS_TIMEOUT').length >= kinds.drop && events.filter((e) => e.type === 'DNS_ERROR').length >= kinds.fail;
  }, 5000);
  const timeouts = events.filter((e) => e.type === 'DNS_TIMEOUT');
  assert.deepEqual(timeouts.map((e) => String(e.attrs.name)).sort(), mix.filter((q) => q.name.startsWith('drop-')).map((q) => q.name).sort());
  for (const e of timeouts) {
    const q = mix.find((m) => m.name === e.attrs.name)!;
    assert.equal(e.netns, client.netns, 'the event is the client pod\'s');
    assert.equal(e.attrs.server, q.server);
    assert.equal(e.attrs.id, q.id);
    assert.equal(e.attrs.qtype, 'A');
    assert.equal(e.attrs.protocol, q.proto.toUpperCase());
    assert.ok(Number(e.attrs.elapsed_ms) >= TIMEOUT_MS && Number(e.attrs.elapsed_ms) < TIMEOUT_MS + 1000, `elapsed ${e.attrs.elapsed_ms}`);
  }
  const errors = events.filter((e) => e.type === 'DNS_ERROR');
  assert.deepEqual(errors.map((e) => String(e.attrs.name)).sort(), mix.filter((q) => q.name.startsWith('fail-')).map((q) => q.name).sort());
  for (const e of errors) {
    assert.equal(e.attrs.rcode, 'SERVFAIL');
    assert.equal(e.netns, client.netns);
  }
});

test('malformed queries (truncated header, compression loop, name over 255 bytes) are counted and nothing breaks', async () => {
  const client = entity(clientPod);
  const before = await collect(client);
  const header = '\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00';
  const long = Array.from({ length: 5 }, () => `\\x3f${'x'.repeat(63)}`).join('');
  const packets = [
    '\\x12\\x34\\x01\\x00\\x00',                     // 5 bytes: not even a header
    `${header}\\xc0\\x0c\\x00\\x01\\x00\\x01`,        // the question's name points at itself
    `${header}${long}\\x00\\x00\\x01\\x00\\x01`,      // 5 labels of 63: 321 bytes of name
  ];
  await inNetns(clientPod.pid, process.execPath, ['-e', `const s = require('dgram').createSocket('udp4');
    const ps = [${packets.map((p) => `Buffer.from('${p}', 'latin1')`).join(', ')}];
    let n = 0; const next = () => n < ps.length ? s.send(ps[n++], 53, '${serverPod.ip}', next) : s.close(); next();`]);
  const after = await waitFor('three malformed packets counted', async () => {
    const s = await collect(client);
    return sum(s, 'malformed') - sum(before, 'malformed') >= 3 ? s : undefined;
  }, 5000);
  assert.equal(sum(after, 'malformed') - sum(before, 'malformed'), 3);
  assert.equal(sum(after, 'queries'), sum(before, 'queries'), 'a malformed packet is not a query');
  // The probe still works: one more good query is counted and answered.
  const seen = await ask([{ server: serverPod.ip, proto: 'udp', name: 'fast-after.svc.test', id: 0x7777 }]);
  assert.equal(seen.answers['0'], 1);
  const again = await waitFor('the next query counted', async () => {
    const s = await collect(client);
    return sum(s, 'responses', { rcode: 'NOERROR' }) > sum(before, 'responses', { rcode: 'NOERROR' }) ? s : undefined;
  }, 5000);
  assert.equal(sum(again, 'queries'), sum(before, 'queries') + 1);
});

test('event_config.dns reaches the kernel through the probe\'s tune, events or not: another port and a shorter timeout apply', async () => {
  const counts = async () => {
    const samples = await collect(entity(clientPod));
    return { queries: sum(samples, 'queries'), timeouts: sum(samples, 'timeouts') };
  };
  const before = await counts();
  const id = 0x5353;
  dns.tune({ dns: { timeout_ms: 200, error_rcodes: ['SERVFAIL'], ports: [5353] } });
  try {
    // One query to port 5353 of the server pod, where nothing listens: never answered.
    const query = 'const s=require("dgram").createSocket("udp4");' +
      // Header (id, RD, one question), then "none.test", type A, class IN.
      `const q=Buffer.from("${id.toString(16)}0100000100000000000004${Buffer.from('none').toString('hex')}04${Buffer.from('test').toString('hex')}00" + "00010001","hex");` +
      `s.on("error",()=>{});s.send(q,5353,"${serverPod.ip}",()=>setTimeout(()=>s.close(),100));`;
    await inNetns(clientPod.pid, process.execPath, ['-e', query]);
    await waitFor('the query to port 5353 counted and timed out', async () => {
      const now = await counts();
      return now.timeouts === before.timeouts + 1 && now.queries === before.queries + 1;
    }, 10_000);
    const event = await waitFor('its DNS_TIMEOUT event', () => events.find((e) => e.type === 'DNS_TIMEOUT' && e.attrs.id === id), 10_000);
    const elapsed = Number(event.attrs.elapsed_ms);
    assert.ok(elapsed >= 200 && elapsed < TIMEOUT_MS, `timed out after ${elapsed} ms: the 200 ms of the tuned options, not the ${TIMEOUT_MS} ms the events started with`);
  } finally {
    dns.tune({ dns: { timeout_ms: TIMEOUT_MS, error_rcodes: ['SERVFAIL', 'REFUSED'], ports: [53] } });
  }
});
