// arp: IPv4 neighbour entries of the namespace (rtnetlink), the table's hard limit
// (gc_thresh3) and discards while resolving (arp_cache stats). The limit and the statistics
// are kernel-wide: the catalogue scopes them to the host, so they are read there only.
import { netnsRef, procNet, type Sample } from '../model.js';
import { neighbours } from '../netlink/rtnetlink.js';
import { readText } from '../procfs/read.js';
import { needsNative } from './native.js';
import { counter, defineProbe, gauge, HOST } from './probe.js';

/** Sums a column of /proc/net/stat/arp_cache (a header line, then one line of hex values per CPU). */
export function sumStatColumn(text: string, column: string): number {
  const [header, ...rows] = text.trim().split('\n');
  const i = header!.trim().split(/\s+/).indexOf(column);
  if (i < 0) throw new Error(`no ${column} column in arp_cache statistics`);
  return rows.reduce((n, row) => n + parseInt(row.trim().split(/\s+/)[i]!, 16), 0);
}

export default defineProbe({
  name: 'arp',
  metrics: [
    gauge('entries', 'RTM_GETNEIGH', 'IPv4 neighbour (ARP) entries in the namespace.', '{entry}'),
    gauge('maxentries', 'gc_thresh3', 'Hard limit of the ARP table (net.ipv4.neigh.default.gc_thresh3, kernel-wide).', '{entry}', HOST),
    counter('unresolveddiscards', 'unresolved_discards', 'Packets dropped while waiting for address resolution (queue full; kernel-wide).', '{packet}', HOST),
  ],
  unsupported: needsNative,
  async collect(entity) {
    const samples: Sample[] = [{ metric: 'entries', value: (await neighbours(netnsRef(entity), 4)).length }];
    if (entity.isHost) { // kernel-wide values: read once
      samples.push({ metric: 'maxentries', value: Number(await readText('/proc/sys/net/ipv4/neigh/default/gc_thresh3')) });
      samples.push({ metric: 'unresolveddiscards', value: sumStatColumn(await readText(procNet(entity, 'stat/arp_cache')), 'unresolved_discards') });
    }
    return samples;
  },
});
