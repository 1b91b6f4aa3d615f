// Full fidelity on every Loki: events pushed by the production Loki sink to a receiver playing
// Loki 2.7.7 (which accepts structured metadata with 204 and drops it) and one playing Loki 3.x
// (which keeps it), then every query of examples/queries.logql and of the events dashboard run
// over what each stored: each finds its seeded event, with the pod name where the event has a
// pod, and every label it groups by. A Loki 3 configured without structured metadata (it says
// 3.x but drops it) shows the test would catch fields lost.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { EventPipeline, type NetnsAttribution } from '../../src/events/pipeline.js';
import type { EventRecord, NetEvent } from '../../src/events/model.js';
import type { PodRef } from '../../src/model.js';
import { LokiSink } from '../../src/sinks/loki/index.js';
import { LokiReceiver } from '../helpers/loki-receiver.js';
import { select, type StoredEntry } from '../helpers/logql.js';
import { dashboardQueries, fileQueries } from '../helpers/queries.js';

const receivers: LokiReceiver[] = [];
after(async () => { for (const r of receivers) await r.stop(); });

const pod = (namespace: string, name: string): PodRef => ({ namespace, name, uid: `uid-${name}`, source: 'cri' });
const PODS = new Map<number, PodRef>([[101, pod('shop', 'web-0')], [102, pod('kube-system', 'coredns-1')], [103, pod('default', 'api-7')]]);
const HOST_NETNS = 1;

let seeded = 0;
/** One event per case study the queries cover, as the probes would publish them. */
const tuple = (protocol: string, saddr: string, sport: number, daddr: string, dport: number) => ({ family: 'ipv4', protocol, saddr, sport, daddr, dport });
const SEEDED: NetEvent[] = [
  ev('PACKETLOSS', 'packetloss', 'WARN', 101, { reason: 'NO_SOCKET', ...tuple('UDP', '10.96.0.10', 53, '10.244.1.5', 40000), stack: 'kfree_skb_reason+0x1 udp_queue_rcv_skb+0x2' }),
  ev('PACKETLOSS', 'packetloss', 'WARN', 102, { reason: 'SOCKET_RCVBUFF', ...tuple('UDP', '10.244.1.5', 40001, '10.244.2.9', 53), stack: 'kfree_skb_reason+0x1' }),
  ev('IPVSRulesAbnormal', 'ipvs', 'ERROR', undefined, { virtual_server: 'UDP 10.96.0.10:53', subject: 'vs:UDP 10.96.0.10:53', finding: 'new' }),
  ev('LISTEN_OVERFLOW', 'sockbacklog', 'WARN', 101, { ...tuple('TCP', '0.0.0.0', 8080, '', 0), accept_queue: 2, backlog: 1, drops: 12 }),
  ev('TCP_RETRANS_SYNACK', 'tcpretrans', 'INFO', 101, { ...tuple('TCP', '10.244.1.5', 8080, '10.244.3.3', 51000), state: 'SYN_RECV' }),
  ev('TCP_SEND_RST_NOSock', 'tcpreset', 'WARN', 103, { ...tuple('TCP', '10.244.1.7', 9000, '10.244.3.4', 52000), reason: 'NO_SOCKET' }),
  ev('TCP_SEND_RST', 'tcpreset', 'WARN', 103, { ...tuple('TCP', '10.244.1.7', 9000, '10.244.3.4', 52001), state: 'ESTABLISHED', reason: 'NOT_SPECIFIED' }),
  ev('TCP_TW_RCV', 'tcptwrcv', 'INFO', 103, { ...tuple('TCP', '10.244.1.7', 9000, '10.244.3.4', 52002), flag: 'SYN', state: 'TIME_WAIT', reason: 'TCP_RFC7323_TW_PAWS' }),
  ev('NET_SOFTIRQ_SCHED_SLOW', 'net_softirq', 'WARN', undefined, { cpu: 1, vector: 'NET_RX', latency_ms: 150 }),
  ev('KERNEL_RCV_SLOW', 'kernellatency', 'WARN', 101, { ...tuple('TCP', '10.244.3.3', 51000, '10.244.1.5', 8080), latency_ms: 120.5, state: 'ESTABLISHED' }),
  ev('TCP_RETRANS', 'tcpretrans', 'INFO', 101, { ...tuple('TCP', '10.244.1.5', 8080, '10.244.3.3', 51001), state: 'ESTABLISHED' }),
  ev('DNS_TIMEOUT', 'dns', 'WARN', 101, { family: 'ipv4', protocol: 'UDP', client: '10.244.1.5', client_port: 40002, server: '10.96.0.10', server_port: 53, name: 'api.shop.svc.cluster.local', qtype: 'AAAA', id: 4711, elapsed_ms: 2000.4 }),
  ev('DNS_ERROR', 'dns', 'WARN', 103, { family: 'ipv4', protocol: 'UDP', client: '10.244.1.7', client_port: 40003, server: '10.96.0.10', server_port: 53, name: 'example.com', qtype: 'A', id: 4712, elapsed_ms: 12.5, rcode: 'SERVFAIL', answers: 0 }),
];

function ev(type: string, probe: string, severity: NetEvent['severity'], netns: number | undefined, attrs: NetEvent['attrs']): NetEvent {
  return { timeUnixNano: 1_767_000_000_123_456_789n + BigInt(seeded), type, probe, severity, msg: `seeded #${seeded++} ${type}`, netns, attrs };
}

/** The records as the pipeline makes them: attributed to their pods, node `node-a`. */
function records(): EventRecord[] {
  const pipeline = new EventPipeline({ nodeName: 'node-a', resolve: (netns): NetnsAttribution => (netns === HOST_NETNS ? 'host' : PODS.get(netns)) });
  return SEEDED.map((e) => pipeline.toRecord(e));
}

/** Pushes the seeded events to a receiver playing `version` and returns what it stored. */
async function stored(opts: { version: string; keepsMetadata?: boolean }): Promise<{ entries: StoredEntry[]; status: Record<string, unknown> }> {
  const rx = await new LokiReceiver(opts).start();
  receivers.push(rx);
  const sink = new LokiSink({ url: rx.url }, { node: 'node-a' });
  const r = await sink.send(records());
  const status = sink.status();
  await sink.close();
  assert.deepEqual(r, { delivered: SEEDED.length });
  return { entries: rx.entries().map((e) => ({ labels: e.labels, line: e.line, metadata: e.metadata })), status };
}

/** Every query we ship, with Grafana's variables at their "All" values and a fixed interval. */
function queries() {
  const logql = [...fileQueries('examples/queries.logql', 'logql'), ...dashboardQueries().filter((q) => q.lang === 'logql')];
  return logql.map((q) => ({
    where: q.where,
    expr: q.expr.replace(/\$__interval/g, '5m').replace(/\$(\w+)/g, (_m, v: string) => q.vars?.[v] ?? '.+'),
  }));
}

/** What each query misses on `entries`: no seeded event, a pod without its name, a group label absent. */
function misses(entries: StoredEntry[]): string[] {
  const problems: string[] = [];
  for (const q of queries()) {
    const found = select(q.expr, entries);
    if (found.length === 0) {
      problems.push(`${q.where}: finds nothing`);
      continue;
    }
    for (const f of found) {
      const seeded = SEEDED.find((e) => f.entry.line.includes(`"msg":${JSON.stringify(e.msg)}`))!;
      const podRef = seeded.netns === undefined ? undefined : PODS.get(seeded.netns);
      // Where the query shows fields (| json) or names the pod, the pod's name must be there.
      const showsPod = /\| json|k8s_pod/.test(q.expr);
      if (podRef && showsPod && f.fields.k8s_pod !== podRef.name) problems.push(`${q.where}: ${seeded.type} without its pod name (k8s_pod=${f.fields.k8s_pod})`);
      for (const label of new Set(parseGroupBy(q.expr))) {
        // Grouping by a label an event does not have (k8s_pod of a node finding) is no miss.
        if (label === 'k8s_pod' && !podRef) continue;
        if (label === 'k8s_namespace' && !podRef) continue;
        if (!f.fields[label]) problems.push(`${q.where}: ${seeded.type} has no ${label} to group by`);
      }
    }
  }
  return problems;
}

const parseGroupBy = (expr: string) => [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()).filter(Boolean));

for (const version of ['2.7.7', '3.4.2']) {
  test(`Loki ${version}: every example and dashboard query finds its event, with the pod name and the labels it groups by`, async () => {
    const { entries, status } = await stored({ version });
    assert.equal(entries.length, SEEDED.length);
    assert.deepEqual(misses(entries), []);
    // Where the fields went, and why, is in the sink's status.
    const fields = status.fields as { storage: string; version: string; why: string };
    assert.deepEqual([fields.storage, fields.version], [version.startsWith('2.') ? 'line' : 'metadata', version]);
    assert.match(fields.why, new RegExp(`Loki ${version.replace(/\./g, '\\.')}`));
    if (version.startsWith('2.')) assert.ok(entries.every((e) => Object.keys(e.metadata).length === 0 && JSON.parse(e.line).k8s_pod !== undefined || !e.labels.k8s_namespace));
    else assert.ok(entries.some((e) => e.metadata.k8s_pod !== undefined), 'Loki 3 gets the fields as structured metadata');
  });
}

test('a Loki that says 3.x but keeps no structured metadata loses the pods: the queries above would notice', async () => {
  const { entries } = await stored({ version: '3.4.2', keepsMetadata: false });
  const problems = misses(entries);
  assert.ok(problems.some((p) => p.includes('without its pod name')), problems.join('\n'));
});

test('a Loki build that does not say its version gets every field in the line', async () => {
  const { entries, status } = await stored({ version: '' });
  assert.deepEqual(misses(entries), []);
  assert.equal((status.fields as { storage: string }).storage, 'line');
});
