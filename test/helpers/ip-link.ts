// `ip -s -s -j link` next to what links() reads: both as one view, field by field.
import type { Link } from '../../src/netlink/rtnetlink.js';

export interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  operstate: string;
  stats64: { rx: Record<string, number>; tx: Record<string, number> };
}

// `ip -s -s -j link` keys → rtnl_link_stats64 fields. ip omits some keys when they are zero.
export const IP_STATS: Record<'rx' | 'tx', Record<string, keyof Link['stats']>> = {
  rx: {
    bytes: 'rx_bytes', packets: 'rx_packets', errors: 'rx_errors', dropped: 'rx_dropped', over_errors: 'rx_over_errors',
    multicast: 'multicast', compressed: 'rx_compressed', length_errors: 'rx_length_errors', crc_errors: 'rx_crc_errors',
    frame_errors: 'rx_frame_errors', fifo_errors: 'rx_fifo_errors', missed_errors: 'rx_missed_errors',
    nohandler: 'rx_nohandler', otherhost_dropped: 'rx_otherhost_dropped',
  },
  tx: {
    bytes: 'tx_bytes', packets: 'tx_packets', errors: 'tx_errors', dropped: 'tx_dropped', carrier_errors: 'tx_carrier_errors',
    collisions: 'collisions', compressed: 'tx_compressed', aborted_errors: 'tx_aborted_errors', fifo_errors: 'tx_fifo_errors',
    window_errors: 'tx_window_errors', heartbeat_errors: 'tx_heartbeat_errors',
  },
};

export function ipView(l: IpLink): Record<string, number | string> {
  const view: Record<string, number | string> = { index: l.ifindex, name: l.ifname, mtu: l.mtu, operState: l.operstate };
  for (const dir of ['rx', 'tx'] as const) {
    for (const [key, value] of Object.entries(l.stats64[dir])) if (IP_STATS[dir][key]) view[IP_STATS[dir][key]!] = value;
  }
  return view;
}

export function oursLikeIp(l: Link, ip: Record<string, number | string>): Record<string, number | string> {
  const view: Record<string, number | string> = { index: l.index, name: l.name, mtu: l.mtu, operState: l.operState };
  for (const field of Object.keys(ip)) if (field in l.stats) view[field] = l.stats[field as keyof Link['stats']];
  return view;
}
