// packetloss: packets the kernel drops (skb:kfree_skb), counted in the kernel per network
// namespace and drop reason (native/bpf/packetloss.bpf.c). Metrics read those counters, so
// they do not depend on events being on; events are a rate-limited sample with the 5-tuple,
// the reason and the symbolized kernel stack.
import type { Sample } from '../model.js';
import { Kallsyms } from '../bpf/kallsyms.js';
import { BpfProbe, kernelEnum, recordEvent } from '../bpf/probe.js';
import { stackAddresses, tupleAttrs, tupleText, type BpfRecord } from '../bpf/records.js';
import { countersIn, lostEvents } from './counters.js';
import { counter, defineProbe, event, eventsLost, type ProbeEventOptions, type ProbeOption } from './probe.js';

const NAME = 'packetloss';
const kernel = new BpfProbe(NAME, 'drops');
const kallsyms = new Kallsyms();
/** Symbolized stacks by raw stack: drops come from a handful of sites, over and over. */
const stacks = new Map<string, string>();

const PACKETLOSS = event('PACKETLOSS', 'WARN', 'The kernel dropped a packet (skb:kfree_skb); `reason` is the kernel drop reason, `stack` where it happened.');

/**
 * What each drop reason of the kernel (enum skb_drop_reason, include/net/dropreason-core.h)
 * means for an on-call engineer. A fault is actionable: data or a connection attempt lost, or a
 * configuration, resource, policy or path problem. Bookkeeping is the protocol working as
 * designed (duplicates, probes, teardown, link-layer chatter): counted like every drop, an event
 * only when asked for. A reason this table does not know (a newer kernel's) is a fault.
 */
const F = 'fault';
const B = 'bookkeeping';
type DropClass = typeof F | typeof B;
const REASON_CLASSES: Record<string, [DropClass, string]> = {
  SKB_NOT_DROPPED_YET: [B, "Placeholder meaning 'not dropped'; never a real kfree_skb reason (the kernel warns if it is passed)."],
  SKB_CONSUMED: [B, "Normal free after successful use; on 6.18 it fires skb:consume_skb, not skb:kfree_skb, so the probe should never see it."],
  NOT_SPECIFIED: [B, "Catch-all for frees without a reason: unjoined multicast (MLD, router solicitations to ff02::2), driver TX completions, TIME_WAIT absorption; blackhole and unreachable routes land here too on kernels without BLACKHOLE, so ask for it when chasing those."],
  NO_SOCKET: [F, "No listening or established socket matched (closed port, late segments after a reset); an RST or ICMP unreachable is usually sent back."],
  SOCKET_CLOSE: [B, "Queued data discarded because the owning socket was close()d (mostly AF_UNIX release or fd-cycle GC)."],
  SOCKET_FILTER: [F, "Rejected by a BPF filter on the socket or a cgroup ingress program, i.e. a policy decision someone configured."],
  SOCKET_RCVBUFF: [F, "Receive buffer of the socket was full because the application reads too slowly."],
  UNIX_DISCONNECT: [B, "AF_UNIX datagram receive queue flushed when the socket reconnects or finds its peer gone."],
  UNIX_SKIP_OOB: [B, "AF_UNIX out-of-band byte thrown away because the reader did not ask for MSG_OOB, as the API specifies."],
  PKT_TOO_SMALL: [F, "Packet shorter than its headers claim (truncated IP/UDP/TCP/ICMP), pointing at corruption, a broken sender or MTU/tunnel trouble."],
  TCP_CSUM: [F, "TCP checksum mismatch: corruption on the path or broken checksum offload."],
  UDP_CSUM: [F, "UDP checksum mismatch: corruption on the path or broken checksum offload."],
  NETFILTER_DROP: [F, "An iptables/nftables rule or conntrack verdict dropped it (policy, REJECT for services without endpoints, INVALID state)."],
  OTHERHOST: [F, "Frame addressed to another host's MAC reached the IP layer (promiscuous NIC, unknown-unicast flooding, stale neighbour entries); noisy while tcpdump runs."],
  IP_CSUM: [F, "IPv4 header checksum mismatch: corruption or a broken NIC."],
  IP_INHDR: [F, "Bad IP header or hop limit exhausted while forwarding (routing loop, traceroute)."],
  IP_RPFILTER: [F, "Reverse-path filter rejected the source address: asymmetric routing or spoofing."],
  UNICAST_IN_L2_MULTICAST: [F, "Unicast IP inside an L2 multicast/broadcast frame, dropped only because the admin enabled drop_unicast_in_l2_multicast."],
  XFRM_POLICY: [F, "IPsec policy check failed, e.g. clear-text traffic where a policy requires encryption."],
  IP_NOPROTO: [F, "No handler for the IP protocol number (tunnel or routing protocol module missing)."],
  PROTO_MEM: [F, "Protocol-wide memory limit reached (udp_mem/tcp_mem), or an out-of-order TCP segment could not be charged."],
  TCP_AUTH_HDR: [F, "TCP-MD5/TCP-AO option duplicated or malformed."],
  TCP_MD5NOTFOUND: [F, "Segment lacks the MD5 signature the socket requires: key configuration mismatch (e.g. BGP peers)."],
  TCP_MD5UNEXPECTED: [F, "Segment carries an MD5 signature the socket has no key for: key configuration mismatch."],
  TCP_MD5FAILURE: [F, "MD5 signature does not verify: wrong key or tampering."],
  TCP_AONOTFOUND: [F, "Segment lacks the TCP-AO signature the socket requires."],
  TCP_AOUNEXPECTED: [F, "Segment carries a TCP-AO option the socket did not expect."],
  TCP_AOKEYNOTFOUND: [F, "TCP-AO key id in the segment is unknown to this socket."],
  TCP_AOFAILURE: [F, "TCP-AO MAC does not verify: wrong key or tampering."],
  SOCKET_BACKLOG: [F, "Socket backlog full while the owner held the socket lock: receiver overloaded."],
  TCP_FLAGS: [F, "Illegal flag combination or a bare ACK/RST reaching a listener (request state lost, scans)."],
  TCP_ABORT_ON_DATA: [B, "Data arrived after the local application closed the socket, so the kernel reset the connection; application lifecycle, and the RST itself is reported by the reset probe."],
  TCP_ZEROWINDOW: [F, "Our receive window is zero because the application is not reading; the peer's data is refused."],
  TCP_OLD_DATA: [B, "Data we already received and acknowledged (spurious or tail-loss-probe retransmission); answered with a D-SACK."],
  TCP_OVERWINDOW: [F, "Data starts beyond the right edge of our receive window: peer or middlebox violating the window."],
  TCP_OFOMERGE: [B, "Out-of-order segment whose bytes are already held in the out-of-order queue (duplicate)."],
  TCP_RFC7323_PAWS: [F, "Non-ACK segment failed the PAWS timestamp check: timestamp clock jumped, NAT mixing hosts, or a stale duplicate."],
  TCP_RFC7323_PAWS_ACK: [B, "Pure ACK failed PAWS, normally because ACKs were reordered (e.g. by multi-queue NICs); harmless."],
  TCP_RFC7323_TW_PAWS: [F, "Segment to a TIME_WAIT socket failed PAWS, most harmfully a new SYN reusing the 4-tuple (clients behind NAT get delayed connects)."],
  TCP_RFC7323_TSECR: [F, "Echoed timestamp (TSecr) is not one we ever sent: broken peer or middlebox, or injection."],
  TCP_LISTEN_OVERFLOW: [F, "Listener's accept queue is full: the server does not accept() fast enough or the backlog is too small."],
  TCP_OLD_SEQUENCE: [B, "Segment lies entirely before the window: duplicates, keepalive probes and Linux zero-window probes land here by design."],
  TCP_INVALID_SEQUENCE: [F, "Segment starts beyond the receive window: sequence-space desync such as a NAT 4-tuple collision, a stale peer or injection."],
  TCP_INVALID_END_SEQUENCE: [F, "Segment ends beyond the window we offered while data is still queued: peer overrunning RWIN or our window shrinking."],
  TCP_INVALID_ACK_SEQUENCE: [F, "ACK number outside snd_una..snd_nxt during the handshake: stale or colliding connection."],
  TCP_RESET: [B, "RST that failed validation (out of window) was answered with a challenge ACK, or an RST hit a listener; late resets after teardown."],
  TCP_INVALID_SYN: [F, "SYN on a synchronized connection: half-open connection after a peer crash or NAT port reuse, or a very late duplicate SYN."],
  TCP_CLOSE: [B, "Segment reached a socket already in CLOSE state during teardown."],
  TCP_FASTOPEN: [B, "Fast Open request socket rejected the segment, typically a retransmitted SYN answered by resending the SYN-ACK."],
  TCP_OLD_ACK: [B, "ACK older than what is already acknowledged (reordering); only dropped where the state machine cannot use it."],
  TCP_TOO_OLD_ACK: [F, "ACK more than a whole window behind snd_una (RFC 5961 blind-injection check): sequence desync, NAT collision or spoofing."],
  TCP_ACK_UNSENT_DATA: [F, "ACK for bytes we never sent: broken middlebox rewriting sequence numbers, 4-tuple collision or spoofing."],
  TCP_OFO_QUEUE_PRUNE: [F, "Out-of-order queue pruned under memory pressure, throwing away received data that must be resent."],
  TCP_OFO_DROP: [B, "Out-of-order segment found fully covered by in-order data when the queue drained (duplicate)."],
  IP_OUTNOROUTES: [F, "No route for an outgoing (or IPv6 forwarded) packet."],
  BPF_CGROUP_EGRESS: [F, "A cgroup BPF egress program refused the packet (policy)."],
  IPV6DISABLED: [B, "IPv6 packet on a device with disable_ipv6=1, almost always LAN multicast chatter (RA, MLD, mDNS) the node chose to ignore."],
  NEIGH_CREATEFAIL: [F, "Neighbour entry could not be created, typically the ARP/ND table is over gc_thresh3."],
  NEIGH_FAILED: [F, "Next hop did not answer ARP/ND (entry FAILED): host or pod gone, stale route."],
  NEIGH_QUEUEFULL: [F, "Too many packets waiting for address resolution (unres_qlen exceeded)."],
  NEIGH_DEAD: [B, "Neighbour entry already being torn down (interface or pod deletion race)."],
  NEIGH_HH_FILLFAIL: [F, "Building the cached link-layer header for the neighbour failed."],
  TC_EGRESS: [F, "A tc egress filter or action dropped it (eBPF dataplane policy, police, gact)."],
  SECURITY_HOOK: [F, "An LSM (SELinux, AppArmor, Smack) denied delivery to the socket."],
  QDISC_DROP: [F, "Egress queue discipline refused the packet (queue full)."],
  QDISC_OVERLIMIT: [F, "Qdisc hit its total buffer limit (e.g. a bandwidth-limited pod)."],
  QDISC_CONGESTED: [F, "AQM (codel, pie, red) dropped it to fight congestion: the egress link is saturated."],
  CAKE_FLOOD: [F, "CAKE's flood protection dropped packets of an unresponsive flow."],
  FQ_BAND_LIMIT: [F, "fq qdisc priority band is full."],
  FQ_HORIZON_LIMIT: [F, "fq qdisc got a departure time too far in the future (EDT pacing, e.g. a bandwidth manager)."],
  FQ_FLOW_LIMIT: [F, "fq qdisc per-flow packet limit exceeded."],
  CPU_BACKLOG: [F, "Per-CPU input backlog full (netdev_max_backlog) or RPS flow limit hit: the CPU cannot keep up."],
  XDP: [F, "A generic-mode XDP program dropped or aborted the packet."],
  TC_INGRESS: [F, "A tc ingress filter or action dropped it (eBPF dataplane policy, police)."],
  UNHANDLED_PROTO: [B, "No handler for the frame's protocol (LLDP, STP, LLC, bad IP version): link-layer chatter the host does not speak."],
  SKB_CSUM: [F, "Checksum computation on the skb failed."],
  SKB_GSO_SEG: [F, "Software GSO segmentation failed."],
  SKB_UCOPY_FAULT: [F, "Copying payload from user memory failed, or zerocopy fragments could not be copied (memory trouble or a buggy sender)."],
  DEV_HDR: [F, "Driver metadata such as a tun/tap virtio header is invalid."],
  DEV_READY: [F, "Device not up or its queue not attached (e.g. tun with no userspace reader)."],
  FULL_RING: [F, "A device or tun/tap ring is full: the consumer is too slow."],
  NOMEM: [F, "Memory allocation failed."],
  HDR_TRUNC: [F, "Could not pull the needed header from the packet (truncated or malformed)."],
  TAP_FILTER: [F, "Dropped by an eBPF filter its owner attached to the tun/tap device (policy)."],
  TAP_TXFILTER: [B, "tun/tap MAC address filter: frame not for the VM's address or multicast list."],
  ICMP_CSUM: [F, "ICMP checksum mismatch."],
  INVALID_PROTO: [B, "ICMP that RFCs say to ignore, e.g. echo or timestamp requests sent to broadcast."],
  IP_INADDRERRORS: [F, "Destination is not one of our addresses and this host or netns does not forward (misdelivered traffic); also other-subnet broadcasts on flat L2."],
  IP_INNOROUTES: [F, "No route for a packet this host should forward (network unreachable)."],
  IP_LOCAL_SOURCE: [F, "Received packet claims one of our own addresses as source: L2 loop, duplicate IP or spoofing."],
  IP_INVALID_SOURCE: [F, "Martian source address (multicast, broadcast, or zero outside IGMP)."],
  IP_LOCALNET: [F, "127/8 source or destination on a non-loopback device without route_localnet."],
  IP_INVALID_DEST: [F, "Destination address is 0.0.0.0."],
  PKT_TOO_BIG: [F, "Packet exceeds the path MTU and cannot be fragmented: MTU mismatch (overlays), breaks connections if the ICMP is filtered."],
  DUP_FRAG: [B, "Exact duplicate of a fragment already in the reassembly queue; the datagram still completes."],
  FRAG_REASM_TIMEOUT: [F, "Reassembly timed out because a fragment never arrived, so the whole datagram is lost."],
  FRAG_TOO_FAR: [F, "Fragment arrived too many datagrams after its siblings (ipfrag_max_dist): heavy loss or reordering."],
  TCP_MINTTL: [F, "TTL/hop limit below the socket's IP_MINTTL (GTSM): spoofed or misrouted peer traffic."],
  IPV6_BAD_EXTHDR: [F, "Malformed or disallowed IPv6 extension header."],
  IPV6_NDISC_FRAG: [B, "Fragmented neighbour-discovery message ignored per RFC 6980 (suppress_frag_ndisc)."],
  IPV6_NDISC_HOP_LIMIT: [B, "Neighbour-discovery message without hop limit 255 (must come from on-link) ignored."],
  IPV6_NDISC_BAD_CODE: [B, "Neighbour-discovery message with nonzero ICMPv6 code ignored."],
  IPV6_NDISC_BAD_OPTIONS: [B, "Neighbour-discovery message with unparseable options ignored."],
  IPV6_NDISC_NS_OTHERHOST: [B, "Neighbour solicitation for an address we do not own (shared solicited-node group, flooding)."],
  QUEUE_PURGE: [B, "Bulk free of a queue (socket receive/error queue on destroy, device or qdisc teardown)."],
  TC_COOKIE_ERROR: [F, "tc could not process an action's extended cookie."],
  PACKET_SOCK_ERROR: [B, "A packet socket (tcpdump, DHCP client, LLDP daemon) could not queue its copy, usually a full buffer; the original packet is unaffected."],
  TC_CHAIN_NOTFOUND: [F, "A tc goto_chain refers to a chain that does not exist (misconfiguration)."],
  TC_RECLASSIFY_LOOP: [F, "tc reclassified the packet too many times (rule loop)."],
  VXLAN_INVALID_HDR: [F, "VXLAN header has wrong flags or nonzero reserved fields: peer speaking a different encapsulation."],
  VXLAN_VNI_NOT_FOUND: [F, "No local VXLAN device for the VNI received: overlay VNI mismatch."],
  MAC_INVALID_SOURCE: [F, "Source MAC is multicast or all-zero."],
  VXLAN_ENTRY_EXISTS: [F, "A MAC appeared behind a different VTEP than its static FDB entry says: stale overlay FDB."],
  NO_TX_TARGET: [F, "Tunnel or virtual device has no destination to send to (missing FDB/remote)."],
  IP_TUNNEL_ECN: [F, "Decapsulated packet marked CE outside but not ECN-capable inside, dropped per RFC 6040 (congestion or ECN mangling)."],
  TUNNEL_TXINFO: [F, "Packet without tunnel metadata routed into an external-mode (collect_md) tunnel device."],
  LOCAL_MAC: [F, "Frame's source MAC equals our device's own MAC: L2 loop or duplicate MAC."],
  ARP_PVLAN_DISABLE: [B, "Non-IP (ARP) lookup would hairpin out the interface it came in and proxy_arp_pvlan is off: ARP for a host on the same link."],
  MAC_IEEE_MAC_CONTROL: [B, "Bridge never forwards IEEE MAC-control frames such as Ethernet PAUSE."],
  BRIDGE_INGRESS_STP_STATE: [B, "Bridge port not forwarding because of its STP state (blocking, learning, disabled during setup or teardown)."],
  CAN_RX_INVALID_FRAME: [F, "Malformed classic CAN frame, or a device that cannot receive CAN."],
  CANFD_RX_INVALID_FRAME: [F, "Malformed CAN FD frame, or a device that cannot receive CAN FD."],
  CANXL_RX_INVALID_FRAME: [F, "Malformed CAN XL frame, or a device that cannot receive CAN XL."],
  PFMEMALLOC: [F, "Packet allocated from emergency memory reserves reached a socket not allowed to use them: severe memory pressure."],
  DUALPI2_STEP_DROP: [F, "DualPI2 (L4S) qdisc step threshold dropped it: egress congestion."],
  PSP_INPUT: [F, "PSP encryption receive policy check failed."],
  PSP_OUTPUT: [F, "PSP encryption transmit check failed."],
  RECURSION_LIMIT: [F, "Transmit recursion limit hit on a virtual device (tunnel routed over itself)."],
  SKB_RX_HEADROOM: [F, "Received skb lacked the headroom a later stage needs and could not be expanded (name-based; no source text found)."],
};

/** Reasons of other subsystems (a subsystem number in the high 16 bits) share this slot; faults by default. */
const SUBSYSTEM_SLOT = 255;
const REASON_SLOTS = 256;

const DROP_EVENTS: ProbeOption = {
  section: 'event_config',
  key: NAME,
  schema: {
    type: 'object', additionalProperties: false, default: { reasons: [], exclude_reasons: [] },
    description: 'Which drop reasons are events (every drop is counted): faults by default; reasons adds reason names or a class (fault, bookkeeping, all), exclude_reasons removes names',
    properties: {
      reasons: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_]+$' }, default: [], description: 'Reasons (e.g. QUEUE_PURGE) or classes (fault, bookkeeping, all) whose drops are events; empty: the faults' },
      exclude_reasons: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_]+$' }, default: [], description: 'Reasons whose drops are never events' },
    },
  },
};

interface DropEventConfig { reasons?: string[]; exclude_reasons?: string[] }

/** The class of a reason name of the running kernel. */
export function reasonClass(name: string): DropClass {
  return REASON_CLASSES[name]?.[0] ?? F;
}

/** Whether drops of `name` are events under `config` (names are case-insensitive). */
export function isEventReason(name: string, config: DropEventConfig): boolean {
  const asked = (config.reasons ?? []).map((r) => r.toUpperCase());
  if ((config.exclude_reasons ?? []).some((r) => r.toUpperCase() === name)) return false;
  const cls = reasonClass(name).toUpperCase();
  if (asked.length === 0) return cls === 'FAULT';
  return asked.includes('ALL') || asked.includes(cls) || asked.includes(name);
}

/** Writes which reasons are events into the object's event_reasons map (one byte per reason). */
function writeEventReasons(options: ProbeEventOptions): string | undefined {
  const config = (options.values[NAME] ?? {}) as DropEventConfig;
  const names = reasons();
  for (let slot = 0; slot < REASON_SLOTS; slot++) {
    const name = slot === SUBSYSTEM_SLOT ? 'SUBSYSTEM' : names.get(slot);
    // Slots this kernel has no reason for stay off; the subsystem slot follows the faults.
    const on = name !== undefined && isEventReason(name, config);
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot);
    const why = kernel.updateMap('event_reasons', key, Buffer.from([on ? 1 : 0]));
    if (why) return why;
  }
  return undefined;
}

/** The KCE metrics with a reason of their own, by the kernel's reason name. */
const NAMED: Record<string, string> = {
  netfilter: 'NETFILTER_DROP',
  nosocket: 'NO_SOCKET',
  otherhost: 'OTHERHOST',
  iprpfilter: 'IP_RPFILTER',
  nomem: 'NOMEM',
  zerowindow: 'TCP_ZEROWINDOW',
};

function reasons(): Map<number, string> {
  return kernelEnum('skb_drop_reason', 'SKB_DROP_REASON_');
}

/** name → code of the kernel's reasons, built once (the enum map is read once per process). */
const byName = new WeakMap<Map<number, string>, Map<string, number>>();
function codesByName(names: Map<number, string>): Map<string, number> {
  let codes = byName.get(names);
  if (!codes) byName.set(names, (codes = new Map([...names].map(([code, name]) => [name, code]))));
  return codes;
}

/** A reason code as this kernel names it (subsystem reasons keep their number). */
export function reasonName(code: number): string {
  return reasons().get(code) ?? `REASON_${code}`;
}

// Frames of the tracing machinery itself, above the function that dropped the packet.
const GLUE = /^(bpf_prog_|bpf_trace_run|__bpf_trace_|__traceiter_)/;

function fromRecord(r: BpfRecord) {
  const reason = reasonName(r.reason);
  let stack = stacks.get(r.stackKey);
  if (stack === undefined) {
    stack = stackAddresses(r.stackKey).map((a) => kallsyms.symbolize(a)).filter((s) => !GLUE.test(s)).join(' ');
    if (stacks.size >= 4096) stacks.clear();
    stacks.set(r.stackKey, stack);
  }
  const tuple = tupleText(r);
  return recordEvent(NAME, PACKETLOSS, r, `packet dropped: ${reason}${tuple ? ` ${tuple}` : ''}`, { reason, ...tupleAttrs(r), stack });
}

export default defineProbe({
  name: NAME,
  kernel,
  metrics: [
    counter('total', 'skb:kfree_skb', 'Packets the kernel freed as dropped (skb:kfree_skb), every drop reason.', '{packet}', { ack: 'inspector_pod_totalloss' }),
    counter('netfilter', 'skb:kfree_skb NETFILTER_DROP', 'Packets dropped by netfilter (iptables/nftables DROP, policy DROP).', '{packet}'),
    counter('nosocket', 'skb:kfree_skb NO_SOCKET', 'Packets dropped because no socket wanted them (closed port).', '{packet}'),
    counter('otherhost', 'skb:kfree_skb OTHERHOST', 'Packets dropped because their destination MAC was another host.', '{packet}'),
    counter('iprpfilter', 'skb:kfree_skb IP_RPFILTER', 'Packets dropped by the reverse path filter (rp_filter).', '{packet}'),
    counter('nomem', 'skb:kfree_skb NOMEM', 'Packets dropped because memory could not be allocated.', '{packet}'),
    counter('zerowindow', 'skb:kfree_skb TCP_ZEROWINDOW', 'TCP segments dropped because the receive window was zero.', '{packet}'),
    counter('byreason', 'skb:kfree_skb reason', 'Packets the kernel dropped, by drop reason (the running kernel\'s enum skb_drop_reason without SKB_DROP_REASON_).', '{packet}', { labels: ['reason'], ack: 'inspector_pod_packetloss' }),
    eventsLost(NAME),
  ],
  unsupported: async () => kernel.unsupported(),
  async collect(entity, ctx) {
    const mine = await countersIn(kernel, entity, ctx);
    const codes = codesByName(reasons());
    let total = 0;
    const samples: Sample[] = [];
    for (const [code, count] of mine ?? []) {
      total += count;
      samples.push({ metric: 'byreason', value: count, labels: { reason: reasonName(code) } });
    }
    samples.push({ metric: 'total', value: total });
    for (const [metric, reason] of Object.entries(NAMED)) {
      const code = codes.get(reason);
      if (code === undefined) ctx.note(`drop reason ${reason} does not exist on this kernel: ${metric} not exported`);
      else samples.push({ metric, value: mine?.get(code) ?? 0 });
    }
    return [...samples, ...lostEvents(kernel, entity)];
  },
  events: [PACKETLOSS],
  fromRecord,
  configure: writeEventReasons,
  options: [DROP_EVENTS],
  docs: {
    title: 'Drop reasons: which are events',
    text: [
      'Every drop is counted by reason (`netexporter_packetloss_byreason`); by default only the faults are also `PACKETLOSS` events, and never drops of non-IP packets (vsock, ARP, ...) or of the agent\'s own sockets. `event_config.packetloss.reasons` adds reasons or a class (`fault`, `bookkeeping`, `all`), `exclude_reasons` removes reasons. A reason this table does not name (a newer kernel\'s) is a fault, as are other subsystems\' reasons (openvswitch, ...).',
      '',
      '| reason | class | why |',
      '|---|---|---|',
      ...Object.entries(REASON_CLASSES).map(([r, [c, why]]) => `| \`${r}\` | ${c} | ${why} |`),
    ].join('\n'),
  },
});
