// Every metric probe by name. Adding a probe: one file in this directory, its metrics in
// src/catalogue/metrics.ts, its name in src/catalogue/probes.ts, and a line here.
import type { MetricProbeName } from '../catalogue/probes.js';
import type { MetricProbe } from '../model.js';
import { packetlossProbe } from './packetloss.js';
import { tcpresetProbe } from './tcpreset.js';
import { tcpretransProbe } from './tcpretrans.js';
import { tcptwrcvProbe } from './tcptwrcv.js';
import { netSoftirqProbe } from './net_softirq.js';
import { socketlatencyProbe } from './socketlatency.js';
import { netiftxlatProbe } from './netiftxlat.js';
import { kernellatencyProbe } from './kernellatency.js';
import { arpProbe } from './arp.js';
import { conntrackProbe } from './conntrack.js';
import { fdProbe } from './fd.js';
import { ioProbe } from './io.js';
import { ipProbe } from './ip.js';
import { netdevProbe } from './netdev.js';
import { podipProbe } from './podip.js';
import { configcheckProbe } from '../checks/metric.js';
import { qdiscProbe } from './qdisc.js';
import { slabProbe } from './slab.js';
import { sockProbe } from './sock.js';
import { sockbacklogProbe } from './sockbacklog.js';
import { softnetProbe } from './softnet.js';
import { tcpProbe } from './tcp.js';
import { tcpextProbe } from './tcpext.js';
import { tcpsummaryProbe } from './tcpsummary.js';
import { udpProbe } from './udp.js';

export const METRIC_PROBE_IMPLS: Record<MetricProbeName, MetricProbe> = {
  netdev: netdevProbe,
  tcp: tcpProbe,
  tcpext: tcpextProbe,
  udp: udpProbe,
  ip: ipProbe,
  sock: sockProbe,
  softnet: softnetProbe,
  tcpsummary: tcpsummaryProbe,
  conntrack: conntrackProbe,
  qdisc: qdiscProbe,
  arp: arpProbe,
  sockbacklog: sockbacklogProbe,
  fd: fdProbe,
  io: ioProbe,
  slab: slabProbe,
  podip: podipProbe,
  configcheck: configcheckProbe,
  packetloss: packetlossProbe,
  tcpreset: tcpresetProbe,
  tcpretrans: tcpretransProbe,
  tcptwrcv: tcptwrcvProbe,
  net_softirq: netSoftirqProbe,
  socketlatency: socketlatencyProbe,
  netiftxlat: netiftxlatProbe,
  kernellatency: kernellatencyProbe,
};
