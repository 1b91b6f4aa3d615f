// Retry timing shared by the push sinks. Which answers deserve another attempt is each
// protocol's business (RetryPolicy.retryable); how long to wait between attempts is not.

export interface RetryPolicy {
  /** Whether an HTTP status is worth another attempt (the protocols differ). */
  retryable(status: number): boolean;
  /** The n-th retry (from 0) waits a random time in [0, min(max, min * 2^n)] ms. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /**
   * A credentials file that cannot be read: try again until the deadline (a Secret being
   * remounted; the default), or give up at once with reason `credentials`.
   */
  retryCredentials?: boolean;
}

/**
 * Exponential backoff with full jitter: a whole DaemonSet retries against the same backend
 * when it comes back, and spreading the waits over the whole interval (rather than around
 * its middle) keeps those agents from arriving in waves.
 */
export function backoffMs(retry: number, policy: Pick<RetryPolicy, 'minBackoffMs' | 'maxBackoffMs'>, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxBackoffMs, policy.minBackoffMs * 2 ** Math.min(Math.max(0, retry), 30));
  return Math.round(random() * Math.max(0, cap));
}

/** `Retry-After` in ms: delta-seconds or an HTTP date (a date in the past means now). */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  // Hundreds of digits would be an Infinity wait: the longest a number of ms can say is long enough.
  if (/^\s*\d+\s*$/.test(v)) return Math.min(Number(v) * 1000, Number.MAX_SAFE_INTEGER);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
