// Runs a real Agent in the test process on a free port and fetches its endpoints.
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { Agent, type AgentOptions } from '../../src/agent.js';
import { createLogger } from '../../src/log.js';
import { CLI } from './paths.js';

export interface TestAgent {
  agent: Agent;
  url: string;
  logs: string[];
  /** What the stdout event sink wrote, one event per line. */
  events: string[];
  metrics(): Promise<string>;
  status(): Promise<any>;
  stop(): Promise<void>;
}

export async function startAgent(opts: Partial<AgentOptions> = {}): Promise<TestAgent> {
  const logs: string[] = [];
  const events: string[] = [];
  const stdout = new Writable({ write(chunk, _enc, done) { events.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  const agent = new Agent({ nodeName: 'test-node', port: 0, eventPort: 0, stdout, log: createLogger((l) => logs.push(l)), ...opts });
  await agent.start();
  const url = `http://127.0.0.1:${agent.server.address!.port}`;
  return {
    agent,
    url,
    logs,
    events,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    status: async () => (await fetch(`${url}/status`)).json(),
    stop: () => agent.stop(),
  };
}

/** The value of one series in Prometheus text, matched by name and a subset of labels. */
export function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/**
 * `kubesonar run --config <config>` as its own process, as the DaemonSet runs it: each line its
 * stdout event sink writes is parsed into `events`, what it logs goes to `log`.
 */
export function spawnCliAgent(config: string, env: Record<string, string>, events: Record<string, any>[], log: string[]): ChildProcess {
  const agent = spawn(process.execPath, [CLI, 'run', '--config', config], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let partial = '';
  agent.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line) events.push(JSON.parse(line));
  });
  agent.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  return agent;
}
