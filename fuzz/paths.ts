// The checkout, from this file's compiled place (dist/fuzz/): seeds are read from the sources.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const fixture = (...parts: string[]): string => join(ROOT, 'test/fixtures', ...parts);
