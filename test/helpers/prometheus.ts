// A real Prometheus for the tests and the soak: its config written into `dir`, listening on a
// free loopback port with the remote-write receiver on, ready before this returns.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './net.js';
import { giveUp, stopProcess, waitFor } from './wait.js';

export interface PromResult { metric: Record<string, string>; value: [number, string] }

export interface TestPrometheus {
  url: string;
  process: ChildProcess;
  /** An instant PromQL query; throws on an error answer. */
  query(q: string): Promise<PromResult[]>;
  stop(): Promise<void>;
}

/**
 * `scrapeConfigs`: the lines under `scrape_configs:` (none for a remote-write receiver only);
 * `scrapeInterval` also bounds the scrape timeout.
 */
export async function startPrometheus(dir: string, scrapeConfigs: string[] = [], scrapeInterval = '1s'): Promise<TestPrometheus> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, 'prometheus.yml'), [
    `global: { scrape_interval: ${scrapeInterval}, scrape_timeout: ${scrapeInterval} }`,
    `scrape_configs:${scrapeConfigs.length ? '' : ' []'}`,
    ...scrapeConfigs,
  ].join('\n'));
  const child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--web.enable-remote-write-receiver'], { stdio: 'ignore' });
  let spawnError: Error | undefined;
  child.once('error', (err) => { spawnError = err; });
  await waitFor('Prometheus ready', async () => {
    if (spawnError) giveUp(`prometheus could not start (test/setup-host.sh installs it): ${spawnError.message}`);
    if (child.exitCode !== null) giveUp(`prometheus exited with ${child.exitCode}`);
    return (await fetch(`${url}/-/ready`)).ok;
  }, 60_000);
  return {
    url,
    process: child,
    async query(q) {
      const res = await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`)).json() as { status: string; error?: string; data: { result: PromResult[] } };
      if (res.status !== 'success') throw new Error(`PromQL ${q}: ${res.error ?? res.status}`);
      return res.data.result;
    },
    async stop() { await stopProcess(child, 'SIGKILL'); },
  };
}

/** The scrape job `job` of one plain-HTTP target. */
export const scrapeJob = (job: string, target: string): string[] => [`  - job_name: ${job}`, `    static_configs: [{ targets: ["${target}"] }]`];
