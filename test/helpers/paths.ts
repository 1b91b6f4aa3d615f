// Where things are, for tests that read the checkout or run the CLI. Computed from this file's
// compiled place (dist/test/helpers/), so a test may live at any depth under test/.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout: the directory of package.json, src/, deploy/, dist/. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The compiled CLI (the package's `kubesonar` bin). */
export const CLI = join(ROOT, 'dist/src/cli/main.js');

/** A file under test/fixtures/ (the committed sources, not dist/). */
export const fixture = (...parts: string[]): string => join(ROOT, 'test/fixtures', ...parts);
