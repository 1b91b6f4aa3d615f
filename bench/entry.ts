import { readFileSync } from 'node:fs';

// Entry of the benchmarks that measure each client in a child process of their own: the child
// (argv `child <client> <url> <n>`) reports its result to the parent over IPC; the parent runs main.
export function benchEntry<R>(main: () => Promise<void>, child: (client: string, url: string, n: number) => Promise<R>): void {
  const fail = (err: unknown) => {
    console.error(err);
    process.exit(1);
  };
  if (process.argv[2] === 'child') {
    const [, , , client, url, n] = process.argv;
    child(client!, url!, Number(n)).then((r) => process.send!(r, () => process.exit(0)), fail);
  } else {
    main().catch(fail);
  }
}

/**
 * The environment the image runs the agent with (deploy/Dockerfile's ENV lines: the heap limits
 * in NODE_OPTIONS, MALLOC_ARENA_MAX), so a benchmark measures the agent's code under the
 * runtime it ships with.
 */
export function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(new URL('../../deploy/Dockerfile', import.meta.url), 'utf8');
  const env: Record<string, string> = {};
  for (const m of dockerfile.matchAll(/^ENV ([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|(\S*))$/gm)) env[m[1]!] = m[2] ?? m[3] ?? '';
  delete env.NODE_ENV; // the benchmarks' own choice
  return env;
}

export function imageNodeOptions(): string {
  return imageEnv().NODE_OPTIONS ?? '';
}
