// The catalogue of event types: one entry per type, the single source for names, the probe
// that emits them, default severity and the explanation docs and the `watch` legend show.
// Names are the seeds' (ACK event types, KCE event types) so existing LogQL keeps working.

export interface EventDef {
  type: string;
  probe: string;
  severity: 'INFO' | 'WARN' | 'ERROR';
  help: string;
}

const e = (probe: string, type: string, severity: EventDef['severity'], help: string): EventDef => ({ type, probe, severity, help });

export const EVENTS = [
  // eBPF tracepoint probes
  e('packetloss', 'PACKETLOSS', 'WARN', 'The kernel dropped a packet (skb:kfree_skb); `reason` is the kernel drop reason, `stack` where it happened.'),
  e('tcpreset', 'TCP_SEND_RST', 'WARN', 'A reset was sent on a connection for a reason other than the two below.'),
  e('tcpreset', 'TCP_SEND_RST_NOSock', 'WARN', 'A reset was sent because no local socket matched the segment (closed port, lost NAT or IPVS state).'),
  e('tcpreset', 'TCP_SEND_RST_ACTIVE', 'WARN', 'A reset was sent actively by the local side (application abort, memory, linger, user close with unread data).'),
  e('tcpreset', 'TCP_RCV_RST_SYN', 'WARN', 'A reset was received during the handshake.'),
  e('tcpreset', 'TCP_RCV_RST_ESTAB', 'WARN', 'A reset was received on an established connection.'),
  e('tcpreset', 'TCP_RCV_RST_TW', 'WARN', 'A reset was received while closing (FIN_WAIT, TIME_WAIT, CLOSE_WAIT, LAST_ACK).'),
  e('tcpretrans', 'TCP_RETRANS', 'INFO', 'A TCP segment was retransmitted (sampled).'),
  e('tcpretrans', 'TCP_RETRANS_SYNACK', 'INFO', 'A SYN-ACK was retransmitted (sampled).'),
  e('net_softirq', 'NET_SOFTIRQ_SCHED_SLOW', 'WARN', 'A NET_RX/NET_TX softirq waited longer than the threshold between raise and entry.'),
  e('net_softirq', 'NET_SOFTIRQ_EXEC_SLOW', 'WARN', 'A NET_RX/NET_TX softirq ran longer than the threshold.'),
  e('netiftxlat', 'NETIF_TXLAT_QDISC_SLOW', 'WARN', 'A packet waited in the qdisc longer than the threshold.'),
  e('netiftxlat', 'NETIF_TXLAT_XMIT_SLOW', 'WARN', 'The driver took longer than the threshold to transmit a packet.'),
  e('socketlatency', 'SOCKETLAT_READSLOW', 'WARN', 'Data waited in a socket longer than the threshold before the application read it.'),
  e('socketlatency', 'SOCKETLAT_SENDSLOW', 'WARN', 'A TCP send took longer than the threshold (tcp:tcp_sendmsg_locked → sock:sock_send_length), e.g. blocked on a full send buffer.'),
  e('kernellatency', 'KERNEL_RCV_SLOW', 'WARN', 'A packet took longer than the threshold from the device to its socket.'),
  e('kernellatency', 'KERNEL_SEND_SLOW', 'WARN', 'A packet took longer than the threshold from the socket to the device.'),
  e('tcptwrcv', 'TCP_TW_RCV', 'INFO', 'A segment arrived for a connection in TIME_WAIT; `flag` says which. SYN: a peer reusing the port pair before TIME_WAIT ended; FIN: usually the peer closing after a local close (the closed socket waits in TIME_WAIT form); ACK, RST: retransmissions and resets.'),
  e('virtcmdlatency', 'VIRTCMD_SLOW', 'WARN', 'A virtio-net control command took longer than the threshold.'),
  // Configuration checks (KCE)
  e('kernelparam', 'RPFilterKernelParam', 'WARN', 'rp_filter of an interface differs from the expected value.'),
  e('kernelparam', 'TCPSyncookiesKernelParam', 'WARN', 'net.ipv4.tcp_syncookies differs from the expected value.'),
  e('kernelparam', 'LiberalKernelParam', 'WARN', 'net.netfilter.nf_conntrack_tcp_be_liberal differs from the expected value.'),
  e('kernelparam', 'TCPSackKernelParam', 'WARN', 'net.ipv4.tcp_sack differs from the expected value.'),
  e('kernelparam', 'ProxyARPKernelParam', 'WARN', 'proxy_arp of an interface differs from the expected value.'),
  e('k8sconfig', 'NetworkPolicy', 'INFO', 'NetworkPolicies exist in the cluster.'),
  e('k8sconfig', 'LocalTrafficPolicy', 'INFO', 'Services use externalTrafficPolicy or internalTrafficPolicy Local.'),
  e('k8sconfig', 'IPMasqAgentConf', 'WARN', 'The ip-masq-agent nonMasqueradeCIDRs lacks the VPC CIDR.'),
  e('k8sconfig', 'CIDRConflict', 'ERROR', 'VPC, service, pod or docker CIDRs overlap.'),
  e('kubeproxy', 'KubeProxyAbnormal', 'ERROR', 'The kube-proxy pod of this node is not running or ready, or its health check fails.'),
  e('ipvs', 'IPVSRulesAbnormal', 'ERROR', 'A Service ClusterIP has no IPVS virtual server, or its real servers differ from the endpoints.'),
  e('route', 'VpcRoute', 'WARN', 'The VPC route of this node is missing or conflicts.'),
  e('route', 'PodRoute', 'ERROR', 'Pods on this node have no host route to their IP.'),
  e('route', 'DefaultRoute', 'ERROR', 'The node or a pod network namespace has no default route.'),
  e('route', 'PolicyRoute', 'WARN', 'An expected ip rule is missing.'),
  e('nodeconfig', 'KernelLog', 'WARN', 'The kernel log has a line matching a network problem pattern.'),
  e('nodeconfig', 'IPtablesAbnormal', 'WARN', 'The FORWARD chain policy is DROP, or a chain has more rules than the threshold.'),
  e('nodeconfig', 'IRQBalance', 'INFO', 'irqbalance is running.'),
  e('mtu', 'MTUAbnormal', 'WARN', 'An interface MTU is outside the expected range or differs from the primary interface.'),
] as const satisfies readonly EventDef[];

export type EventType = (typeof EVENTS)[number]['type'];

export function eventDef(type: string): EventDef | undefined {
  return EVENTS.find((d) => d.type === type);
}
