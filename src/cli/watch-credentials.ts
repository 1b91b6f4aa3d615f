// The bearer token `kubesonar watch` presents to agents. With --token-file it is that file's
// content, read at every connection (a rotated token is picked up), and always sent. Otherwise a
// connection first goes without credentials, and only an agent that answers 401 gets the
// kubeconfig user's token (--kubeconfig/--context, else $KUBECONFIG or ~/.kube/config): an agent
// that does not ask never sees the user's Kubernetes token.
import { readFile } from 'node:fs/promises';
import { kubeconfigToken, type KubeconfigOptions, type KubeconfigToken } from '../k8s/index.js';

/** Re-run an exec plugin this long before the expiry it announced. */
const EXPIRY_MARGIN_MS = 60_000;

export class WatchCredentials {
  private cached?: KubeconfigToken;

  constructor(private readonly tokenFile: string | undefined, private readonly kubeconfig: KubeconfigOptions) {}

  /** Whether a token goes with the first request (--token-file). */
  get upfront(): boolean {
    return this.tokenFile !== undefined;
  }

  /** The token and where it is from; throws a one-line error when there is none. `fresh` skips the cache (the agent refused it). */
  async token(fresh = false): Promise<{ token: string; source: string }> {
    if (this.tokenFile !== undefined) {
      const token = (await readFile(this.tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new Error(`--token-file ${this.tokenFile}: ${err.code ?? err.message}`);
      })).trim();
      if (!token) throw new Error(`--token-file ${this.tokenFile} is empty`);
      return { token, source: `--token-file ${this.tokenFile}` };
    }
    const c = this.cached;
    if (!fresh && c && (c.expiresAt === undefined || c.expiresAt - EXPIRY_MARGIN_MS > Date.now())) return c;
    this.cached = await kubeconfigToken(this.kubeconfig);
    return this.cached;
  }
}
