// Where the package is installed. Modules run as dist/src/... (or src/... under a TS loader)
// and the cwd is wherever the agent was started, so files shipped beside the code (the native
// addons, .proto files, BPF objects) are found from the first directory with a package.json.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return (cached = dir);
  }
  throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
}
