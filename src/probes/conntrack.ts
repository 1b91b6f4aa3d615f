// conntrack: per-namespace connection-tracking statistics over ctnetlink (what
// `conntrack -S` and `conntrack -C` show). Counters a kernel no longer sends (e.g. `ignore`)
// are noted in /status instead of being exported as zeros.
import { netnsRef, type Sample } from '../model.js';
import { conntrackStats, type ConntrackCounter } from '../netlink/conntrack.js';
import { needsNative } from './native.js';
import { counter, defineProbe, gauge, HOST } from './probe.js';

const METRICS = [
  counter('found', 'found', 'Conntrack lookups that found an entry (always 0 on kernels since 5.x).', '{event}'),
  counter('invalid', 'invalid', 'Packets conntrack could not track but did not drop.', '{packet}'),
  counter('ignore', 'ignore', 'Packets conntrack skipped (already tracked or untracked protocol).', '{packet}'),
  counter('insert', 'insert', 'Entries inserted (always 0 on kernels since 5.x).', '{entry}'),
  counter('insertfailed', 'insert_failed', 'Entries that could not be inserted (e.g. NAT port clash).', '{entry}'),
  counter('drop', 'drop', 'Packets dropped because conntrack failed.', '{packet}'),
  counter('earlydrop', 'early_drop', 'Entries evicted early because the table was full.', '{entry}'),
  counter('error', 'error', 'ICMP(v6) errors that matched no connection.', '{packet}'),
  counter('searchrestart', 'search_restart', 'Lookups restarted because a hash resize happened meanwhile.', '{event}'),
  counter('clashresolve', 'clash_resolve', 'Insert clashes resolved by reusing the existing entry.', '{event}'),
  counter('chaintoolong', 'chaintoolong', 'Inserts refused because a hash chain was too long.', '{event}'),
  gauge('entries', 'entries', 'Entries in the conntrack table of the namespace.', '{entry}'),
  gauge('maxentries', 'max_entries', 'Maximum entries in the conntrack table (nf_conntrack_max, kernel-wide).', '{entry}', HOST),
];

export default defineProbe({
  name: 'conntrack',
  metrics: METRICS,
  unsupported: needsNative,
  async collect(entity, ctx) {
    const stats = await conntrackStats(netnsRef(entity));
    const values: Record<string, number> = { ...stats.counters, entries: stats.entries, max_entries: stats.maxEntries };
    const samples: Sample[] = [];
    for (const d of METRICS) {
      const isCounter = d.type === 'counter';
      if (isCounter && !stats.present.has(d.source as ConntrackCounter)) ctx.note(`conntrack counter ${d.source} is not sent by this kernel`);
      else samples.push({ metric: d.name, value: values[d.source] ?? 0 });
    }
    return samples;
  },
});
