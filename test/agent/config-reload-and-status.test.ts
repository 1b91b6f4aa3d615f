// The agent as a whole: hot reload from a ConfigMap-style mount (probes, port, naming),
// bad updates that keep the last good config serving, /status, and eBPF probes detached and
// attached again by config.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { EVENT_PROBES, METRIC_PROBES, probe } from '../../src/catalogue/index.js';
import { startAgent, type TestAgent } from '../helpers/agent.js';
import { ConfigMapMount } from '../helpers/configmap.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'kubesonar-agent-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const families = (text: string) => new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]!));

test('hot reload: probes, naming and port change without a restart; a bad file keeps the last good config', async () => {
  const mount = new ConfigMapMount(join(dir, 'cm'));
  await mount.create('metric_config:\n  interval: 1\n  probes: [tcp]\n');
  const agent: TestAgent = await startAgent({ configPath: mount.path, port: undefined });
  try {
    const port1 = agent.agent.server.address!.port;
    assert.equal(port1, 9102, 'default port from the config');
    const url1 = `http://127.0.0.1:${port1}`;
    await waitFor('tcp series', async () => (families(await (await fetch(`${url1}/metrics`)).text()).has('netexporter_tcp_attemptfails') ? true : undefined), 20_000);
    let text = await (await fetch(`${url1}/metrics`)).text();
    assert.ok(!families(text).has('netexporter_udp_noports'), 'udp is not enabled yet');

    // ACK naming, one more probe, another port: all applied live.
    await mount.update('metric_config:\n  interval: 1\n  probes: [tcp, udp]\n  naming: inspector\n  port: 19877\n');
    const url2 = 'http://127.0.0.1:19877';
    text = await waitFor('the new port with udp and ACK names', async () => {
      const t = await (await fetch(`${url2}/metrics`)).text();
      return families(t).has('inspector_pod_udpnoports') ? t : undefined;
    }, 20_000);
    assert.ok(families(text).has('inspector_pod_tcpattemptfails'));
    assert.ok(!families(text).has('netexporter_tcp_attemptfails'));
    await assert.rejects(fetch(`${url1}/metrics`), 'the old port is closed');

    // A bad update: one clear error in /status and the log, the last good config keeps serving.
    await mount.update('metric_config:\n  probes: [tcp, nosuchprobe]\n  port: 19878\n');
    const status = await waitFor('the rejected config in /status', async () => {
      const s = await (await fetch(`${url2}/status`)).json() as any;
      return s.config.error ? s : undefined;
    }, 20_000);
    assert.match(status.config.error, /metric_config\.probes\[1\]: unknown probe "nosuchprobe" \(valid: netdev, tcp, /);
    assert.equal(status.probes.udp.state, 'ok');
    assert.equal(status.probes.netdev.state, 'disabled');
    assert.ok(families(await (await fetch(`${url2}/metrics`)).text()).has('inspector_pod_udpnoports'));
    assert.ok(agent.logs.some((l) => l.includes('keeping the last good config') && l.includes('nosuchprobe')));

    // Reverting the bad edit clears the error, though the config itself did not change.
    await mount.update('metric_config:\n  interval: 1\n  probes: [tcp, udp]\n  naming: inspector\n  port: 19877\n');
    await waitFor('the error cleared', async () => ((await (await fetch(`${url2}/status`)).json() as any).config.error === null ? true : undefined), 20_000);
  } finally {
    await agent.stop();
  }
});

test('a port that is taken on reload keeps the old one serving and says why', async () => {
  const mount = new ConfigMapMount(join(dir, 'cm2'));
  await mount.create('metric_config: {port: 19879, probes: [sock]}\n');
  const blocker = await startAgent({ port: 19880 });
  const agent = await startAgent({ configPath: mount.path, port: undefined });
  try {
    await mount.update('metric_config: {port: 19880, probes: [sock]}\n');
    await waitFor('the failure in the log', () => (agent.logs.some((l) => l.includes('config change not applied') && l.includes('address already in use')) ? true : undefined), 20_000);
    assert.equal((await fetch('http://127.0.0.1:19879/status')).status, 200);
  } finally {
    await agent.stop();
    await blocker.stop();
  }
});

test('/status reports every probe and no debug routes unless debug mode is on', async () => {
  const agent = await startAgent({ cniConfDir: '/nonexistent-cni' });
  try {
    await agent.agent.collector.collect();
    const status = await agent.status();
    assert.equal(status.node, 'test-node');
    assert.equal(status.native.loaded, true);
    assert.ok(status.entities >= 1);
    for (const p of ['netdev', 'tcp', 'tcpext', 'udp', 'ip', 'sock', 'softnet', 'tcpsummary', 'conntrack', 'qdisc', 'arp', 'sockbacklog', 'fd', 'io', 'slab']) {
      assert.deepEqual([p, status.probes[p].state, status.probes[p].reason], [p, 'ok', undefined]);
    }
    // The eBPF probes are ok; the one that needs a kprobe says why it is not built. The latency
    // probes and dns are opt-in (they cost every packet): not running by default.
    for (const p of ['packetloss', 'tcpreset', 'tcpretrans', 'tcptwrcv']) {
      assert.deepEqual([p, status.probes[p].state], [p, 'ok']);
    }
    for (const p of ['net_softirq', 'socketlatency', 'netiftxlat', 'kernellatency', 'dns']) {
      assert.deepEqual([p, status.probes[p].state, status.events.bpf[p].state], [p, 'disabled', 'off']);
    }
    assert.deepEqual(Object.keys(status.events.notBuilt), ['virtcmdlatency']);
    for (const why of Object.values(status.events.notBuilt)) assert.match(why as string, /kprobe/);
    // This machine has no CNI config: podip does not apply, says so instead of exporting zeros,
    // and is not a failure (no probe_up 0 to alert on).
    assert.equal(status.probes.podip.state, 'unsupported');
    assert.match(status.probes.podip.reason, /no CNI config directory \/nonexistent-cni/);
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    assert.match(metrics, /^netexporter_agent_probe_unsupported\{[^}]*probe="podip"[^}]*\} 1$/m);
    assert.doesNotMatch(metrics, /^netexporter_agent_probe_up\{[^}]*probe="podip"/m);
    assert.equal((await fetch(`${agent.url}/debug/entities`)).status, 404);
    assert.equal((await fetch(`${agent.url}/debug/pprof`)).status, 404);
    const config = structuredClone((agent.agent as any).config);
    config.debugmode = true;
    await agent.agent.apply(config);
    assert.equal((await fetch(`${agent.url}/debug/entities`)).status, 200);
    // A request line that URL parsing rejects is answered, not fatal.
    const { connect } = await import('node:net');
    const reply = await new Promise<string>((resolve) => {
      const sock = connect(agent.agent.server.address!.port, '127.0.0.1', () => sock.end('GET //x:y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
      let data = '';
      sock.setTimeout(5000, () => sock.destroy()); // no answer: what arrived, and the match fails
      sock.on('data', (d) => (data += d)).on('close', () => resolve(data));
    });
    assert.match(reply, /^HTTP\/1\.1 404/);
    assert.equal((await fetch(`${agent.url}/status`)).status, 200);
  } finally {
    await agent.stop();
  }
});

test('an eBPF probe taken out of both probe lists detaches its programs from the kernel; put back, it attaches again', async () => {
  // By kernel program id: another test process's programs of the same name may still be
  // in the kernel for a moment after it exited.
  const loadedIds = async () => {
    const { stdout } = await promisify(execFile)('bpftool', ['-j', 'prog', 'show']);
    return new Set((JSON.parse(stdout) as { id: number }[]).map((p) => p.id));
  };
  const kernellatencyIds = () => probe('kernellatency')!.kernel!.programStats().map((p) => p.id);
  const agent = await startAgent({ cniConfDir: '/nonexistent-cni' });
  try {
    // Every probe (the latency probes are opt-in), each latency probe measuring 1 packet in 16.
    const every = structuredClone((agent.agent as any).config);
    await agent.agent.apply({ ...every, metric_config: { ...every.metric_config, probes: [...METRIC_PROBES] },
      event_config: { ...every.event_config, probes: [...EVENT_PROBES], latency_sample: 16 } });
    await agent.agent.collector.collect();
    assert.equal((await agent.status()).events.bpf.kernellatency.state, 'ok');
    assert.match((await agent.status()).events.bpf.kernellatency.sampled, /^measured during 250 ms of every 2000 ms, 1 in 16 within: /, '/status says the histograms are sampled, and in which windows');
    const attached = kernellatencyIds();
    assert.equal(attached.length, 4);
    const before = await loadedIds();
    assert.ok(attached.every((id) => before.has(id)));
    const config = structuredClone((agent.agent as any).config);
    const without = (list: string[]) => list.filter((p) => p !== 'kernellatency');
    await agent.agent.apply({ ...config, metric_config: { ...config.metric_config, probes: without(config.metric_config.probes) },
      event_config: { ...config.event_config, probes: without(config.event_config.probes) } });
    await agent.agent.collector.collect();
    let status = await agent.status();
    assert.equal(status.events.bpf.kernellatency.state, 'off');
    assert.equal(status.events.bpf.socketlatency.state, 'ok', 'the other probes stay');
    await waitFor('kernellatency\'s programs gone from the kernel', async () => {
      const now = await loadedIds();
      return attached.every((id) => !now.has(id)) ? true : undefined;
    }, 20_000);
    // Only the event probe back: the programs attach again and its events flow.
    await agent.agent.apply({ ...config, metric_config: { ...config.metric_config, probes: without(config.metric_config.probes) } });
    status = await agent.status();
    assert.deepEqual([status.events.bpf.kernellatency.state, status.events.bpf.kernellatency.eventProbe], ['ok', 'on']);
    const again = kernellatencyIds();
    assert.equal(again.length, 4);
    const after = await loadedIds();
    assert.ok(again.every((id) => after.has(id) && !attached.includes(id)), 'loaded afresh');
  } finally {
    await agent.stop();
  }
});
