// The HTTP side of an OTLP/HTTP signal: the shared push transport with the signal's URL,
// timeout, headers and TLS files, and OTLP's retry rule.
import { checkTlsFiles, HttpTransport, type ReachabilityChange } from '../../transport/index.js';
import { OTLP_RETRYABLE, type ResolvedOtlp } from './config.js';

/** Throws when a certificate file cannot be read now: a configuration error, reported when the sink is built. */
export function otlpTransport(s: ResolvedOtlp, backoff: { minBackoffMs: number; maxBackoffMs: number }, onReachability?: (c: ReachabilityChange) => void): HttpTransport {
  checkTlsFiles(s.tls);
  return new HttpTransport({
    target: s.url, timeoutMs: s.timeoutMs, tls: s.tls, auth: { headers: s.headers },
    retry: { retryable: OTLP_RETRYABLE, ...backoff },
    onReachability,
  });
}
