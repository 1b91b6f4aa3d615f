#!/usr/bin/env node
// Writes the Grafana dashboards in deploy/dashboards/ from the compact panel lists below.
// The JSON files are what Grafana (and the chart's ConfigMaps) use; this script only saves
// typing. test/dashboards.test.ts checks every query against the metric and event catalogues
// and that the files equal this script's output. Usage: node deploy/scripts/dashboards-gen.mjs [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const root = new URL('../../', import.meta.url);
export const DASHBOARD_DIR = 'deploy/dashboards';

const PROM = { type: 'prometheus', uid: '${datasource}' };
const LOKI = { type: 'loki', uid: '${loki}' };

// Selectors: the node view filters by node, the pod view by node, namespace and pod.
const N = 'k8s_node=~"$node"';
const P = 'k8s_node=~"$node", k8s_namespace=~"$namespace", k8s_pod=~"$pod"';

let nextId = 1;
/** A time series panel; targets are [expr, legend] pairs. */
function ts(title, description, targets, opts = {}) {
  return {
    type: 'timeseries', title, description, datasource: PROM,
    gridPos: { w: opts.w ?? 12, h: 8 },
    fieldConfig: { defaults: { unit: opts.unit ?? 'short', custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10 } }, overrides: [] },
    options: { legend: { displayMode: 'table', placement: 'right', calcs: ['max', 'lastNotNull'] }, tooltip: { mode: 'multi', sort: 'desc' } },
    targets: targets.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), datasource: PROM, expr, legendFormat })),
  };
}
function stat(title, description, expr, opts = {}) {
  return {
    type: 'stat', title, description, datasource: PROM, gridPos: { w: opts.w ?? 6, h: 4 },
    fieldConfig: { defaults: { unit: opts.unit ?? 'short', thresholds: { mode: 'absolute', steps: opts.steps ?? [{ color: 'green', value: null }] } }, overrides: [] },
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area' },
    targets: [{ refId: 'A', datasource: PROM, expr, instant: false }],
  };
}
function row(title) {
  return { type: 'row', title, collapsed: false, gridPos: { w: 24, h: 1 }, panels: [] };
}

/** Lays panels out left to right, wrapping at 24 columns, and numbers them. */
function layout(panels) {
  let x = 0, y = 0, rowH = 0;
  for (const p of panels) {
    p.id = nextId++;
    const { w, h } = p.gridPos;
    if (p.type === 'row' || x + w > 24) { y += rowH; x = 0; rowH = 0; }
    p.gridPos = { x, y, w, h };
    if (p.type === 'row') { y += h; continue; }
    x += w; rowH = Math.max(rowH, h);
  }
  return panels;
}

const promVar = (name, label, query, extra = {}) => ({
  name, label, type: 'query', datasource: PROM, query: { query, refId: `${name}-var` }, definition: query,
  refresh: 2, includeAll: true, multi: true, allValue: '.*', current: { text: 'All', value: '$__all' }, sort: 1, ...extra,
});
const dsVar = (name, label, pluginId) => ({ name, label, type: 'datasource', query: pluginId, current: {}, hide: 0, refresh: 1 });

function dashboard(uid, title, description, templating, panels) {
  nextId = 1;
  return {
    uid, title, description, tags: ['kubesonar', 'network'], editable: true, schemaVersion: 39, version: 1,
    time: { from: 'now-1h', to: 'now' }, refresh: '30s', timezone: 'browser', graphTooltip: 1,
    templating: { list: templating }, annotations: { list: [] }, links: [],
    panels: layout(panels),
  };
}

const rate = (m, sel, by) => `sum by (${by}) (rate(${m}{${sel}}[$__rate_interval]))`;
/** The 99th percentile of a latency histogram over the interval, per `by`. */
const p99 = (m, sel, by) => `histogram_quantile(0.99, sum by (${by}, le) (rate(${m}_bucket{${sel}}[$__rate_interval])))`;

function nodeView() {
  const by = 'k8s_node';
  return dashboard('kubesonar-node', 'kubesonar / Node', 'Network stack of each node: drops, queues, conntrack, resets, retransmits (all network namespaces of the node summed where per-namespace).', [
    dsVar('datasource', 'Prometheus', 'prometheus'),
    promVar('node', 'Node', 'label_values(netexporter_agent_entities, k8s_node)'),
  ], [
    row('Agent'),
    stat('Network namespaces', 'Namespaces the agent observes (host + pods).', `sum(netexporter_agent_entities{${N}})`),
    stat('Probes down', 'Probes in error or unsupported; see /status on the node.', `count(netexporter_agent_probe_up{${N}} == 0) or vector(0)`,
      { steps: [{ color: 'green', value: null }, { color: 'orange', value: 1 }] }),
    stat('Cycle CPU', 'CPU time of the last collection cycle (max over nodes).', `max(netexporter_agent_collect_cpu_seconds{${N}})`, { unit: 's' }),
    stat('Probe errors/s', 'Collection errors per second.', `sum(rate(netexporter_agent_probe_errors_total{${N}}[$__rate_interval]))`),
    row('CPU backlog and softirq (latency jitter)'),
    ts('Softnet backlog drops', 'Packets dropped because a per-CPU backlog (netdev_max_backlog) was full.', [[`sum by (${by}) (rate(netexporter_softnet_dropped{${N}}[$__rate_interval]))`, '{{k8s_node}}']], { unit: 'pps' }),
    ts('Softnet time squeeze', 'NET_RX softirq ran out of budget or time with packets left: sustained values mean receive latency.', [[`sum by (${by}) (rate(netexporter_softnet_timesqueeze{${N}}[$__rate_interval]))`, '{{k8s_node}}']]),
    row('Listen queues and resets'),
    ts('Listen overflows and drops', 'Accept queues that were full (overflows) and SYNs/ACKs dropped by listeners, all namespaces.', [
      [rate('netexporter_tcpext_listenoverflows', N, by), 'overflows {{k8s_node}}'],
      [rate('netexporter_tcpext_listendrops', N, by), 'drops {{k8s_node}}']], { unit: 'pps' }),
    ts('Resets', 'RST segments sent, established connections reset, failed connection attempts.', [
      [rate('netexporter_tcp_outrsts', N, by), 'sent {{k8s_node}}'],
      [rate('netexporter_tcp_estabresets', N, by), 'estab reset {{k8s_node}}'],
      [rate('netexporter_tcp_attemptfails', N, by), 'attempt fails {{k8s_node}}']], { unit: 'pps' }),
    row('Retransmits'),
    ts('Retransmitted share of segments', 'Retransmitted segments / segments sent.', [[
      `sum by (${by}) (rate(netexporter_tcp_retransseg{${N}}[$__rate_interval])) / sum by (${by}) (rate(netexporter_tcp_outsegs{${N}}[$__rate_interval]))`, '{{k8s_node}}']], { unit: 'percentunit' }),
    ts('RTO timeouts and SYN retransmits', 'Retransmission timer expiries and SYN/SYN-ACK retransmissions.', [
      [rate('netexporter_tcpext_tcptimeouts', N, by), 'timeouts {{k8s_node}}'],
      [rate('netexporter_tcpext_tcpsynretrans', N, by), 'syn retrans {{k8s_node}}']]),
    row('Conntrack'),
    ts('Conntrack table fill', 'Entries / nf_conntrack_max, per network namespace (the table is per namespace, the max kernel-wide).', [[
      `max by (${by}) (netexporter_conntrack_entries{${N}}) / on (${by}) max by (${by}) (netexporter_conntrack_maxentries{${N}})`, '{{k8s_node}}']], { unit: 'percentunit' }),
    ts('Conntrack failures', 'Drops, insert failures (NAT port clashes), early drops (table full).', [
      [rate('netexporter_conntrack_drop', N, by), 'drop {{k8s_node}}'],
      [rate('netexporter_conntrack_insertfailed', N, by), 'insert failed {{k8s_node}}'],
      [rate('netexporter_conntrack_earlydrop', N, by), 'early drop {{k8s_node}}']]),
    row('Qdisc and devices'),
    ts('Qdisc drops and overlimits', 'Root qdiscs of the matched devices (qdisc_devices).', [
      [rate('netexporter_qdisc_drops', N, by), 'drops {{k8s_node}}'],
      [rate('netexporter_qdisc_overlimits', N, by), 'overlimits {{k8s_node}}']]),
    ts('Device drops and errors', 'Receive/transmit drops and errors of every interface of the node.', [
      [rate('netexporter_netdev_rxdropped', N, by), 'rx dropped {{k8s_node}}'],
      [rate('netexporter_netdev_txdropped', N, by), 'tx dropped {{k8s_node}}'],
      [rate('netexporter_netdev_rxerrors', N, by), 'rx errors {{k8s_node}}'],
      [rate('netexporter_netdev_txerrors', N, by), 'tx errors {{k8s_node}}']], { unit: 'pps' }),
    row('Kernel drops and resets (eBPF tracepoints)'),
    ts('Packet drops by kernel reason', 'skb:kfree_skb counted in the kernel per drop reason (NETFILTER_DROP, NO_SOCKET, TCP_LISTEN_OVERFLOW, ...), top 10.', [[
      `topk(10, sum by (reason) (rate(netexporter_packetloss_byreason{${N}}[$__rate_interval])))`, '{{reason}}']], { unit: 'pps' }),
    ts('Resets by type', 'TCP resets sent and received (tcp_send_reset / tcp_receive_reset), by event type.', [[
      `sum by (type) (rate(netexporter_tcpreset_resets{${N}}[$__rate_interval]))`, '{{type}}']], { unit: 'pps' }),
    ts('Configuration findings', 'Configuration checks that fail now (kernel parameters, routes, kube-proxy, IPVS, MTU...).', [[
      `sum by (k8s_node, type) (netexporter_configcheck_abnormal{${N}})`, '{{type}} {{k8s_node}}']]),
    ts('Sampled events lost', 'Events the eBPF probes could not hand over because their ring buffer was full (counters stay exact).', [
      [rate('netexporter_packetloss_eventslost', N, by), 'packetloss {{k8s_node}}'],
      [rate('netexporter_tcpreset_eventslost', N, by), 'tcpreset {{k8s_node}}'],
      [rate('netexporter_tcpretrans_eventslost', N, by), 'tcpretrans {{k8s_node}}'],
      [rate('netexporter_tcptwrcv_eventslost', N, by), 'tcptwrcv {{k8s_node}}'],
      [rate('netexporter_net_softirq_eventslost', N, by), 'net_softirq {{k8s_node}}'],
      [rate('netexporter_socketlatency_eventslost', N, by), 'socketlatency {{k8s_node}}'],
      [rate('netexporter_netiftxlat_eventslost', N, by), 'netiftxlat {{k8s_node}}'],
      [rate('netexporter_kernellatency_eventslost', N, by), 'kernellatency {{k8s_node}}']], { w: 24 }),
    row('Sockets, memory, neighbours, pod IPs'),
    ts('TCP sockets', 'In use (all namespaces), TIME_WAIT, orphans (kernel-wide).', [
      [`sum by (${by}) (netexporter_sock_inuse{${N}})`, 'inuse {{k8s_node}}'],
      [`sum by (${by}) (netexporter_sock_tw{${N}})`, 'time_wait {{k8s_node}}'],
      [`max by (${by}) (netexporter_sock_orphan{${N}})`, 'orphan {{k8s_node}}']]),
    ts('TCP memory pressure', 'Pages of TCP buffers (kernel-wide) and entries into memory pressure.', [
      [`max by (${by}) (netexporter_sock_mem{${N}})`, 'pages {{k8s_node}}'],
      [rate('netexporter_tcpext_tcpmemorypressures', N, by), 'pressure/s {{k8s_node}}']]),
    ts('ARP table', 'Neighbour entries against gc_thresh3, and packets dropped waiting for resolution.', [
      [`sum by (${by}) (netexporter_arp_entries{${N}})`, 'entries {{k8s_node}}'],
      [`max by (${by}) (netexporter_arp_maxentries{${N}})`, 'max {{k8s_node}}'],
      [rate('netexporter_arp_unresolveddiscards', N, by), 'unresolved drops/s {{k8s_node}}']]),
    ts('Pod IPs', 'host-local IPAM: allocated, capacity, leaked (allocated without a sandbox), outside the pod CIDRs.', [
      [`max by (${by}) (netexporter_podip_entries{${N}})`, 'allocated {{k8s_node}}'],
      [`max by (${by}) (netexporter_podip_maxentries{${N}})`, 'capacity {{k8s_node}}'],
      [`max by (${by}) (netexporter_podip_redisuals{${N}})`, 'leaked {{k8s_node}}'],
      [`max by (${by}) (netexporter_podip_notinpodcidrs{${N}})`, 'outside CIDRs {{k8s_node}}']]),
  ]);
}

function podView() {
  const by = 'k8s_namespace, k8s_pod';
  const L = '{{k8s_namespace}}/{{k8s_pod}}';
  return dashboard('kubesonar-pod', 'kubesonar / Pod', 'Per-pod network stack: the metrics of the seed case studies (listen overflows, resets, retransmits, DNS/UDP drops, conntrack, qdisc, socket queues).', [
    dsVar('datasource', 'Prometheus', 'prometheus'),
    promVar('node', 'Node', 'label_values(netexporter_agent_entities, k8s_node)'),
    promVar('namespace', 'Namespace', 'label_values(netexporter_tcp_currestab{k8s_node=~"$node"}, k8s_namespace)'),
    promVar('pod', 'Pod', 'label_values(netexporter_tcp_currestab{k8s_node=~"$node", k8s_namespace=~"$namespace"}, k8s_pod)'),
  ], [
    row('Listen queue (accept backlog)'),
    ts('Listen overflows', 'Handshakes completed while the accept queue was full: the application accepts too slowly or the backlog is too small.', [[rate('netexporter_tcpext_listenoverflows', P, by), L]], { unit: 'pps' }),
    ts('Listen drops', 'SYNs or final ACKs dropped by listening sockets (overflows included).', [[rate('netexporter_tcpext_listendrops', P, by), L]], { unit: 'pps' }),
    ts('Accept queue depth', 'Connections waiting for accept(), summed over listening sockets.', [[`sum by (${by}) (netexporter_sockbacklog_recvq{${P}})`, L]]),
    ts('Refused by listener port', 'Connection attempts each listening port refused because its accept queue was full (its LISTEN_OVERFLOW events name the listener).', [[`sum by (${by}, port) (rate(netexporter_sockbacklog_drops{${P}}[$__rate_interval]))`, `${L} :{{port}}`]], { unit: 'pps' }),
    ts('Full listeners', 'Listening sockets whose accept queue is full now.', [[`sum by (${by}) (netexporter_sockbacklog_fulllisteners{${P}})`, L]]),
    row('Resets'),
    ts('RSTs sent', 'Segments sent with RST.', [[rate('netexporter_tcp_outrsts', P, by), L]], { unit: 'pps' }),
    ts('Connections reset and failed attempts', 'Established connections reset, and connection attempts that failed.', [
      [rate('netexporter_tcp_estabresets', P, by), `estab ${L}`],
      [rate('netexporter_tcp_attemptfails', P, by), `attempt ${L}`]]),
    ts('Aborts by cause', 'Resets the stack sent: close with unread data, timeouts, memory, linger, data after close.', [
      [rate('netexporter_tcpext_tcpabortonclose', P, by), `close ${L}`],
      [rate('netexporter_tcpext_tcpabortontimeout', P, by), `timeout ${L}`],
      [rate('netexporter_tcpext_tcpabortonmemory', P, by), `memory ${L}`],
      [rate('netexporter_tcpext_tcpabortonlinger', P, by), `linger ${L}`],
      [rate('netexporter_tcpext_tcpabortondata', P, by), `data ${L}`]], { w: 24 }),
    row('Retransmits'),
    ts('Retransmitted share of segments', 'Retransmitted / sent segments.', [[
      `sum by (${by}) (rate(netexporter_tcp_retransseg{${P}}[$__rate_interval])) / sum by (${by}) (rate(netexporter_tcp_outsegs{${P}}[$__rate_interval]))`, L]], { unit: 'percentunit' }),
    ts('RTO timeouts and SYN retransmits', 'Timer expiries (RTO) and SYN/SYN-ACK retransmissions.', [
      [rate('netexporter_tcpext_tcptimeouts', P, by), `rto ${L}`],
      [rate('netexporter_tcpext_tcpsynretrans', P, by), `syn ${L}`]]),
    row('UDP (DNS timeouts)'),
    ts('UDP receive buffer errors', 'Datagrams dropped because a socket receive buffer was full (e.g. a busy CoreDNS).', [[rate('netexporter_udp_rcvbuferrors', P, by), L]], { unit: 'pps' }),
    ts('UDP to closed ports and errors', 'Datagrams to a port with no socket, and undeliverable datagrams.', [
      [rate('netexporter_udp_noports', P, by), `noports ${L}`],
      [rate('netexporter_udp_inerrors', P, by), `inerrors ${L}`]], { unit: 'pps' }),
    row('DNS (queries, answers, latency, timeouts)'),
    ts('DNS queries and timeouts by nameserver', 'Queries the pod sent and those with no answer within event_config.dns.timeout_ms, per nameserver (at most 8 per pod, the rest as other). The DNS_TIMEOUT events name the queries.', [
      [rate('netexporter_dns_queries', P, `${by}, server`), `queries ${L} → {{server}}`],
      [rate('netexporter_dns_timeouts', P, `${by}, server`), `timeouts ${L} → {{server}}`]], { unit: 'reqps' }),
    ts('DNS answers by response code', 'Answers the pod received, by rcode (NXDOMAIN is normal with search-path expansion; SERVFAIL and REFUSED are DNS_ERROR events).', [
      [rate('netexporter_dns_responses', P, `${by}, rcode`), `{{rcode}} ${L}`]], { unit: 'reqps' }),
    ts('DNS p99 latency by nameserver', 'Query leaving the pod socket to its answer arriving there, per nameserver.', [
      [p99('netexporter_dns_latency_seconds', P, `${by}, server`), `${L} → {{server}}`]], { unit: 's' }),
    ts('DNS packets that could not be read', 'Truncated headers or questions, compression pointers in a question, names over 255 bytes.', [
      [rate('netexporter_dns_malformed', P, by), L]], { unit: 'pps' }),
    row('Socket queues and backlog'),
    ts('Socket backlog and receive queue drops', 'Segments dropped: socket backlog full (owned by the user), receive queue full, zero window.', [
      [rate('netexporter_tcpext_tcpbacklogdrop', P, by), `backlog ${L}`],
      [rate('netexporter_tcpext_tcprcvqdrop', P, by), `rcvq ${L}`],
      [rate('netexporter_tcpext_tcpzerowindowdrop', P, by), `zerowindow ${L}`]]),
    ts('Bytes queued on established connections', 'Send and receive queues of ESTABLISHED sockets: growing send queues mean a slow peer or network, receive queues a slow reader.', [
      [`sum by (${by}) (netexporter_tcpsummary_tcptxqueue{${P}})`, `tx ${L}`],
      [`sum by (${by}) (netexporter_tcpsummary_tcprxqueue{${P}})`, `rx ${L}`]], { unit: 'bytes' }),
    ts('Connections by state', 'ESTABLISHED, TIME_WAIT, CLOSE_WAIT (application did not close), SYN_SENT.', [
      [`sum by (${by}) (netexporter_tcpsummary_tcpestablishedconn{${P}})`, `estab ${L}`],
      [`sum by (${by}) (netexporter_tcpsummary_tcptimewaitconn{${P}})`, `timewait ${L}`],
      [`sum by (${by}) (netexporter_tcpsummary_tcpclosewaitconn{${P}})`, `closewait ${L}`],
      [`sum by (${by}) (netexporter_tcpsummary_tcpsynsentconn{${P}})`, `synsent ${L}`]], { w: 24 }),
    row('Kernel drops and resets (eBPF tracepoints)'),
    ts('Packet drops by kernel reason', 'Packets the kernel dropped in the pod namespace, by drop reason (skb:kfree_skb).', [[
      `topk(10, sum by (${by}, reason) (rate(netexporter_packetloss_byreason{${P}}[$__rate_interval])))`, `{{reason}} ${L}`]], { unit: 'pps' }),
    ts('Resets by type', 'TCP resets sent and received, by event type (NOSock: no socket matched; ACTIVE: the local side aborted).', [[
      `sum by (${by}, type) (rate(netexporter_tcpreset_resets{${P}}[$__rate_interval]))`, `{{type}} ${L}`]], { unit: 'pps' }),
    ts('Retransmissions seen by the tracepoint', 'tcp_retransmit_skb and tcp_retransmit_synack per pod.', [
      [rate('netexporter_tcpretrans_retrans', P, by), `retrans ${L}`],
      [rate('netexporter_tcpretrans_synackretrans', P, by), `synack ${L}`]]),
    ts('Segments to TIME_WAIT connections', 'By leading flag. SYN: a client reuses a port pair before TIME_WAIT ended (connections may stall or reset); FIN: ordinary closes (the peer closing after this side did); ACK/RST: retransmissions and resets.', [[
      `sum by (${by}, flag) (rate(netexporter_tcptwrcv_segments{${P}}[$__rate_interval]))`, `{{flag}} ${L}`]], { unit: 'pps' }),
    row('Latency through the stack (eBPF tracepoints)'),
    ts('p99 latency by stage', 'Where packets and data wait, per pod: the receive path through the stack (netif_receive_skb → TCP/UDP), data waiting in the socket for the application, TCP segments from TCP to the device (ARP waits, netfilter), and the qdisc.', [
      [p99('netexporter_kernellatency_rxlatency', P, by), `stack rx ${L}`],
      [p99('netexporter_socketlatency_readlatency', P, by), `socket read ${L}`],
      [p99('netexporter_kernellatency_txlatency', P, by), `stack tx ${L}`],
      [p99('netexporter_netiftxlat_qdisclatency', P, by), `qdisc ${L}`]], { unit: 's' }),
    ts('Packets and reads over 100 ms', 'The seeds\' 100 ms counters: slow receive and transmit through the stack, slow socket reads and writes.', [
      [rate('netexporter_kernellatency_rxslow100ms', P, by), `stack rx ${L}`],
      [rate('netexporter_kernellatency_txslow100ms', P, by), `stack tx ${L}`],
      [rate('netexporter_socketlatency_read100ms', P, by), `read ${L}`],
      [rate('netexporter_socketlatency_write100ms', P, by), `write ${L}`]]),
    row('Conntrack, qdisc, devices'),
    ts('Conntrack entries and failures', 'Entries in the pod namespace table, drops and insert failures.', [
      [`sum by (${by}) (netexporter_conntrack_entries{${P}})`, `entries ${L}`],
      [rate('netexporter_conntrack_drop', P, by), `drop/s ${L}`],
      [rate('netexporter_conntrack_insertfailed', P, by), `insert failed/s ${L}`]]),
    ts('Qdisc drops and backlog', 'Root qdiscs in the pod namespace (tc shaping, full device queue).', [
      [rate('netexporter_qdisc_drops', P, by), `drops/s ${L}`],
      [rate('netexporter_qdisc_overlimits', P, by), `overlimits/s ${L}`],
      [`sum by (${by}) (netexporter_qdisc_backlog{${P}})`, `backlog bytes ${L}`]]),
    ts('Pod interface traffic', 'Bytes received and sent by the pod interfaces.', [
      [rate('netexporter_netdev_rxbytes', P, by), `rx ${L}`],
      [rate('netexporter_netdev_txbytes', P, by), `tx ${L}`]], { unit: 'Bps' }),
    ts('Pod interface drops', 'Packets dropped on receive and transmit by the pod interfaces.', [
      [rate('netexporter_netdev_rxdropped', P, by), `rx ${L}`],
      [rate('netexporter_netdev_txdropped', P, by), `tx ${L}`]], { unit: 'pps' }),
    ts('Open sockets', 'Socket file descriptors of the pod processes.', [[`sum by (${by}) (netexporter_fd_opensocket{${P}})`, L]]),
  ]);
}

function logs(title, description, expr, opts = {}) {
  return {
    type: 'logs', title, description, datasource: LOKI, gridPos: { w: opts.w ?? 24, h: opts.h ?? 12 },
    options: { showTime: true, wrapLogMessage: true, sortOrder: 'Descending', enableLogDetails: true, dedupStrategy: 'none', prettifyLogMessage: false },
    targets: [{ refId: 'A', datasource: LOKI, expr, queryType: 'range' }],
  };
}
function lokiTs(title, description, targets, opts = {}) {
  const p = ts(title, description, [], opts);
  p.datasource = LOKI;
  p.fieldConfig.defaults.custom = { drawStyle: 'bars', fillOpacity: 60, stacking: { mode: 'normal', group: 'A' } };
  p.targets = targets.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), datasource: LOKI, expr, legendFormat, queryType: 'range' }));
  return p;
}

function eventsView(eventTypes) {
  const S = 'k8s_node=~"$node", k8s_namespace=~"$namespace", type=~"$type"';
  const reset = eventTypes.filter((t) => t.startsWith('TCP_SEND_RST') || t.startsWith('TCP_RCV_RST')).join('|');
  const latency = eventTypes.filter((t) => /SLOW$/.test(t)).join('|');
  // Label-values variables of the Loki data source (query type 1: values of one label).
  // Loki refuses a selector whose matchers all accept the empty string, so "All" is `.+` for
  // the labels every stream has (k8s_node, type); k8s_namespace is absent on host events.
  const lokiVar = (name, label, streamLabel, allValue = '.+') => ({
    name, label, type: 'query', datasource: LOKI, query: { label: streamLabel, refId: `${name}-var`, stream: '', type: 1 },
    definition: `label_values(${streamLabel})`,
    refresh: 2, includeAll: true, multi: true, allValue, current: { text: 'All', value: '$__all' }, sort: 1,
  });
  return dashboard('kubesonar-events', 'kubesonar / Events', 'Events the agent pushed to Loki (stream labels k8s_node, k8s_namespace, type): counts by type and pod, and the lines.', [
    dsVar('loki', 'Loki', 'loki'),
    lokiVar('node', 'Node', 'k8s_node'),
    lokiVar('namespace', 'Namespace', 'k8s_namespace', '.*'),
    lokiVar('type', 'Event type', 'type'),
  ], [
    lokiTs('Events by type', 'Count of events per type in each interval.', [[`sum by (type) (count_over_time({${S}} | json [$__interval]))`, '{{type}}']], { w: 12 }),
    lokiTs('Events by pod', 'Count of events per pod (k8s_pod is structured metadata, or a JSON field with encoding: json).', [[
      `sum by (k8s_namespace, k8s_pod) (count_over_time({${S}} | json [$__interval]))`, '{{k8s_namespace}}/{{k8s_pod}}']], { w: 12 }),
    lokiTs('Resets (reset storms)', 'Reset events by type; NOSock means no socket matched (closed port, lost NAT/IPVS state).', [[
      `sum by (type) (count_over_time({k8s_node=~"$node", k8s_namespace=~"$namespace", type=~"${reset}"} [$__interval]))`, '{{type}}']], { w: 12 }),
    lokiTs('Packet drops by kernel reason', 'PACKETLOSS events by the kernel drop reason.', [[
      `sum by (reason) (count_over_time({k8s_node=~"$node", k8s_namespace=~"$namespace", type="PACKETLOSS"} | json [$__interval]))`, '{{reason}}']], { w: 12 }),
    lokiTs('Listen overflows by port', 'Connection attempts refused by full accept queues, per pod and listening port (LISTEN_OVERFLOW).', [[
      `sum by (k8s_namespace, k8s_pod, sport) (sum_over_time({k8s_node=~"$node", k8s_namespace=~"$namespace", type="LISTEN_OVERFLOW"} | json | unwrap drops [$__interval]))`, '{{k8s_namespace}}/{{k8s_pod}}:{{sport}}']], { w: 12 }),
    lokiTs('Latency events (jitter)', 'Slow softirq, qdisc, driver, socket and kernel path events.', [[
      `sum by (type) (count_over_time({k8s_node=~"$node", k8s_namespace=~"$namespace", type=~"${latency}"} [$__interval]))`, '{{type}}']], { w: 12 }),
    logs('Event lines', 'The events, newest first; expand a line for its fields.', `{${S}} | json`),
  ]);
}

export async function generate(eventTypes) {
  return {
    [`${DASHBOARD_DIR}/kubesonar-node.json`]: JSON.stringify(nodeView(), null, 2) + '\n',
    [`${DASHBOARD_DIR}/kubesonar-pod.json`]: JSON.stringify(podView(), null, 2) + '\n',
    [`${DASHBOARD_DIR}/kubesonar-events.json`]: JSON.stringify(eventsView(eventTypes), null, 2) + '\n',
  };
}

async function main() {
  const check = process.argv.includes('--check');
  const i = process.argv.indexOf('--dist');
  const dist = i > 0 ? process.argv[i + 1].replace(/\/*$/, '/') : 'dist/';
  const { EVENTS } = await import(new URL(`${dist}src/catalogue/index.js`, root).href);
  let stale = 0;
  for (const [path, text] of Object.entries(await generate(EVENTS.map((e) => e.type)))) {
    const file = new URL(path, root);
    let old = '';
    try { old = readFileSync(file, 'utf8'); } catch { /* new */ }
    if (old === text) continue;
    if (check) { console.error(`${path} is stale: run node deploy/scripts/dashboards-gen.mjs`); stale++; continue; }
    writeFileSync(file, text);
    console.log(`wrote ${path}`);
  }
  process.exitCode = stale ? 1 : 0;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  main().catch((err) => { console.error(err); process.exitCode = 1; });
}
