// The bearer token of a kubeconfig's user, for clients that present the user's Kubernetes
// identity to something other than the API server (`kubesonar watch` to an agent in kubernetes
// auth mode, which reviews the token with the API). Users with a token, a token file or an exec
// credential plugin (EKS, GKE, AKS, OIDC helpers) have one; client certificates cannot be
// reviewed by a TokenReview, so such a user gets a one-line error saying what to do instead.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

export interface KubeconfigToken {
  token: string;
  /** Where it came from, for messages: `kubeconfig ~/.kube/config, user alice (exec aws)`. */
  source: string;
  /** When an exec plugin said it expires (ms since the epoch). */
  expiresAt?: number;
}

export interface KubeconfigOptions {
  /** A kubeconfig file; default: the first file of $KUBECONFIG, else ~/.kube/config. */
  file?: string;
  /** A context name; default: current-context. */
  context?: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** Time an exec plugin may take, ms (default 30 000). */
  execTimeoutMs?: number;
}

interface ExecConfig {
  apiVersion?: string;
  command?: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
}

interface User {
  token?: string;
  tokenFile?: string;
  exec?: ExecConfig;
  'auth-provider'?: { name?: string };
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  username?: string;
}

const MAX_PLUGIN_OUTPUT = 1 << 20;

/** The kubeconfig file that would be read: the option, the first existing file of $KUBECONFIG, or ~/.kube/config. */
export function kubeconfigPath(opts: KubeconfigOptions = {}): string | undefined {
  if (opts.file) return opts.file;
  const env = opts.env ?? process.env;
  const list = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (list.length) return list.find((f) => existsSync(f)) ?? list[0];
  const home = env.HOME ?? homedir();
  const dflt = join(home, '.kube', 'config');
  return existsSync(dflt) ? dflt : undefined;
}

/** The current (or named) context's user's bearer token; throws a one-line error saying why there is none. */
export async function kubeconfigToken(opts: KubeconfigOptions = {}): Promise<KubeconfigToken> {
  const file = kubeconfigPath(opts);
  if (!file) throw new Error('no kubeconfig (neither $KUBECONFIG nor ~/.kube/config)');
  let doc: any;
  try {
    doc = parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`kubeconfig ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const contextName = opts.context ?? doc?.['current-context'];
  if (!contextName) throw new Error(`kubeconfig ${file}: no current-context (give --context)`);
  const context = (doc?.contexts ?? []).find((c: any) => c?.name === contextName)?.context;
  if (!context) throw new Error(`kubeconfig ${file}: no context "${contextName}"`);
  const userName = context.user;
  const user: User | undefined = (doc?.users ?? []).find((u: any) => u?.name === userName)?.user;
  if (!user) throw new Error(`kubeconfig ${file}: context "${contextName}" names user "${userName}", which is not in the file`);
  const source = `kubeconfig ${file}, user ${userName}`;
  if (user.token) return { token: user.token, source };
  if (user.tokenFile) {
    const path = isAbsolute(user.tokenFile) ? user.tokenFile : join(dirname(file), user.tokenFile);
    const token = (await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`${source}: tokenFile ${path}: ${err.code ?? err.message}`);
    })).trim();
    if (!token) throw new Error(`${source}: tokenFile ${path} is empty`);
    return { token, source };
  }
  if (user.exec?.command) return runExec(user.exec, `${source} (exec ${user.exec.command})`, opts);
  if (user['auth-provider']) throw new Error(`${source}: auth-provider "${user['auth-provider'].name ?? ''}" is not supported; use an exec credential plugin or --token-file`);
  if (user['client-certificate'] || user['client-certificate-data']) {
    throw new Error(`${source} authenticates with a client certificate, which a TokenReview cannot check: use --token-file with a token (e.g. kubectl create token <serviceaccount>)`);
  }
  throw new Error(`${source} has no token, tokenFile or exec credential plugin`);
}

/** Runs a client-go exec credential plugin and takes the token from its ExecCredential. */
function runExec(exec: ExecConfig, source: string, opts: KubeconfigOptions): Promise<KubeconfigToken> {
  const apiVersion = exec.apiVersion ?? 'client.authentication.k8s.io/v1';
  const env: Record<string, string | undefined> = { ...(opts.env ?? process.env) };
  for (const e of exec.env ?? []) env[e.name] = e.value;
  env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec: { interactive: false } });
  return new Promise((resolve, reject) => {
    const child = spawn(exec.command!, exec.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.execTimeoutMs ?? 30_000 });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.length > MAX_PLUGIN_OUTPUT) child.kill('SIGKILL');
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { if (err.length < 4096) err += d; });
    child.on('error', (e) => reject(new Error(`${source}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`${source}: ${signal ? `killed by ${signal}` : `exit ${code}`}${err.trim() ? `: ${err.trim().split('\n')[0]}` : ''}`));
      try {
        const cred = JSON.parse(out) as { status?: { token?: string; expirationTimestamp?: string } };
        if (!cred.status?.token) return reject(new Error(`${source}: the plugin gave no status.token (client certificates from a plugin cannot be checked by a TokenReview)`));
        const expires = cred.status.expirationTimestamp ? Date.parse(cred.status.expirationTimestamp) : undefined;
        resolve({ token: cred.status.token, source, ...(expires ? { expiresAt: expires } : {}) });
      } catch (e) {
        reject(new Error(`${source}: not an ExecCredential: ${(e as Error).message}`));
      }
    });
  });
}
