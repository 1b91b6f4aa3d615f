// Request headers that identify the agent to the backend: tenant, basic or bearer auth, and
// static headers from the config. Secrets come from files, read at every push.
import type { FileCache } from './files.js';

export interface AuthOptions {
  /** `X-Scope-OrgID` (Loki, Mimir, Cortex multi-tenancy). */
  tenant?: string;
  /** Basic auth; the password file is read at every push, one trailing newline dropped. */
  basic?: { username: string; passwordFile?: string };
  /** `Authorization: Bearer <the file's content, trimmed>`, read at every push; wins over basic. */
  bearerTokenFile?: string;
  /** Static headers; names are case-insensitive, and the ones set above win over them. */
  headers?: Record<string, string>;
}

/** A secret file that cannot be read (missing while a Secret is remounted, permissions). */
export class CredentialsError extends Error {}

export function lowerCaseNames(h: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k.toLowerCase()] = v;
  return out;
}

async function secret(files: FileCache, path: string): Promise<string> {
  try {
    return (await files.read(path)).toString('utf8');
  } catch (err) {
    throw new CredentialsError((err as Error).message);
  }
}

/** Static headers (lower-cased, so a configured `Authorization` cannot travel next to ours), then auth. */
export async function authHeaders(auth: AuthOptions, files: FileCache): Promise<Record<string, string>> {
  const h = lowerCaseNames(auth.headers);
  if (auth.tenant) h['x-scope-orgid'] = auth.tenant;
  if (auth.bearerTokenFile) {
    h.authorization = `Bearer ${(await secret(files, auth.bearerTokenFile)).trim()}`;
  } else if (auth.basic) {
    const password = auth.basic.passwordFile ? (await secret(files, auth.basic.passwordFile)).replace(/\r?\n$/, '') : '';
    h.authorization = `Basic ${Buffer.from(`${auth.basic.username}:${password}`).toString('base64')}`;
  }
  return h;
}
