// The catalogue: every metric the agent exports, the single source for names, types,
// units, help text, docs (otel/catalogue.md) and tests.
//
// Names: the default profile is KCE's `netexporter_<probe>_<name>`; the `inspector` profile
// is ACK's `inspector_pod_<probe><name>` unless `ack` spells it differently (the ACK table
// has its own spellings, typos included, and dashboards depend on them).

import type { MetricProbeName } from './probes.js';
import { LATENCY_BUCKETS_S } from '../probes/latency.js';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDef {
  probe: MetricProbeName;
  name: string;
  type: MetricType;
  /** UCUM unit as OpenTelemetry uses it ('1' for a plain count). */
  unit: string;
  help: string;
  /** Where the kernel exposes the value; for snmp-style files `<Section>:<Field>`. */
  source: string;
  /** ACK inspector name when it does not follow `inspector_pod_<probe><name>`. */
  ack?: string;
  /** Labels beyond the entity labels. */
  labels?: readonly string[];
  /** Bucket upper bounds of a histogram, in `unit`. */
  buckets?: readonly number[];
  /**
   * 'host': the kernel keeps one value for the whole machine even where a namespace's view
   * shows it; exported on the host entity only, so sums over pods do not multiply it.
   */
  scope?: 'host';
}

const c = (probe: MetricProbeName, name: string, source: string, help: string, unit = '1', extra: Partial<MetricDef> = {}): MetricDef =>
  ({ probe, name, type: 'counter', unit, help, source, ...extra });
const g = (probe: MetricProbeName, name: string, source: string, help: string, unit = '1', extra: Partial<MetricDef> = {}): MetricDef =>
  ({ probe, name, type: 'gauge', unit, help, source, ...extra });

/** A latency histogram in seconds with the buckets of the in-kernel histograms. */
const h = (probe: MetricProbeName, name: string, source: string, help: string, extra: Partial<MetricDef> = {}): MetricDef =>
  ({ probe, name, type: 'histogram', unit: 's', help, source, buckets: LATENCY_BUCKETS_S, ...extra });

const IF = { labels: ['if_name'] } as const;
const HOST = { scope: 'host' } as const;

export const METRICS: readonly MetricDef[] = [
  // netdev: per interface, from IFLA_STATS64 over rtnetlink (per netns; has crc errors that /proc/net/dev lacks)
  c('netdev', 'rxbytes', 'rx_bytes', 'Bytes received by the interface.', 'By', IF),
  c('netdev', 'rxpackets', 'rx_packets', 'Packets received by the interface.', '{packet}', IF),
  c('netdev', 'rxerrors', 'rx_errors', 'Receive errors on the interface.', '{packet}', IF),
  c('netdev', 'rxdropped', 'rx_dropped', 'Received packets dropped before reaching the stack (no buffer, filtered, unknown protocol).', '{packet}', IF),
  c('netdev', 'rxfifos', 'rx_fifo_errors', 'Receive ring buffer (FIFO) overruns.', '{packet}', IF),
  c('netdev', 'rxcrcerrors', 'rx_crc_errors', 'Received frames with a bad CRC.', '{packet}', IF),
  c('netdev', 'txbytes', 'tx_bytes', 'Bytes sent by the interface.', 'By', IF),
  c('netdev', 'txpackets', 'tx_packets', 'Packets sent by the interface.', '{packet}', IF),
  c('netdev', 'txerrors', 'tx_errors', 'Transmit errors on the interface.', '{packet}', IF),
  c('netdev', 'txdropped', 'tx_dropped', 'Packets dropped on transmit (no buffer, queue full).', '{packet}', IF),
  c('netdev', 'txfifos', 'tx_fifo_errors', 'Transmit ring buffer (FIFO) errors.', '{packet}', IF),

  // tcp: /proc/<pid>/net/snmp, per netns
  c('tcp', 'activeopens', 'Tcp:ActiveOpens', 'Connections this namespace started (SYN sent), failed ones included.', '{connection}'),
  c('tcp', 'passiveopens', 'Tcp:PassiveOpens', 'Connections accepted from peers (handshake completed, socket created).', '{connection}'),
  c('tcp', 'attemptfails', 'Tcp:AttemptFails', 'Connection attempts that failed (SYN_SENT or SYN_RECV to CLOSED or LISTEN).', '{connection}'),
  c('tcp', 'estabresets', 'Tcp:EstabResets', 'Established or CLOSE_WAIT connections that were reset.', '{connection}'),
  g('tcp', 'currestab', 'Tcp:CurrEstab', 'Connections currently ESTABLISHED or CLOSE_WAIT.', '{connection}'),
  c('tcp', 'insegs', 'Tcp:InSegs', 'Segments received, errors included.', '{segment}'),
  c('tcp', 'outsegs', 'Tcp:OutSegs', 'Segments sent, retransmissions excluded.', '{segment}'),
  c('tcp', 'retransseg', 'Tcp:RetransSegs', 'Segments retransmitted (TSO segments counted after splitting).', '{segment}', { ack: 'inspector_pod_tcpretranssegs' }),
  c('tcp', 'inerrs', 'Tcp:InErrs', 'Segments received in error (bad checksum, malformed).', '{segment}'),
  c('tcp', 'outrsts', 'Tcp:OutRsts', 'Segments sent with the RST flag.', '{segment}'),
  c('tcp', 'incsumerrors', 'Tcp:InCsumErrors', 'Segments received with a bad checksum.', '{segment}'),

  // tcpext: /proc/<pid>/net/netstat, per netns
  c('tcpext', 'listenoverflows', 'TcpExt:ListenOverflows', 'Times the accept queue of a listening socket was full when a handshake completed.', '{event}'),
  c('tcpext', 'listendrops', 'TcpExt:ListenDrops', 'SYNs or final ACKs dropped by a listening socket (overflows included).', '{packet}'),
  c('tcpext', 'tcpsynretrans', 'TcpExt:TCPSynRetrans', 'SYN and SYN-ACK retransmissions.', '{segment}'),
  c('tcpext', 'tcpfastretrans', 'TcpExt:TCPFastRetrans', 'Fast retransmissions (congestion state other than Loss).', '{segment}'),
  c('tcpext', 'tcpretransfail', 'TcpExt:TCPRetransFail', 'Retransmissions that failed with an error other than EBUSY.', '{segment}'),
  c('tcpext', 'tcptimeouts', 'TcpExt:TCPTimeouts', 'Retransmission timer expiries (RTO), SYN timeouts included.', '{event}'),
  c('tcpext', 'tcpabortonclose', 'TcpExt:TCPAbortOnClose', 'Resets sent because the application closed with unread data.', '{connection}'),
  c('tcpext', 'tcpabortonmemory', 'TcpExt:TCPAbortOnMemory', 'Resets sent because TCP ran out of memory (tcp_check_oom).', '{connection}'),
  c('tcpext', 'tcpabortontimeout', 'TcpExt:TCPAbortOnTimeout', 'Resets sent after keepalive, window-probe or retransmission limits ran out.', '{connection}'),
  c('tcpext', 'tcpabortonlinger', 'TcpExt:TCPAbortOnLinger', 'Resets sent to close FIN_WAIT2 sockets early (TCP_LINGER2).', '{connection}'),
  c('tcpext', 'tcpabortondata', 'TcpExt:TCPAbortOnData', 'Resets sent because data arrived after the application closed (linger).', '{connection}'),
  c('tcpext', 'tcpabortfailed', 'TcpExt:TCPAbortFailed', 'Resets the stack wanted to send but could not.', '{connection}'),
  c('tcpext', 'tcpackskippedsynrecv', 'TcpExt:TCPACKSkippedSynRecv', 'ACKs not sent in SYN_RECV because of out-of-window rate limiting.', '{segment}'),
  c('tcpext', 'tcpackskippedpaws', 'TcpExt:TCPACKSkippedPAWS', 'ACKs not sent after a PAWS check because of out-of-window rate limiting.', '{segment}'),
  c('tcpext', 'tcpackskippedseq', 'TcpExt:TCPACKSkippedSeq', 'ACKs for out-of-window sequence numbers not sent because of rate limiting.', '{segment}'),
  c('tcpext', 'tcpackskippedfinwait2', 'TcpExt:TCPACKSkippedFinWait2', 'ACKs not sent in FIN_WAIT2 because of out-of-window rate limiting.', '{segment}'),
  c('tcpext', 'tcpackskippedtimewait', 'TcpExt:TCPACKSkippedTimeWait', 'ACKs not sent in TIME_WAIT because of out-of-window rate limiting.', '{segment}'),
  c('tcpext', 'tcpackskippedchallenge', 'TcpExt:TCPACKSkippedChallenge', 'Challenge ACKs (answers to suspicious RST/SYN) not sent because of rate limiting.', '{segment}'),
  c('tcpext', 'tcprcvqdrop', 'TcpExt:TCPRcvQDrop', 'Segments dropped because the receive queue was full and memory could not be had.', '{segment}'),
  c('tcpext', 'pawsestab', 'TcpExt:PAWSEstab', 'Segments on established connections rejected by PAWS (old timestamp).', '{segment}', { ack: 'inspector_pod_tcpextpawsestabrejected' }),
  c('tcpext', 'tcpwinprobe', 'TcpExt:TCPWinProbe', 'Zero-window probes sent.', '{segment}'),
  c('tcpext', 'tcpkeepalive', 'TcpExt:TCPKeepAlive', 'Keepalive probes sent.', '{segment}'),
  c('tcpext', 'tcpmtupfail', 'TcpExt:TCPMTUPFail', 'Path MTU probes that failed.', '{event}'),
  c('tcpext', 'tcpmtupsuccess', 'TcpExt:TCPMTUPSuccess', 'Path MTU probes that succeeded.', '{event}'),
  c('tcpext', 'tcpzerowindowdrop', 'TcpExt:TCPZeroWindowDrop', 'Segments dropped because the receive window was zero.', '{segment}'),
  c('tcpext', 'tcpbacklogdrop', 'TcpExt:TCPBacklogDrop', 'Segments dropped because the socket backlog (socket owned by the user) was full.', '{segment}'),
  c('tcpext', 'pfmemallocdrop', 'TcpExt:PFMemallocDrop', 'Segments dropped because they came from emergency (PF_MEMALLOC) memory.', '{segment}'),
  c('tcpext', 'tcpwqueuetoobig', 'TcpExt:TCPWqueueTooBig', 'Times a send queue was too big to split a segment for retransmission.', '{event}'),
  c('tcpext', 'embryonicrsts', 'TcpExt:EmbryonicRsts', 'Resets received for connections in SYN_RECV.', '{segment}'),
  c('tcpext', 'tcpmemorypressures', 'TcpExt:TCPMemoryPressures', 'Times TCP entered memory pressure.', '{event}'),
  c('tcpext', 'tcpmemorypressureschrono', 'TcpExt:TCPMemoryPressuresChrono', 'Total time TCP spent in memory pressure.', 'ms'),

  // udp: /proc/<pid>/net/snmp, per netns
  c('udp', 'indatagrams', 'Udp:InDatagrams', 'Datagrams delivered to sockets.', '{datagram}'),
  c('udp', 'noports', 'Udp:NoPorts', 'Datagrams to a port with no socket.', '{datagram}'),
  c('udp', 'inerrors', 'Udp:InErrors', 'Datagrams that could not be delivered (buffer full, checksum, memory).', '{datagram}'),
  c('udp', 'outdatagrams', 'Udp:OutDatagrams', 'Datagrams sent.', '{datagram}'),
  c('udp', 'rcvbuferrors', 'Udp:RcvbufErrors', 'Datagrams dropped because the socket receive buffer was full.', '{datagram}'),
  c('udp', 'sndbuferrors', 'Udp:SndbufErrors', 'Datagrams not sent because the send buffer was full.', '{datagram}'),
  c('udp', 'incsumerrors', 'Udp:InCsumErrors', 'Datagrams received with a bad checksum.', '{datagram}'),
  c('udp', 'ignoredmulti', 'Udp:IgnoredMulti', 'Multicast or broadcast datagrams no socket wanted.', '{datagram}'),
  c('udp', 'memerrors', 'Udp:MemErrors', 'Datagrams dropped because UDP memory was exhausted.', '{datagram}'),

  // ip: /proc/<pid>/net/snmp and netstat, per netns
  c('ip', 'inreceives', 'Ip:InReceives', 'IP packets received, errors included.', '{packet}'),
  c('ip', 'inhdrerrors', 'Ip:InHdrErrors', 'Packets dropped for header errors (checksum, version, TTL).', '{packet}'),
  c('ip', 'inaddrerrors', 'Ip:InAddrErrors', 'Packets dropped for an invalid destination address.', '{packet}'),
  c('ip', 'forwdatagrams', 'Ip:ForwDatagrams', 'Packets forwarded.', '{packet}'),
  c('ip', 'inunknownprotos', 'Ip:InUnknownProtos', 'Packets for an unsupported protocol.', '{packet}'),
  c('ip', 'indiscards', 'Ip:InDiscards', 'Received packets discarded for lack of resources.', '{packet}'),
  c('ip', 'indelivers', 'Ip:InDelivers', 'Packets delivered to upper protocols.', '{packet}'),
  c('ip', 'outrequests', 'Ip:OutRequests', 'Packets handed to IP for sending.', '{packet}'),
  c('ip', 'outdiscards', 'Ip:OutDiscards', 'Outgoing packets discarded for lack of resources.', '{packet}'),
  c('ip', 'outnoroutes', 'Ip:OutNoRoutes', 'Outgoing packets dropped for lack of a route.', '{packet}'),
  c('ip', 'reasmfails', 'Ip:ReasmFails', 'Reassembly failures.', '{packet}'),
  c('ip', 'fragfails', 'Ip:FragFails', 'Packets that needed fragmenting but could not be (DF set).', '{packet}'),
  c('ip', 'innoroutes', 'IpExt:InNoRoutes', 'Received packets dropped for lack of a route.', '{packet}'),
  c('ip', 'intruncatedpkts', 'IpExt:InTruncatedPkts', 'Received packets shorter than their header says.', '{packet}'),

  // sock: /proc/<pid>/net/sockstat and sockstat6; `+` sums IPv4 and IPv6. inuse and tw are per
  // namespace; orphan, alloc and mem are kernel-wide.
  g('sock', 'inuse', 'TCP:inuse+TCP6:inuse', 'TCP sockets in use (listening and connected, IPv4 and IPv6) in the namespace.', '{socket}'),
  g('sock', 'tw', 'TCP:tw', 'TCP sockets in TIME_WAIT in the namespace.', '{socket}'),
  g('sock', 'orphan', 'TCP:orphan', 'TCP sockets no longer attached to a file (kernel-wide).', '{socket}', HOST),
  g('sock', 'alloc', 'TCP:alloc', 'TCP sockets allocated (kernel-wide).', '{socket}', HOST),
  g('sock', 'mem', 'TCP:mem', 'Memory pages used by TCP socket buffers (kernel-wide).', '{page}', HOST),
  g('sock', 'inuse_udp', 'UDP:inuse+UDP6:inuse', 'UDP sockets in use (IPv4 and IPv6) in the namespace.', '{socket}'),
  g('sock', 'mem_udp', 'UDP:mem', 'Memory pages used by UDP socket buffers (kernel-wide).', '{page}', HOST),

  // softnet: /proc/net/softnet_stat, summed over CPUs; kernel-wide, reported on the host entity
  c('softnet', 'processed', 'processed', 'Packets processed from the per-CPU backlog, all CPUs.', '{packet}'),
  c('softnet', 'dropped', 'dropped', 'Packets dropped because a per-CPU backlog was full (netdev_max_backlog), all CPUs.', '{packet}'),
  c('softnet', 'timesqueeze', 'time_squeeze', 'Times NET_RX softirq stopped with work left (budget or time exhausted), all CPUs.', '{event}'),

  // tcpsummary: sock_diag over netlink, per netns
  g('tcpsummary', 'tcpestablishedconn', 'ESTABLISHED', 'TCP connections in ESTABLISHED.', '{connection}'),
  g('tcpsummary', 'tcptimewaitconn', 'TIME_WAIT', 'TCP connections in TIME_WAIT.', '{connection}'),
  g('tcpsummary', 'tcpclosewaitconn', 'CLOSE_WAIT', 'TCP connections in CLOSE_WAIT (peer closed, application has not).', '{connection}'),
  g('tcpsummary', 'tcpsynsentconn', 'SYN_SENT', 'TCP connections in SYN_SENT.', '{connection}'),
  g('tcpsummary', 'tcpsynrecvconn', 'SYN_RECV', 'TCP connections in SYN_RECV.', '{connection}'),
  g('tcpsummary', 'tcptxqueue', 'wqueue', 'Bytes in the send queues of ESTABLISHED connections.', 'By'),
  g('tcpsummary', 'tcprxqueue', 'rqueue', 'Bytes in the receive queues of ESTABLISHED connections.', 'By'),

  // conntrack: ctnetlink, per netns (maxentries is kernel-wide)
  c('conntrack', 'found', 'found', 'Conntrack lookups that found an entry (always 0 on kernels since 5.x).', '{event}'),
  c('conntrack', 'invalid', 'invalid', 'Packets conntrack could not track but did not drop.', '{packet}'),
  c('conntrack', 'ignore', 'ignore', 'Packets conntrack skipped (already tracked or untracked protocol).', '{packet}'),
  c('conntrack', 'insert', 'insert', 'Entries inserted (always 0 on kernels since 5.x).', '{entry}'),
  c('conntrack', 'insertfailed', 'insert_failed', 'Entries that could not be inserted (e.g. NAT port clash).', '{entry}'),
  c('conntrack', 'drop', 'drop', 'Packets dropped because conntrack failed.', '{packet}'),
  c('conntrack', 'earlydrop', 'early_drop', 'Entries evicted early because the table was full.', '{entry}'),
  c('conntrack', 'error', 'error', 'ICMP(v6) errors that matched no connection.', '{packet}'),
  c('conntrack', 'searchrestart', 'search_restart', 'Lookups restarted because a hash resize happened meanwhile.', '{event}'),
  c('conntrack', 'clashresolve', 'clash_resolve', 'Insert clashes resolved by reusing the existing entry.', '{event}'),
  c('conntrack', 'chaintoolong', 'chaintoolong', 'Inserts refused because a hash chain was too long.', '{event}'),
  g('conntrack', 'entries', 'entries', 'Entries in the conntrack table of the namespace.', '{entry}'),
  g('conntrack', 'maxentries', 'max_entries', 'Maximum entries in the conntrack table (nf_conntrack_max, kernel-wide).', '{entry}', HOST),

  // qdisc: RTM_GETQDISC over rtnetlink, root qdiscs of devices matching qdisc_devices,
  // summed (KCE) or per interface (qdisc_per_interface: true adds if_name)
  c('qdisc', 'bytes', 'bytes', 'Bytes sent by the qdiscs.', 'By', IF),
  c('qdisc', 'packets', 'packets', 'Packets sent by the qdiscs.', '{packet}', IF),
  c('qdisc', 'drops', 'drops', 'Packets dropped by the qdiscs.', '{packet}', IF),
  c('qdisc', 'overlimits', 'overlimits', 'Times a qdisc was over its limit (packets delayed or dropped by shaping).', '{event}', IF),
  c('qdisc', 'requeues', 'requeues', 'Packets requeued because the driver was busy.', '{packet}', IF),
  g('qdisc', 'backlog', 'backlog', 'Bytes waiting in the qdiscs.', 'By', IF),
  g('qdisc', 'qlen', 'qlen', 'Packets waiting in the qdiscs.', '{packet}', IF),

  // arp: neighbour table over rtnetlink (per netns) and /proc/<pid>/net/stat/arp_cache
  g('arp', 'entries', 'RTM_GETNEIGH', 'IPv4 neighbour (ARP) entries in the namespace.', '{entry}'),
  g('arp', 'maxentries', 'gc_thresh3', 'Hard limit of the ARP table (net.ipv4.neigh.default.gc_thresh3, kernel-wide).', '{entry}', HOST),
  c('arp', 'unresolveddiscards', 'unresolved_discards', 'Packets dropped while waiting for address resolution (queue full; kernel-wide).', '{packet}', HOST),

  // sockbacklog: listening sockets over sock_diag, per netns
  g('sockbacklog', 'recvq', 'LISTEN rqueue', 'Connections completed and waiting for accept(), summed over listening sockets.', '{connection}'),
  g('sockbacklog', 'fulllisteners', 'LISTEN rqueue >= backlog', 'Listening sockets whose accept queue is full.', '{socket}'),

  // fd and io: /proc/<pid>/fd and /proc/<pid>/io of every process in the namespace
  g('fd', 'openfd', '/proc/<pid>/fd', 'Open file descriptors of the processes in the namespace.', '{fd}'),
  g('fd', 'opensocket', '/proc/<pid>/fd -> socket:', 'Open socket descriptors of the processes in the namespace.', '{fd}'),
  c('io', 'ioreadsyscall', 'syscr', 'Read system calls of the processes in the namespace (processes that exited drop out).', '{call}'),
  c('io', 'iowritesyscall', 'syscw', 'Write system calls of the processes in the namespace.', '{call}'),
  c('io', 'ioreadbytes', 'read_bytes', 'Bytes the processes read from storage.', 'By'),
  c('io', 'iowritebytes', 'write_bytes', 'Bytes the processes wrote to storage.', 'By', { ack: 'inspector_pod_ioiowritebyres' }),

  // slab: /proc/slabinfo, the TCP slab cache; kernel-wide
  g('slab', 'tcpslabobjactive', 'active_objs', 'Active objects in the TCP slab cache.', '{object}'),
  g('slab', 'tcpslabobjnum', 'num_objs', 'Objects in the TCP slab cache.', '{object}'),
  g('slab', 'tcpslabobjsize', 'objsize', 'Size of one TCP slab object.', 'By'),
  g('slab', 'tcpslabobjperslab', 'objperslab', 'TCP slab objects per slab.', '{object}'),
  g('slab', 'tcpslabpagesperslab', 'pagesperslab', 'Pages per TCP slab.', '{page}'),

  // podip: host-local IPAM state (/var/lib/cni/networks) against the running pods; node-wide
  g('podip', 'maxentries', 'IPAM ranges', 'Pod IPs the node can allocate (size of the host-local IPAM ranges).', '{address}'),
  g('podip', 'entries', 'IPAM allocations', 'Pod IPs allocated on the node.', '{address}'),
  g('podip', 'redisuals', 'IPAM allocations without a running sandbox', 'Allocated pod IPs whose sandbox no longer runs (leaked). KCE spelling kept.', '{address}'),
  g('podip', 'notinpodcidrs', 'pod IPs outside pod_cidrs', 'Pods on the node whose IP is outside the node pod CIDRs.', '{pod}'),

  // configcheck: findings of the configuration-check event probes (src/checks) that hold now,
  // 1 per finding; node-wide, findings inside pods name the pod in `subject`
  g('configcheck', 'abnormal', 'configuration checks', 'A configuration check finding that holds now (type: the event type, subject: what it is about).', '1', { labels: ['type', 'subject'], ack: 'inspector_node_configcheck_abnormal' }),

  // eBPF probes (native/bpf/, src/probes/{packetloss,tcpreset,tcpretrans,tcptwrcv}.ts): counted per
  // network namespace in the kernel; `eventslost` is node-wide, on the host entity only.
  c('packetloss', 'total', 'skb:kfree_skb', 'Packets the kernel freed as dropped (skb:kfree_skb), every drop reason.', '{packet}', { ack: 'inspector_pod_totalloss' }),
  c('packetloss', 'netfilter', 'skb:kfree_skb NETFILTER_DROP', 'Packets dropped by netfilter (iptables/nftables DROP, policy DROP).', '{packet}'),
  c('packetloss', 'nosocket', 'skb:kfree_skb NO_SOCKET', 'Packets dropped because no socket wanted them (closed port).', '{packet}'),
  c('packetloss', 'otherhost', 'skb:kfree_skb OTHERHOST', 'Packets dropped because their destination MAC was another host.', '{packet}'),
  c('packetloss', 'iprpfilter', 'skb:kfree_skb IP_RPFILTER', 'Packets dropped by the reverse path filter (rp_filter).', '{packet}'),
  c('packetloss', 'nomem', 'skb:kfree_skb NOMEM', 'Packets dropped because memory could not be allocated.', '{packet}'),
  c('packetloss', 'zerowindow', 'skb:kfree_skb TCP_ZEROWINDOW', 'TCP segments dropped because the receive window was zero.', '{packet}'),
  c('packetloss', 'byreason', 'skb:kfree_skb reason', 'Packets the kernel dropped, by drop reason (the running kernel\'s enum skb_drop_reason without SKB_DROP_REASON_).', '{packet}', { labels: ['reason'], ack: 'inspector_pod_packetloss' }),
  c('packetloss', 'eventslost', 'ring buffer reserve failures', 'Sampled packetloss events lost because the ring buffer was full (node-wide).', '{event}'),
  c('tcpreset', 'resets', 'tcp:tcp_send_reset, tcp:tcp_receive_reset', 'TCP resets sent and received, by event type (TCP_SEND_RST, TCP_SEND_RST_NOSock, TCP_SEND_RST_ACTIVE, TCP_RCV_RST_SYN, TCP_RCV_RST_ESTAB, TCP_RCV_RST_TW).', '{segment}', { labels: ['type'] }),
  c('tcpreset', 'eventslost', 'ring buffer reserve failures', 'Sampled tcpreset events lost because the ring buffer was full (node-wide).', '{event}'),
  c('tcpretrans', 'retrans', 'tcp:tcp_retransmit_skb', 'TCP retransmissions seen by the tracepoint (one per retransmitted skb, before TSO splitting).', '{segment}'),
  c('tcpretrans', 'synackretrans', 'tcp:tcp_retransmit_synack', 'SYN-ACKs retransmitted for connections being accepted.', '{segment}'),
  c('tcpretrans', 'eventslost', 'ring buffer reserve failures', 'Sampled tcpretrans events lost because the ring buffer was full (node-wide).', '{event}'),
  c('tcptwrcv', 'segments', 'skb:kfree_skb with a TIME_WAIT receiving socket', 'TCP segments received by connections in TIME_WAIT (including sockets closed in FIN_WAIT2, which wait in TIME_WAIT form), by leading flag: SYN is a peer reusing the port pair; FIN follows ordinary closes.', '{segment}', { labels: ['flag'] }),
  c('tcptwrcv', 'eventslost', 'ring buffer reserve failures', 'Sampled tcptwrcv events lost because the ring buffer was full (node-wide).', '{event}'),

  // Latency probes (native/bpf/{net_softirq,socketlatency,netiftxlat,kernellatency}.bpf.c): histograms kept in the kernel
  // with fixed 1-2-5 buckets from 1 µs to 1 s (src/probes/latency.ts); the `...100ms` counters
  // are the observations above 0.1 s of the same histograms.
  h('net_softirq', 'schedlatency', 'irq:softirq_raise → irq:softirq_entry', 'Time NET_RX/NET_TX softirqs waited from their first raise to the start of their run, per CPU and vector.', { labels: ['cpu', 'vector'], ack: 'inspector_node_netsoftirqshed', ...HOST }),
  h('net_softirq', 'execlatency', 'irq:softirq_entry → irq:softirq_exit', 'Time NET_RX/NET_TX softirq runs took, per CPU and vector.', { labels: ['cpu', 'vector'], ack: 'inspector_node_netsoftirq', ...HOST }),
  c('net_softirq', 'schedslow100ms', 'irq:softirq_raise → irq:softirq_entry', 'NET_RX/NET_TX softirqs that waited more than 100 ms to run, all CPUs.', '{event}', { ack: 'inspector_pod_net_softirq_schedslow100ms', ...HOST }),
  c('net_softirq', 'execslow100ms', 'irq:softirq_entry → irq:softirq_exit', 'NET_RX/NET_TX softirq runs that took more than 100 ms, all CPUs.', '{event}', { ack: 'inspector_pod_net_softirq_excuteslow100ms', ...HOST }),
  c('net_softirq', 'eventslost', 'ring buffer reserve failures', 'Sampled net_softirq events lost because the ring buffer was full (node-wide).', '{event}', HOST),
  h('socketlatency', 'readlatency', 'sock:sk_data_ready → sock:sock_recv_length', 'Time received data waited in an IPv4/IPv6 socket before the application read it (first data ready since the last read, to the next read returning data).'),
  c('socketlatency', 'read100ms', 'sock:sk_data_ready → sock:sock_recv_length', 'Socket reads whose data had waited more than 100 ms.', '{event}'),
  h('socketlatency', 'writelatency', 'tcp:tcp_sendmsg_locked → sock:sock_send_length', 'Time TCP sends took, from entering tcp_sendmsg_locked to the send returning (including waits for send-buffer space).'),
  c('socketlatency', 'write100ms', 'tcp:tcp_sendmsg_locked → sock:sock_send_length', 'TCP sends that took more than 100 ms.', '{event}'),
  c('socketlatency', 'eventslost', 'ring buffer reserve failures', 'Sampled socketlatency events lost because the ring buffer was full (node-wide).', '{event}'),
  h('netiftxlat', 'qdisclatency', 'net:net_dev_queue → net:net_dev_start_xmit', 'Time packets waited from entering the device transmit path (before the qdisc) to being handed to the driver, per namespace of the device; only transmit queues with a qdisc (noqueue devices such as veth pairs have nothing to wait in).'),
  h('netiftxlat', 'xmitlatency', 'net:net_dev_start_xmit → net:net_dev_xmit', 'Time the driver took to transmit a packet (ndo_start_xmit), per namespace of the device.'),
  c('netiftxlat', 'qdisc100ms', 'net:net_dev_queue → net:net_dev_start_xmit', 'Packets that waited more than 100 ms in the qdisc.', '{packet}'),
  c('netiftxlat', 'xmit100ms', 'net:net_dev_start_xmit → net:net_dev_xmit', 'Packets the driver took more than 100 ms to transmit.', '{packet}'),
  c('netiftxlat', 'eventslost', 'ring buffer reserve failures', 'Sampled netiftxlat events lost because the ring buffer was full (node-wide).', '{event}'),
  h('kernellatency', 'rxlatency', 'net:netif_receive_skb → tcp:tcp_probe / sock:sk_data_ready (UDP)', 'Time received packets took from the stack taking them from the device to the transport layer (an established TCP socket processing the segment, or UDP queueing the datagram): netfilter, routing and the socket backlog; per namespace of the socket.'),
  h('kernellatency', 'txlatency', 'TCP departure timestamp (skb->tstamp) → net:net_dev_queue', 'Time TCP segments took from the start of TCP\'s transmit pass (their departure timestamp) to being queued to a device: routing, netfilter, neighbour resolution, before the qdisc; pure ACKs and paced segments are not measured; per namespace of the socket.'),
  c('kernellatency', 'rxslow100ms', 'net:netif_receive_skb → tcp:tcp_probe / sock:sk_data_ready (UDP)', 'Received packets that took more than 100 ms through the stack.', '{packet}', { ack: 'kernellatency_rxslow100ms' }),
  c('kernellatency', 'txslow100ms', 'TCP departure timestamp (skb->tstamp) → net:net_dev_queue', 'TCP segments that took more than 100 ms from TCP to a device.', '{packet}', { ack: 'kernellatency_txslow100ms' }),
  c('kernellatency', 'eventslost', 'ring buffer reserve failures', 'Sampled kernellatency events lost because the ring buffer was full (node-wide).', '{event}'),
];

export function metricsOf(probe: string): MetricDef[] {
  return METRICS.filter((m) => m.probe === probe);
}

/** The Prometheus series names of a metric named `name`: a histogram's `_bucket`, `_sum` and `_count`. */
export function seriesNames(m: MetricDef, name: string): string[] {
  return m.type === 'histogram' ? ['_bucket', '_sum', '_count'].map((suffix) => name + suffix) : [name];
}

/** `netexporter_<probe>_<name>`: the default (KCE) name and the OTel instrument name. */
export function kceName(m: MetricDef): string {
  return `netexporter_${m.probe}_${m.name}`;
}

/** ACK's `inspector_pod_<probe><name>`, or the ACK table's own spelling. */
export function ackName(m: MetricDef): string {
  return m.ack ?? `inspector_pod_${m.probe}${m.name}`;
}
