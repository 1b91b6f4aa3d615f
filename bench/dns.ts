// Benchmark of the dns probe's datapath cost for packets that are not DNS (root;
// `npm run build && node dist/bench/dns.js`). Its two cgroup_skb programs run for every packet
// of every socket on the node, so what they cost a packet that is not DNS is the price every
// workload pays:
//  1. kernel time per program run (kernel.bpf_stats_enabled, restored afterwards) during a flood
//     of 200-byte UDP datagrams across a veth between two namespaces: each datagram runs egress
//     at the sender's socket and ingress at the receiver's, so the two together are the cost
//     per packet;
//  2. datagrams received per second with the programs attached versus not, alternated.
// Creates and removes its own two namespaces; traffic stays inside them. Its last line is a JSON
// summary (see bench/run.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { probe } from '../src/catalogue/index.js';
import { cleanup, createNetns, veth, type Netns } from '../test/helpers/netns.js';
import { waitForLine } from '../test/helpers/wait.js';

const SECONDS = 4;
const RUNS = 3;
const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';
const dns = probe('dns')!.kernel!;

/** iperf3 UDP from `b` to `a`, 200-byte datagrams as fast as one sender goes: { received per second, sent }. */
async function flood(a: Netns, b: Netns, aAddr: string): Promise<{ perSec: number; packets: number }> {
  const server = a.spawn('iperf3', ['-s', '-1', '--forceflush', '-B', aAddr]);
  await waitForLine(server, /Server listening/, 10_000);
  const out = JSON.parse(await b.output('iperf3', ['-c', aAddr, '-u', '-b', '0', '-l', '200', '-t', String(SECONDS), '-J'])) as
    { end: { sum: { packets: number; lost_packets: number; seconds: number } } };
  server.kill();
  const { packets, lost_packets: lost, seconds } = out.end.sum;
  return { perSec: (packets - lost) / seconds, packets };
}

const runs = () => new Map(dns.programStats().map((s) => [s.name, { count: s.runCount, ns: s.runTimeNs }]));

async function main(): Promise<void> {
  const statsWas = readFileSync(BPF_STATS, 'utf8').trim();
  const a = await createNetns();
  const b = await createNetns();
  const v = veth(a, b, 240);
  try {
    const why = dns.unsupported();
    if (why) throw new Error(`dns: ${why}`);

    // 1. Kernel time per run, with run statistics on (they add two clock reads per run).
    writeFileSync(BPF_STATS, '1');
    const before = runs();
    const { packets } = await flood(a, b, v.aAddr);
    const after = runs();
    const cost = ['dns_egress', 'dns_ingress'].map((name) => {
      const runCount = after.get(name)!.count - before.get(name)!.count;
      const ns = after.get(name)!.ns - before.get(name)!.ns;
      return { program: name, runs: runCount, nsPerRun: runCount ? Math.round(ns / runCount) : 0 };
    });
    console.log(`# kernel time of the dns programs during ${SECONDS} s of 200-byte UDP (not DNS) across a veth; ${packets} datagrams sent`);
    console.table(cost);
    const perPacket = cost.reduce((t, c) => t + c.nsPerRun, 0);

    // 2. Throughput, alternated, run statistics off.
    writeFileSync(BPF_STATS, '0');
    const none: number[] = [];
    const attached: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      dns.close();
      none.push((await flood(a, b, v.aAddr)).perSec);
      dns.unsupported(); // loads and attaches again
      attached.push((await flood(a, b, v.aAddr)).perSec);
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const changePct = ((median(attached) - median(none)) / median(none)) * 100;
    console.log(`# datagrams received per second, ${SECONDS} s per run, alternated`);
    console.table([
      { programs: 'none', runs: none.map((x) => Math.round(x)).join(', '), median: Math.round(median(none)) },
      { programs: 'dns_egress + dns_ingress', runs: attached.map((x) => Math.round(x)).join(', '), median: Math.round(median(attached)) },
    ]);
    console.log(`ns per non-DNS packet (egress at the sender + ingress at the receiver): ${perPacket}; change of the median rate: ${changePct.toFixed(1)}%`);
    console.log(JSON.stringify({ dns_ns_per_non_dns_packet: perPacket, dns_udp_rate_change_pct: Math.round(changePct * 100) / 100 }));
  } finally {
    writeFileSync(BPF_STATS, statsWas);
    dns.close();
    cleanup();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
