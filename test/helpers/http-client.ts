// One GET over a fresh connection (no keep-alive pool, so every https request is a new
// handshake), for endpoint tests: the status, headers, the body (up to the first 64 KiB; a
// stream is cut after its headers) and the certificate the server presented.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface GetOptions {
  token?: string;
  headers?: Record<string, string>;
  /** https with this CA (PEM) trusted. */
  ca?: string | Buffer;
  host?: string;
  /** Resolve at the headers and close: for /events, which never ends. */
  headersOnly?: boolean;
  timeoutMs?: number;
}

export interface GetResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** SHA-256 fingerprint of the server certificate (https only). */
  fingerprint?: string;
}

export function httpGet(port: number, path: string, opts: GetOptions = {}): Promise<GetResult> {
  const headers = { ...opts.headers, ...(opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {}) };
  const common = { host: opts.host ?? '127.0.0.1', port, path, headers, agent: false as const };
  return new Promise((resolve, reject) => {
    const req = opts.ca !== undefined
      ? httpsRequest({ ...common, ca: opts.ca, servername: undefined }, onResponse)
      : httpRequest(common, onResponse);
    function onResponse(res: import('node:http').IncomingMessage) {
      const fingerprint = opts.ca !== undefined ? (res.socket as TLSSocket).getPeerCertificate().fingerprint256 : undefined;
      const result = (body: string): GetResult => ({ status: res.statusCode!, headers: res.headers, body, fingerprint });
      if (opts.headersOnly && res.statusCode === 200) {
        resolve(result(''));
        req.destroy();
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (body.length < 65536) body += d; });
      res.on('end', () => resolve(result(body)));
      res.on('error', reject);
    }
    req.on('error', reject);
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`GET ${path}: no answer within ${opts.timeoutMs ?? 10_000} ms`)));
    req.end();
  });
}
