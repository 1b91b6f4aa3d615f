// Every probe, in catalogue order: the only list. Adding a probe: its module in this directory
// (and its native/bpf/<name>.bpf.c for an eBPF probe) and one line here.
import type { Probe } from './probe.js';
import netdev from './netdev.js';
import tcp from './tcp.js';
import tcpext from './tcpext.js';
import udp from './udp.js';
import ip from './ip.js';
import sock from './sock.js';
import softnet from './softnet.js';
import tcpsummary from './tcpsummary.js';
import conntrack from './conntrack.js';
import qdisc from './qdisc.js';
import arp from './arp.js';
import sockbacklog from './sockbacklog.js';
import fd from './fd.js';
import io from './io.js';
import slab from './slab.js';
import podip from './podip.js';
import configcheck from './configcheck.js';
import packetloss from './packetloss.js';
import tcpreset from './tcpreset.js';
import tcpretrans from './tcpretrans.js';
import tcptwrcv from './tcptwrcv.js';
import netSoftirq from './net_softirq.js';
import socketlatency from './socketlatency.js';
import netiftxlat from './netiftxlat.js';
import kernellatency from './kernellatency.js';
import virtcmdlatency from './virtcmdlatency.js';
import kernelparam from './kernelparam.js';
import k8sconfig from './k8sconfig.js';
import kubeproxy from './kubeproxy.js';
import ipvs from './ipvs.js';
import route from './route.js';
import nodeconfig from './nodeconfig.js';
import mtu from './mtu.js';
import dns from './dns.js';

export const PROBES: readonly Probe[] = [
  netdev, tcp, tcpext, udp, ip, sock, softnet, tcpsummary, conntrack, qdisc, arp, sockbacklog, fd, io, slab, podip,
  configcheck, packetloss, tcpreset, tcpretrans, tcptwrcv, netSoftirq, socketlatency, netiftxlat, kernellatency,
  virtcmdlatency, kernelparam, k8sconfig, kubeproxy, ipvs, route, nodeconfig, mtu, dns,
];

export type { Probe } from './probe.js';
