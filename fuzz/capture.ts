// `npm run fuzz -- --capture`: records what the kernel answers to the agent's rtnetlink and
// ctnetlink dumps inside a throwaway network namespace set up with one of each thing (a veth
// pair with IPv4 and IPv6 addresses, a gateway route, a policy rule, a permanent neighbour,
// htb and pfifo qdiscs), as new fuzz seeds in test/fixtures/netlink/. Needs root and the addon.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { nativeAddon, type NativeAddon } from '../src/native/addon.js';
import { conntrackStats } from '../src/netlink/conntrack.js';
import { netconf, routes, rules } from '../src/netlink/route.js';
import { neighbours, qdiscs } from '../src/netlink/rtnetlink.js';
import { hexLines } from './netlink-wire.js';
import { fixture } from './paths.js';

const SETUP = [
  'ip link set lo up',
  'ip link add fz0 type veth peer name fz1',
  'ip addr add 10.201.0.1/24 dev fz0',
  'ip addr add fd00:201::1/64 dev fz0 nodad',
  'ip link set fz0 up',
  'ip link set fz1 up',
  'ip route add default via 10.201.0.254 dev fz0',
  'ip route add 10.202.0.0/16 via 10.201.0.253 dev fz0 metric 50 table 100',
  'ip rule add from 10.201.0.0/24 fwmark 7 lookup 100 priority 1000',
  'ip neigh add 10.201.0.9 lladdr 02:00:00:00:02:09 dev fz0 nud permanent',
  'ip -6 neigh add fd00:201::9 lladdr 02:00:00:00:02:09 dev fz0 nud permanent',
  'tc qdisc add dev fz0 root handle 1: htb default 10',
  'tc qdisc add dev fz1 root pfifo limit 100',
  'sysctl -q -w net.ipv4.conf.fz0.rp_filter=2',
];

const DUMPS: { file: string; what: string; run: (ns: string) => Promise<unknown> }[] = [
  { file: 'rtm-getroute.json', what: 'routes(ns, 4) and routes(ns, 6)', run: async (ns) => [await routes(ns, 4), await routes(ns, 6)] },
  { file: 'rtm-getrule.json', what: 'rules(ns, 4) and rules(ns, 6)', run: async (ns) => [await rules(ns, 4), await rules(ns, 6)] },
  { file: 'rtm-getnetconf.json', what: 'netconf(ns, 4)', run: (ns) => netconf(ns, 4) },
  { file: 'rtm-getneigh.json', what: 'neighbours(ns, 4) and neighbours(ns, 6)', run: async (ns) => [await neighbours(ns, 4), await neighbours(ns, 6)] },
  { file: 'rtm-getqdisc.json', what: 'qdiscs(ns)', run: (ns) => qdiscs(ns) },
  { file: 'ctnetlink-stats.json', what: 'conntrackStats(ns)', run: (ns) => conntrackStats(ns) },
];


export async function capture(log: (line: string) => void): Promise<void> {
  const state = nativeAddon();
  const real = state.addon;
  if (!real) throw new Error(`capture needs the native addon: ${state.error}`);
  const name = `fuzzcap${process.pid}`;
  const sh = (cmd: string) => execFileSync('ip', ['netns', 'exec', name, ...cmd.split(' ')], { stdio: 'pipe' });
  execFileSync('ip', ['netns', 'add', name]);
  try {
    for (const cmd of SETUP) sh(cmd);
    const ns = `/run/netns/${name}`;
    for (const d of DUMPS) {
      const exchanges: { protocol: number; request: string[]; reply: string[] }[] = [];
      const recorder: NativeAddon = {
        netlinkDump: async (path, protocol, request) => {
          const reply = await real.netlinkDump(path, protocol, request);
          exchanges.push({ protocol, request: hexLines(Buffer.from(request)), reply: hexLines(Buffer.from(reply)) });
          return reply;
        },
      };
      state.addon = recorder;
      try {
        await d.run(ns);
      } finally {
        state.addon = real;
      }
      const captured = `kernel ${release()}: ${d.what} inside a fresh network namespace set up by fuzz/capture.ts (${SETUP.length} commands: veth pair with addresses, gateway route, table 100 route and rule, permanent neighbours, htb and pfifo qdiscs)`;
      writeFileSync(fixture('netlink', d.file), `${JSON.stringify({ captured, exchanges }, null, 1)}\n`);
      log(`capture: ${d.file}: ${exchanges.length} exchanges, ${exchanges.reduce((n, e) => n + e.reply.join('').length / 2, 0)} reply bytes`);
    }
  } finally {
    execFileSync('ip', ['netns', 'del', name]);
  }
}
