// Probe names the configuration accepts. Names are the seeds' (ACK inspector-config and KCE
// installer values); aliases map the spellings either product used onto one name.

export const METRIC_PROBES = [
  'netdev', 'tcp', 'tcpext', 'udp', 'ip', 'sock', 'softnet', 'tcpsummary', 'conntrack',
  'qdisc', 'arp', 'sockbacklog', 'fd', 'io', 'slab', 'podip',
  'configcheck',
  // eBPF probes: per-netns counters kept in the kernel (their events are the event probes of the same names)
  'packetloss', 'tcpreset', 'tcpretrans', 'tcptwrcv',
  // eBPF latency probes: histograms kept in the kernel
  'net_softirq', 'socketlatency', 'netiftxlat', 'kernellatency',
] as const;

export const EVENT_PROBES = [
  // eBPF event probes
  'packetloss', 'tcpreset', 'tcpretrans', 'net_softirq', 'netiftxlat', 'socketlatency',
  'kernellatency', 'tcptwrcv', 'virtcmdlatency',
  // configuration-check event probes (KCE)
  'kernelparam', 'k8sconfig', 'kubeproxy', 'ipvs', 'route', 'nodeconfig', 'mtu',
] as const;

export type MetricProbeName = (typeof METRIC_PROBES)[number];
export type EventProbeName = (typeof EVENT_PROBES)[number];

/** Other spellings found in the seeds and their predecessors' configs. */
export const PROBE_ALIASES: Record<string, string> = {
  softnetstat: 'softnet',
  tcp_reset: 'tcpreset',
  virtcmdlat: 'virtcmdlatency',
  netsoftirq: 'net_softirq',
  accept: 'sockbacklog',
  acceptqueue: 'sockbacklog',
};
