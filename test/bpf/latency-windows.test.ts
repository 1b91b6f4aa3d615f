// Time-window sampling of the latency probes (event_config.latency_window_ms and
// latency_period_ms) against the real kernel: while sampling 1 in N > 1, a copy of an object is
// attached only during its windows (its programs do not run outside them), its histogram counts
// estimate the exact copy's for the same steady traffic spread over several periods, and a
// measurement begun in one window never ends in a later one. Each test loads its own windowed
// copy beside an exact copy on the same tracepoints; traffic stays inside the two namespaces this
// file creates.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { BpfProbe, samplingError } from '../../src/bpf/probe.js';
import { emptyHistogram, histogramOf } from '../../src/probes/latency.js';
import { LATENCY_BUCKETS_NS } from '../../src/model.js';
import { cleanup, createNetns, holdingUdpReceiver, veth, type Netns } from '../helpers/netns.js';
import { waitFor, waitForExit, waitForLine } from '../helpers/wait.js';

const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';
let a: Netns; // receives: 10.200.<n>.1
let b: Netns; // sends
let aAddr: string;
let statsWas: string;
const probes: BpfProbe[] = [];

/** A copy of `name`'s object sampling 1 in `every`, attached `ms` of every `periodMs` (no window: exact). */
function copy(name: string, every: number, window?: { ms: number; periodMs: number }): BpfProbe {
  const p = new BpfProbe(name, 'hist');
  p.setSampling(every, window);
  probes.push(p);
  assert.equal(p.unsupported(), undefined);
  return p;
}

/** The histogram of kind `kind` in namespace `ns` of a latency probe. */
function histOf(p: BpfProbe, enumName: string, prefix: string, kind: string, ns: Netns) {
  const base = p.kernelKinds(enumName, prefix).get(kind)! << 8;
  return histogramOf(p.counters().get(ns.inode), base) ?? emptyHistogram();
}

/** `count` one-byte datagrams from b to a's `port` (each port in turn when given several), at once. */
function burst(ports: number[], count: number): void {
  b.exec('python3', '-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ports = ${JSON.stringify(ports)}
for i in range(${count}): s.sendto(b'x', ('${aAddr}', ports[i % len(ports)]))`);
}

/** Waits for a window to be open (or closed), then runs `act`; true when the same window state held throughout. */
async function inPhase(p: BpfProbe, open: boolean, act: () => void): Promise<boolean> {
  await waitFor(open ? 'an open window' : 'a closed window', () => p.windows().open === open, 5000);
  const opened = p.windows().opened;
  act();
  return p.windows().open === open && p.windows().opened === opened;
}

before(async () => {
  a = await createNetns();
  b = await createNetns();
  aAddr = veth(a, b, 60 + (process.pid % 30)).aAddr;
  statsWas = readFileSync(BPF_STATS, 'utf8').trim();
  writeFileSync(BPF_STATS, '1'); // program run counts
});

after(() => {
  writeFileSync(BPF_STATS, statsWas);
  for (const p of probes) p.close();
  cleanup();
});

test('a windowed kernellatency copy runs its programs inside its windows only; exact mode stays attached', async () => {
  const windowed = copy('kernellatency', 4, { ms: 300, periodMs: 1200 });
  const exact = copy('kernellatency', 1, { ms: 300, periodMs: 1200 });
  assert.equal(windowed.windows().windowed, true);
  assert.equal(exact.windows().windowed, false, 'latency_sample 1 is never windowed');
  assert.match(windowed.status().sampled!, /^measured during 300 ms of every 1200 ms, 1 in 4 within/);
  const runs = (p: BpfProbe) => p.programStats().find((s) => s.name === 'netif_receive_skb')!.runCount;
  const port = 9; // closed: netif_receive_skb runs all the same
  for (const open of [false, true]) {
    for (let attempt = 0; ; attempt++) {
      let [was, exactWas] = [0, 0];
      const held = await inPhase(windowed, open, () => {
        [was, exactWas] = [runs(windowed), runs(exact)];
        burst([port], 200);
      });
      if (!held) {
        assert.ok(attempt < 5, 'the window never held still for a 200-datagram burst');
        continue;
      }
      const [grew, exactGrew] = [runs(windowed) - was, runs(exact) - exactWas];
      assert.ok(exactGrew >= 200, `the exact copy ran for every datagram (${exactGrew})`);
      if (open) assert.ok(grew >= 200, `inside a window the windowed copy runs too (${grew} runs)`);
      else assert.equal(grew, 0, 'outside its windows the windowed copy is detached: not one run');
      break;
    }
  }
  assert.ok(windowed.programs().every((p) => p.attached), 'its programs still count as attached (for collection)');
});

test('kernellatency in windows of 400 ms every 800 ms, 1 in 2 within: the receive count of 3.2 s of steady traffic is within its stated error of the exact count', async (t) => {
  const [every, ms, periodMs] = [2, 400, 800];
  const windowed = copy('kernellatency', every, { ms, periodMs });
  const exact = copy('kernellatency', 1);
  const port = 7410;
  // Read only at the end: a reader dequeuing on another CPU could take a datagram before the
  // exact copy's sk_data_ready sees it at the queue's tail (kernellatency.bpf.c).
  const receiver = await holdingUdpReceiver(a, aAddr, port, 32 << 20);
  const rx = (p: BpfProbe) => histOf(p, 'kernellatency_kind', 'KERNELLATENCY_', 'RX', a);
  const [exactWas, windowedWas] = [rx(exact), rx(windowed)];
  // 3000 datagrams/s paced for 4 whole periods: any 4 periods hold 4 windows of attached time.
  const [rate, seconds] = [3000, (4 * periodMs) / 1000];
  const n = rate * seconds;
  // Spawned, not run synchronously: the windows' timers run on this process's event loop.
  const sender = b.spawn('python3', ['-c', `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.monotonic()
for i in range(${n}):
    d = t0 + i / ${rate} - time.monotonic()
    if d > 0: time.sleep(d)
    s.sendto(b'x', ('${aAddr}', ${port}))`]);
  assert.equal(await waitForExit(sender, 20_000), 0);
  assert.equal(await receiver.drain(), n);
  const count = rx(exact).count - exactWas.count;
  const estimate = rx(windowed).count - windowedWas.count;
  assert.equal(count, n, 'the exact copy saw each datagram');
  // Stated error: the sampling's (an observation stands for N·P/W = 4 datagrams, about 4
  // standard errors of that binomial estimate), plus 10 % for a sender that is not perfectly
  // steady (the kernel counts nothing past a window's length, however late the timer detaches).
  const weight = (every * periodMs) / ms;
  const error = samplingError(count, weight) + 0.1 * count;
  t.diagnostic(`estimate ${estimate} for an exact ${count}, stated error ${error.toFixed(0)}`);
  assert.ok(Math.abs(estimate - count) <= error, `estimate ${estimate} for ${count}: off by more than the stated ${error.toFixed(0)}`);
});

test('socketlatency in windows: data that arrived in one window and is read in the next is not measured (no pairing across windows); the exact copy sees the whole wait', async () => {
  const [ms, periodMs] = [300, 1200];
  const windowed = copy('socketlatency', 2, { ms, periodMs });
  const exact = copy('socketlatency', 1);
  const sockets = 40;
  const ports = Array.from({ length: sockets }, (_, i) => 7420 + i);
  const receiver = a.spawn('python3', ['-c', `
import socket, sys
socks = []
for p in ${JSON.stringify(ports)}:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('${aAddr}', p))
    s.setblocking(False)
    socks.append(s)
print('bound', flush=True)
for line in sys.stdin:
    n = 0
    for s in socks:
        try:
            while True: s.recv(16); n += 1
        except BlockingIOError: pass
    print('read', n, flush=True)`]);
  await waitForLine(receiver, /^bound/, 10_000);
  const readAll = async (): Promise<string> => {
    const line = waitForLine(receiver, /^read \d+/, 10_000);
    receiver.stdin!.write('\n');
    return line;
  };
  const wait = (p: BpfProbe) => histOf(p, 'socketlatency_kind', 'SOCKETLATENCY_', 'READ', a);
  for (let attempt = 0; ; attempt++) {
    const [exactWas, windowedWas] = [wait(exact), wait(windowed)];
    let opened = 0;
    const held = await inPhase(windowed, true, () => {
      opened = windowed.windows().opened;
      burst(ports, sockets);
    });
    if (!held) {
      await readAll(); // this burst's data, whichever window it met
      assert.ok(attempt < 5, 'the window never held still for a 40-datagram burst');
      continue;
    }
    // Read in the next window: a start kept from the last one would pair with this read.
    await waitFor('the next window', () => windowed.windows().open && windowed.windows().opened > opened, 5000);
    assert.equal(await readAll(), `read ${sockets}`);
    const [exactNow, windowedNow] = [wait(exact), wait(windowed)];
    assert.equal(exactNow.count - exactWas.count, sockets, 'the exact copy measured every wait');
    assert.ok(exactNow.sum - exactWas.sum >= sockets * (periodMs - ms - 100) / 1000, 'each wait spanned the closed part of a period');
    assert.equal(windowedNow.count - windowedWas.count, 0, 'no wait begun in an earlier window was measured');
    // Nothing the windowed copy ever measured here is longer than a window.
    const overWindow = LATENCY_BUCKETS_NS.findIndex((bound) => bound >= ms * 1e6) + 1;
    assert.equal(windowedNow.counts.slice(overWindow).reduce((x, y) => x + y, 0), 0, 'an observation longer than the window');
    break;
  }
});
