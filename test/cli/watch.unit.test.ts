// `kubesonar watch` as a real process against real stream servers: JSON and text output, two
// agents merged, an unreachable agent reported and retried, reconnection after a restart.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { PodRef } from '../../src/model.js';
import type { NetEvent } from '../../src/events/model.js';
import { EventPipeline } from '../../src/events/pipeline.js';
import { toJsonLine } from '../../src/events/format.js';
import { StreamSink } from '../../src/sinks/stream.js';
import { freePort } from '../helpers/net.js';
import { holdsFor, stopProcess, waitFor } from '../helpers/wait.js';
import { CLI } from '../helpers/paths.js';

const TS = 1741163909810866660n;
const PODS: Record<number, PodRef> = {
  1001: { name: 'nginx-7d9c', namespace: 'web', uid: 'u1', source: 'cri' },
  1002: { name: 'coredns-5f', namespace: 'kube-system', uid: 'u2', source: 'cri' },
};

const ev = (i: number, type: NetEvent['type'], netns: number, msg: string): NetEvent => ({
  timeUnixNano: TS + BigInt(i), type, probe: 'tcpreset', severity: 'WARN', msg, netns, attrs: { dport: 80 + i },
});

interface Agent { pipeline: EventPipeline; sink: StreamSink; port: number }

async function agent(node: string, port = 0): Promise<Agent> {
  const sink = new StreamSink();
  await sink.listen(port, '127.0.0.1');
  const pipeline = new EventPipeline({ nodeName: node, resolve: (n) => PODS[n] });
  pipeline.setSink(sink, { batchMaxWaitMs: 1 });
  return { pipeline, sink, port: sink.address!.port };
}

interface Watch { child: ChildProcess; out: () => string[]; err: () => string }
const children: ChildProcess[] = [];

function runWatch(args: string[]): Watch {
  const child = spawn(process.execPath, [CLI, 'watch', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '' } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return { child, out: () => out.split('\n').filter((l) => l !== ''), err: () => err };
}

/** SIGTERM; the exit code (null when it had to be killed after 5 s). */
function stop(w: Watch): Promise<number | null> {
  return stopProcess(w.child, 'SIGTERM', 5000);
}

describe('kubesonar watch', () => {
  const agents: Agent[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const a of agents) await a.pipeline.close(500);
  });

  test('-o json: the lines of two agents, merged, exactly as they sent them', async () => {
    const a = await agent('node-a');
    const b = await agent('node-b');
    agents.push(a, b);
    const w = runWatch(['-e', `127.0.0.1:${a.port}`, '-e', `127.0.0.1:${b.port}`, '-o', 'json']);
    await waitFor('both connections', () => (w.err().match(/connected/g) ?? []).length === 2, 10_000, () => w.err());
    const ea = ev(0, 'TCP_SEND_RST_NOSock', 1001, 'reset to 10.0.0.5:80');
    const eb = ev(1, 'PACKETLOSS', 1002, 'drop NETFILTER_DROP');
    a.pipeline.publish(ea);
    b.pipeline.publish(eb);
    await waitFor('two lines', () => w.out().length === 2, 10_000, () => w.err());
    const expected = [a.pipeline.toRecord(ea), b.pipeline.toRecord(eb)].map(toJsonLine);
    assert.deepEqual([...w.out()].sort(), [...expected].sort());
    assert.ok(w.out().some((l) => l.startsWith('{"timestamp":1741163909810866660,')), 'exact nanoseconds');
    assert.equal(await stop(w), 0);
  });

  test('text: aligned lines with time, node, type, namespace/pod, netns, details; filters reach the agents', async () => {
    const [a, b] = agents;
    const w = runWatch(['-e', `127.0.0.1:${a.port}`, '-e', `127.0.0.1:${b.port}`, '--type', 'TCP_SEND_RST_NOSock,PACKETLOSS']);
    await waitFor('both connections', () => (w.err().match(/connected/g) ?? []).length === 2, 10_000, () => w.err());
    a.pipeline.publish(ev(2, 'TCP_SEND_RST_NOSock', 1001, 'reset to 10.0.0.5:80'));
    a.pipeline.publish(ev(3, 'TCP_RETRANS', 1001, 'filtered out'));
    b.pipeline.publish(ev(4, 'PACKETLOSS', 1002, 'drop NETFILTER_DROP'));
    await waitFor('two lines', () => w.out().length === 2, 10_000, () => w.err());
    await holdsFor('no line for the filtered-out TCP_RETRANS', () => w.out().length === 2, 100);
    const lines = [...w.out()].sort();
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0], /^08:38:29\.810866 node-a +TCP_SEND_RST_NOSock +web\/nginx-7d9c +ns1001 +reset to 10\.0\.0\.5:80 dport=82$/);
    assert.match(lines[1], /^08:38:29\.810866 node-b +PACKETLOSS +kube-system\/coredns-5f +ns1002 +drop NETFILTER_DROP dport=84$/);
    assert.equal(lines[0].indexOf('ns1001'), lines[1].indexOf('ns1002'), 'columns are aligned');
    assert.ok(!lines.join('').includes('\x1b['), 'no colors when stdout is not a terminal');
    assert.equal(await stop(w), 0);
  });

  test('an unreachable agent is reported and retried while the other streams; it is picked up once it starts', async () => {
    const [a] = agents;
    const downPort = await freePort();
    const w = runWatch(['-e', `127.0.0.1:${a.port}`, '-e', `127.0.0.1:${downPort}`]);
    await waitFor('the refusal', () => w.err().includes(`127.0.0.1:${downPort}: cannot connect: connection refused`), 10_000, () => w.err());
    assert.match(w.err(), new RegExp(`127\\.0\\.0\\.1:${downPort}: cannot connect: connection refused \\(is the agent running, and is this its event_config\\.port\\?\\); retrying in 0\\.5s`));
    await waitFor('the other agent connected', () => w.err().includes(`127.0.0.1:${a.port}: connected`), 10_000, () => w.err());
    a.pipeline.publish(ev(5, 'TCP_SEND_RST_NOSock', 1001, 'still streaming'));
    await waitFor('a line from the reachable agent', () => w.out().length === 1, 10_000, () => w.err());

    const late = await agent('node-late', downPort);
    agents.push(late);
    await waitFor('the late agent connected', () => w.err().includes(`127.0.0.1:${downPort}: connected`), 20_000, () => w.err());
    late.pipeline.publish(ev(6, 'PACKETLOSS', 1002, 'from the late agent'));
    await waitFor('its line', () => w.out().some((l) => l.includes('node-late')), 10_000, () => w.err());

    // The agent restarts: watch notices and reconnects.
    await late.pipeline.close(500);
    await waitFor('the close noticed', () => w.err().includes(`127.0.0.1:${downPort}: the agent closed the stream`), 10_000, () => w.err());
    const again = await agent('node-late2', downPort);
    agents.push(again);
    await waitFor('reconnected', () => (w.err().match(new RegExp(`${downPort}: connected`, 'g')) ?? []).length === 2, 20_000, () => w.err());
    again.pipeline.publish(ev(7, 'PACKETLOSS', 1002, 'after the restart'));
    await waitFor('the line after the restart', () => w.out().some((l) => l.includes('after the restart')), 10_000, () => w.err());
    assert.equal(await stop(w), 0);
  });

  test('on a terminal: a header and colored lines', async (t) => {
    if (!existsSync('/usr/bin/script')) return t.skip('util-linux script(1) is not installed');
    const [a] = agents;
    // script(1) gives the command a pseudo-terminal as stdout.
    const child = spawn('/usr/bin/script', ['-qfec', `${process.execPath} ${CLI} watch -e 127.0.0.1:${a.port}`, '/dev/null'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '' } });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    const w: Watch = { child, out: () => out.split('\n'), err: () => out };
    await waitFor('connected', () => out.includes('connected'), 10_000, () => out);
    a.pipeline.publish({ ...ev(8, 'KubeProxyAbnormal', 1001, 'kube-proxy is not ready'), severity: 'ERROR' });
    await waitFor('the line', () => out.includes('kube-proxy is not ready'), 10_000, () => out);
    assert.match(out, /\x1b\[2mTIME +NODE +TYPE +NAMESPACE\/POD +NETNS +DETAILS\x1b\[0m/);
    assert.match(out, /\x1b\[31mKubeProxyAbnormal +\x1b\[0m/, 'ERROR in red');
    await stop(w);
  });

  test('usage errors are one clear line', async () => {
    const w = runWatch(['-e', '127.0.0.1:1', '--type', 'TCP_RESET']);
    await waitFor('exit', () => w.child.exitCode !== null, 10_000);
    assert.equal(w.child.exitCode, 1);
    assert.match(w.err(), /^kubesonar: watch: unknown event type "TCP_RESET" \(valid: LISTEN_OVERFLOW, PACKETLOSS, .*\)\n$/);
    const none = runWatch([]);
    await waitFor('exit', () => none.child.exitCode !== null, 10_000);
    assert.equal(none.err(), 'kubesonar: watch: give at least one agent with -e HOST[:PORT]\n');
  });
});
