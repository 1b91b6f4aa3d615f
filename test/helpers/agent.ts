// Runs a real Agent in the test process on a free port and fetches its endpoints.
import { Writable } from 'node:stream';
import { Agent, type AgentOptions } from '../../src/agent.js';
import { createLogger } from '../../src/log.js';

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
