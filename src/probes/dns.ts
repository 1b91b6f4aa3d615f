// dns: DNS queries each pod (and the host) sends, the answers it gets, their latency and the
// queries never answered, from two cgroup_skb programs at the sockets (native/bpf/dns.bpf.c).
// Queries and answers are matched in the kernel, where a timer per query turns it into a timeout;
// metrics read the kernel's counters, events are a rate-limited sample naming the query.
import type { Entity, ProbeContext, Sample } from '../model.js';
import { BpfProbe, recordEvent } from '../bpf/probe.js';
import { memberOffsets } from '../bpf/btf.js';
import { protocolName, type BpfRecord } from '../bpf/records.js';
import { countersIn, lostEvents } from './counters.js';
import { emptyHistogram, histogram, histogramOf } from './latency.js';
import { counter, defineProbe, event, eventsLost, type ProbeEventOptions, type ProbeOption } from './probe.js';

const NAME = 'dns';
const kernel = new BpfProbe(NAME, 'counts');
const KIND = ['dns_kind', 'DNS_'] as const;
const PROGRAMS = ['dns_egress', 'dns_ingress'];

const TIMEOUT = event('DNS_TIMEOUT', 'WARN', 'A DNS query got no answer within `event_config.dns.timeout_ms`: the pod, the nameserver, the query name, type and id, and how long it waited.');
const ERROR = event('DNS_ERROR', 'WARN', 'A DNS answer carried an error code of `event_config.dns.error_rcodes` (SERVFAIL and REFUSED by default): the pod, the nameserver, the name, type, id, rcode and the time to the answer.');

/** RFC 1035/6895 response codes (the 4 bits of the header). */
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE', 'DSOTYPENI'];
export const rcodeName = (code: number): string => RCODES[code] ?? `RCODE${code}`;

/** Query types with a label of their own (the kernel counts the others as type 0, `other`). */
const QTYPES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR',
  43: 'DS', 46: 'RRSIG', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY', 257: 'CAA',
};
export const qtypeName = (t: number): string => QTYPES[t] ?? (t === 0 ? 'other' : `TYPE${t}`);

/** Server slots per namespace the kernel names (MAX_SERVERS in dns.bpf.c); the next is `other`. */
const MAX_SERVERS = 8;

interface DnsOptions { timeout_ms?: number; error_rcodes?: string[]; ports?: number[] }

const DNS_OPTIONS: ProbeOption = {
  section: 'event_config',
  key: NAME,
  schema: {
    type: 'object', additionalProperties: false, default: { timeout_ms: 2000, error_rcodes: ['SERVFAIL', 'REFUSED'], ports: [53] },
    description: 'DNS probe: how long a query may wait for its answer before it is a timeout, which answer codes are DNS_ERROR events, and which ports are DNS (UDP and TCP); written into the kernel whether the probe\'s events or only its metrics are on',
    properties: {
      timeout_ms: { type: 'integer', minimum: 10, maximum: 60000, default: 2000, description: 'A query unanswered after this many milliseconds is a timeout (counted, and a DNS_TIMEOUT event)' },
      error_rcodes: {
        type: 'array', items: { type: 'string', enum: RCODES }, default: ['SERVFAIL', 'REFUSED'],
        description: 'Answer codes that are DNS_ERROR events (NXDOMAIN is normal with search-path expansion; add it deliberately)',
      },
      ports: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, minItems: 1, maxItems: 8, default: [53], description: 'Server ports whose traffic is DNS' },
    },
  },
};

/** Writes event_config.dns into the object's dns_settings map (its indices are enum dns_setting). */
function writeSettings(values: Readonly<Record<string, unknown>>): string | undefined {
  const o = { ...(DNS_OPTIONS.schema.default as DnsOptions), ...(values[NAME] as DnsOptions | undefined) };
  const at = kernel.kernelKinds('dns_setting', 'DNS_SETTING_');
  const size = at.get('COUNT');
  if (size === undefined) return kernel.unsupported() ?? `${NAME}: the object has no enum dns_setting`;
  const value = Buffer.alloc(size * 8);
  value.writeBigUInt64LE(BigInt(Math.round(o.timeout_ms! * 1e6)), at.get('TIMEOUT_NS')! * 8);
  let mask = 0;
  for (const name of o.error_rcodes ?? []) mask |= 1 << RCODES.indexOf(name);
  // 0 would mean the default: an empty list is a bit no answer code has.
  value.writeBigUInt64LE(BigInt(mask === 0 ? 1 << 16 : mask), at.get('ERROR_RCODES')! * 8);
  const first = at.get('PORT0')!;
  (o.ports ?? [53]).slice(0, size - first).forEach((port, i) => value.writeBigUInt64LE(BigInt(port), (first + i) * 8));
  return kernel.updateMap('dns_settings', Buffer.alloc(4), value);
}

/** Wire-format name (length-prefixed labels) → dotted text; bytes outside printable ASCII as \ddd. */
export function wireName(raw: Buffer, cut: boolean): string {
  const labels: string[] = [];
  for (let at = 0; at < raw.length; ) {
    const len = raw[at]!;
    if (len === 0) break;
    const label = raw.subarray(at + 1, Math.min(raw.length, at + 1 + len));
    labels.push([...label].map((b) => (b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`)).join(''));
    at += 1 + len;
  }
  return labels.length === 0 ? '.' : `${labels.join('.')}${cut ? '…' : ''}`;
}

let payloadLayout: Record<'id' | 'qtype' | 'ancount' | 'name_len' | 'name', number> | undefined;

/**
 * What a DNS event carries in place of a stack: struct dns_payload of dns.bpf.c, where its members
 * are read from the object's BTF (once per loaded object).
 */
export function payloadOf(r: BpfRecord): { id: number; qtype: number; answers: number; name: string } {
  if (!payloadLayout) {
    const s = kernel.btfStruct('dns_payload');
    if (!s) throw new Error(`${NAME}: no object loaded to read struct dns_payload from`);
    payloadLayout = memberOffsets('dns_payload', s, { id: 2, qtype: 2, ancount: 2, name_len: 1, name: undefined }, 'src/probes/dns.ts');
  }
  const o = payloadLayout;
  const raw = Buffer.from(r.stackKey, 'latin1');
  if (raw.length <= o.name) throw new Error(`${NAME}: record without its query (${raw.length} bytes)`);
  const nameLen = Math.min(raw[o.name_len]!, raw.length - o.name);
  const name = raw.subarray(o.name, o.name + nameLen);
  // A name cut by the event's room has no root label at its end.
  return { id: raw.readUInt16LE(o.id), qtype: raw.readUInt16LE(o.qtype), answers: raw.readUInt16LE(o.ancount), name: wireName(name, name[nameLen - 1] !== 0) };
}

function fromRecord(r: BpfRecord) {
  const kind = kernel.kindName(...KIND, r.kind);
  if (kind !== 'EVENT_TIMEOUT' && kind !== 'EVENT_ERROR') throw new Error(`${NAME}: unknown kind ${r.kind}`);
  const q = payloadOf(r);
  const elapsedMs = r.reason / 1000;
  const attrs: Record<string, string | number> = {
    family: r.family === 10 ? 'ipv6' : 'ipv4', protocol: protocolName(r.protocol),
    client: r.saddr, client_port: r.sport, server: r.daddr, server_port: r.dport,
    name: q.name, qtype: qtypeName(q.qtype), id: q.id, elapsed_ms: elapsedMs,
  };
  const server = r.family === 10 ? `[${r.daddr}]:${r.dport}` : `${r.daddr}:${r.dport}`;
  const asked = `${attrs.qtype} ${q.name} (id ${q.id}, ${attrs.protocol}) to ${server}`;
  if (kind === 'EVENT_TIMEOUT') return recordEvent(NAME, TIMEOUT, r, `no answer to ${asked} after ${elapsedMs.toFixed(0)} ms`, attrs);
  attrs.rcode = rcodeName(r.state);
  attrs.answers = q.answers;
  return recordEvent(NAME, ERROR, r, `${attrs.rcode} for ${asked} after ${elapsedMs.toFixed(1)} ms`, attrs);
}

/**
 * netns → server slot → address, from the kernel's `servers` map; entries of namespaces that
 * are gone are deleted there (the kernel gives each namespace its slots once).
 */
function serverNames(live: ReadonlySet<number>): Map<number, Map<number, string>> {
  const out = new Map<number, Map<number, string>>();
  for (const { key, value } of kernel.mapEntries('servers')) {
    const netns = key.readUInt32LE(0);
    if (live.size > 0 && !live.has(netns)) {
      kernel.deleteFromMap('servers', key);
      continue;
    }
    const addr = key.subarray(4, 20);
    // The kernel writes IPv4 addresses in the first 4 bytes and leaves the rest 0.
    const v4 = addr.subarray(4).every((b) => b === 0);
    const text = v4 ? [...addr.subarray(0, 4)].join('.') : ipv6Text(addr);
    let m = out.get(netns);
    if (!m) out.set(netns, (m = new Map()));
    m.set(value.readUInt32LE(0), text);
  }
  for (const { key } of kernel.mapEntries('server_slots')) {
    if (live.size > 0 && !live.has(key.readUInt32LE(0))) kernel.deleteFromMap('server_slots', key);
  }
  return out;
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The longest run of zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
  }
  return best < 0 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

async function collect(entity: Entity, ctx: ProbeContext): Promise<Sample[]> {
  for (const f of kernel.failures()) ctx.note(`not attached, DNS is not measured in that direction: ${f}`);
  const counts = await countersIn(kernel, entity, ctx);
  const servers = (await ctx.shared(`${NAME}:servers`, async () => serverNames(new Set(ctx.entities.map((e) => e.netns))))).get(entity.netns);
  const kinds = kernel.kernelKinds(...KIND);
  const serverOf = (slot: number) => (slot >= MAX_SERVERS ? 'other' : servers?.get(slot) ?? 'other');
  const samples: Sample[] = [];
  const latency = new Map<number, number>(); // server slot → histogram base
  let malformed = 0;
  for (const [key, value] of counts ?? []) {
    const type = key >>> 28;
    const slot = (key >>> 24) & 0xf;
    const code = (key >>> 8) & 0xffff;
    const hslot = key & 0xff;
    if (type === kinds.get('LATENCY')) {
      latency.set(slot, key & ~0xff);
      continue;
    }
    if (hslot !== 0) continue; // plain counters use their first slot only
    if (type === kinds.get('QUERIES')) samples.push({ metric: 'queries', value, labels: { qtype: qtypeName(code), server: serverOf(slot) } });
    else if (type === kinds.get('RESPONSES')) samples.push({ metric: 'responses', value, labels: { rcode: rcodeName(code) } });
    else if (type === kinds.get('TIMEOUTS')) samples.push({ metric: 'timeouts', value, labels: { server: serverOf(slot) } });
    else if (type === kinds.get('MALFORMED')) malformed += value;
  }
  // Slots above 8 do not exist; two slots may still name one server when a namespace's nameserver
  // set changed: their series add up under that label.
  for (const [slot, base] of latency) samples.push({ metric: 'latency_seconds', value: histogramOf(counts, base) ?? emptyHistogram(), labels: { server: serverOf(slot) } });
  if (kernel.isAttached('dns_egress')) samples.push({ metric: 'malformed', value: malformed });
  return [...mergeSameLabels(samples), ...lostEvents(kernel, entity)];
}

/** Samples of one metric with equal labels (a server that held two slots) as one. */
function mergeSameLabels(samples: Sample[]): Sample[] {
  const out = new Map<string, Sample>();
  for (const s of samples) {
    const id = `${s.metric}\0${JSON.stringify(s.labels ?? {})}`;
    const prev = out.get(id);
    if (!prev) out.set(id, s);
    else if (typeof prev.value === 'number' && typeof s.value === 'number') prev.value += s.value;
    else if (typeof prev.value !== 'number' && typeof s.value !== 'number') {
      const [a, b] = [prev.value, s.value];
      out.set(id, { ...prev, value: { counts: a.counts.map((c, i) => c + b.counts[i]!), count: a.count + b.count, sum: a.sum + b.sum } });
    }
  }
  return [...out.values()];
}

export default defineProbe({
  name: NAME,
  kernel,
  metrics: [
    counter('queries', 'cgroup_skb/egress', 'DNS queries sent, by query type and nameserver (at most 8 servers per pod, the rest as server="other").', '{query}', { labels: ['qtype', 'server'] }),
    counter('responses', 'cgroup_skb/ingress', 'DNS answers received for a pending query of the pod, by response code.', '{response}', { labels: ['rcode'] }),
    counter('timeouts', 'cgroup_skb + bpf_timer', 'DNS queries with no answer within event_config.dns.timeout_ms, by nameserver.', '{query}', { labels: ['server'] }),
    histogram('latency_seconds', 'cgroup_skb egress → ingress', 'Time from a DNS query leaving the pod\'s socket to its answer arriving there, by nameserver.', { labels: ['server'] }),
    counter('malformed', 'cgroup_skb/egress, cgroup_skb/ingress', 'DNS packets that could not be read (truncated header or question, compression pointer or reserved label in the question, name over 255 bytes); not counted as queries or answers.', '{packet}'),
    eventsLost(NAME),
  ],
  unsupported: async () => {
    const why = kernel.unsupported();
    if (why) return why;
    return PROGRAMS.some((p) => kernel.isAttached(p)) ? undefined : `no program attached: ${kernel.failures().join('; ')}`;
  },
  collect,
  events: [TIMEOUT, ERROR],
  fromRecord,
  // The timeout and ports matter to the counters too: written at every load, events or not.
  tune: (values) => {
    const why = kernel.keepWritten(() => writeSettings(values));
    if (why) throw new Error(why);
  },
  configure: (options: ProbeEventOptions) => writeSettings(options.values),
  // Measured 74 to 93 ns per packet of every socket: with it the default set costs a small-packet
  // flood 3.4 to 5.8 % of its rate, over the 3 % the defaults are held to.
  optIn: 'its two programs run for every packet of every socket (74 to 93 ns); README "Benchmark" gives the cost',
  options: [DNS_OPTIONS],
  docs: {
    title: 'DNS: where it is measured',
    text: [
      'Two cgroup_skb programs attached at the root of the cgroup v2 hierarchy see every packet of every socket on the node, once, at the socket that sends or receives it: a query when it leaves the client\'s socket for a DNS port (`event_config.dns.ports`, 53 by default), an answer when it arrives there from one. Nothing is counted again on the host side of a pod\'s veth (no socket there), and a DNS server\'s own traffic is not its queries.',
      'A query waits in a bounded kernel map (8192 queries node-wide) keyed by network namespace, protocol, client port and DNS id; its answer gives the latency, and a kernel timer turns a query unanswered after `event_config.dns.timeout_ms` into a timeout. The nameserver address is not part of the key, because under NAT in the client\'s own namespace (a host-network process asking a Service address) the answer comes from another address than the query was sent to; `server` is where the query was sent as the client\'s namespace saw it. A retransmitted query (same id and port while waiting) is counted as a query and timed from its first send. An answer after the timeout is neither a response nor a latency (its query is already a timeout).',
      'Names are read label by label and compression pointers are never followed; a packet the parser cannot read is `malformed`. Query names never become metric labels: they are in the `DNS_TIMEOUT` and `DNS_ERROR` events only. DNS over TCP is read from the first segment of each message. The timeout, ports and error codes are written into the kernel at every load and configuration change, whether the probe\'s events are on or only its metrics.',
      'Needs cgroup v2 mounted (hybrid hosts: `/sys/fs/cgroup/unified`). The programs attach at the root of the hierarchy PID 1 sees (through `/proc/1/root`), so in a container the agent needs the host\'s PID namespace (`hostPID: true`, as the manifests set); without it the root of its own cgroup namespace is all it can reach. `/status` names the program that did not attach and why.',
    ].join('\n\n'),
  },
});
