// netdev: per-interface counters from IFLA_STATS64 over rtnetlink in the entity's namespace
// (sysfs would show the agent's own namespace; /proc/net/dev lacks CRC errors).
import type { Sample } from '../model.js';
import type { LinkStats } from '../netlink/rtnetlink.js';
import { needsNative } from './native.js';
import { counter, defineProbe, IF } from './probe.js';
import { linksOf } from './shared.js';

const METRICS = [
  counter('rxbytes', 'rx_bytes', 'Bytes received by the interface.', 'By', IF),
  counter('rxpackets', 'rx_packets', 'Packets received by the interface.', '{packet}', IF),
  counter('rxerrors', 'rx_errors', 'Receive errors on the interface.', '{packet}', IF),
  counter('rxdropped', 'rx_dropped', 'Received packets dropped before reaching the stack (no buffer, filtered, unknown protocol).', '{packet}', IF),
  counter('rxfifos', 'rx_fifo_errors', 'Receive ring buffer (FIFO) overruns.', '{packet}', IF),
  counter('rxcrcerrors', 'rx_crc_errors', 'Received frames with a bad CRC.', '{packet}', IF),
  counter('txbytes', 'tx_bytes', 'Bytes sent by the interface.', 'By', IF),
  counter('txpackets', 'tx_packets', 'Packets sent by the interface.', '{packet}', IF),
  counter('txerrors', 'tx_errors', 'Transmit errors on the interface.', '{packet}', IF),
  counter('txdropped', 'tx_dropped', 'Packets dropped on transmit (no buffer, queue full).', '{packet}', IF),
  counter('txfifos', 'tx_fifo_errors', 'Transmit ring buffer (FIFO) errors.', '{packet}', IF),
];

export default defineProbe({
  name: 'netdev',
  metrics: METRICS,
  unsupported: needsNative,
  async collect(entity, ctx) {
    const samples: Sample[] = [];
    for (const link of await linksOf(entity, ctx)) {
      const labels = { if_name: link.name }; // one object for the link's series (the exporters copy labels, never change them)
      for (const d of METRICS) samples.push({ metric: d.name, value: link.stats[d.source as keyof LinkStats], labels });
    }
    return samples;
  },
});
