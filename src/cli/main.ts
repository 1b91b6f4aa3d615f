#!/usr/bin/env node
// kubesonar: `run` the agent, list `entities`. Errors print one clear line, never a stack trace.
import { parseArgs } from 'node:util';
import { Agent } from '../agent.js';
import { DEFAULT_CONFIG_PATH } from '../config/index.js';
import { createLogger } from '../log.js';
import { listEntities } from './entities.js';

const USAGE = `usage: kubesonar <command> [options]

commands:
  run        run the agent (Prometheus endpoint on metric_config.port, default 9102)
               --config FILE    YAML config (ACK inspector-config keys or installer values),
                                default ${DEFAULT_CONFIG_PATH} if it exists (the ConfigMap mount);
                                watched for changes, a bad update keeps the last good config
               --port N         override metric_config.port
  entities   list the network namespaces of this node and the pods they belong to
               -o json          machine-readable output
  watch      print the live events of one or several agents (their event stream, GET /events)
               -e HOST[:PORT]   an agent (default port 19102); repeat for several, lines are merged;
                                https://HOST:PORT for an agent that serves TLS
               --type T[,T]  --namespace N[,N]  --pod P[,P]   only matching events
               -o json          the agents' JSON lines instead of aligned text
               --token-file F   bearer token sent to every agent (re-read at each connection)
               --kubeconfig F   without --token-file, an agent that answers 401 gets the token of
               --context C      this kubeconfig's user (default $KUBECONFIG, ~/.kube/config)
               --ca-file F      CA that signed the agents' certificates
               --insecure-skip-tls-verify
  help       this text
`;

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'run': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string' }, port: { type: 'string' } } });
      const log = createLogger();
      const port = values.port === undefined ? undefined : parsePort(values.port);
      const agent = new Agent({ configPath: values.config ?? DEFAULT_CONFIG_PATH, configOptional: values.config === undefined, port, log });
      await agent.start();
      await new Promise<void>((resolve) => {
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
      });
      log.info('stopping');
      await agent.stop();
      return 0;
    }
    case 'entities': {
      const { values } = parseArgs({ args: rest, options: { output: { type: 'string', short: 'o' } } });
      process.stdout.write(await listEntities(values.output === 'json' ? 'json' : 'table'));
      return 0;
    }
    case 'watch': {
      const { watch } = await import('./watch.js');
      const stop = new AbortController();
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
      process.stdout.on('error', () => stop.abort()); // e.g. EPIPE from `watch | head`
      return watch(rest, { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: stop.signal });
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`kubesonar: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: must be an integer 0..65535, got "${text}"`);
  return port;
}

// A bug must not take the node's observability down silently: log it and keep running.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'unhandled rejection', error: String(reason) }) + '\n');
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`kubesonar: ${err.message}\n`);
    process.exit(1);
  },
);
