// The connection to the push target: one undici Client (an HTTP/1.1 keep-alive pool) pinned
// to the address its host name resolved to. The name is resolved again every `refreshMs` and
// after a connection error; when the address (or the target, or a TLS file) changes, a new
// Client takes over and the old one is closed once its requests in flight are done. undici
// alone would keep a keep-alive socket to the old address for as long as traffic flows,
// which is how a Service whose pods moved keeps receiving nothing.
import { lookup as osLookup } from 'node:dns/promises';
import { accessSync, constants } from 'node:fs';
import { isIP, type LookupFunction } from 'node:net';
import { Client } from './undici.js';
import type { FileCache } from './files.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}
/** Name resolution: one address, or several in the order to try them. */
export type Lookup = (hostname: string) => Promise<ResolvedAddress | readonly ResolvedAddress[]>;

export interface TlsOptions {
  /** PEM CA bundle trusted instead of the system roots. */
  caFile?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  certFile?: string;
  keyFile?: string;
  insecureSkipVerify?: boolean;
  /** SNI and the name the certificate must carry (default: the URL's host name). */
  serverName?: string;
}

/** Why an attempt could not even start; the attempt is retried like a connection error. */
export class ConnectFailure extends Error {
  constructor(readonly reason: 'resolve' | 'tls_files', message: string) {
    super(message);
  }
}

export const osResolver: Lookup = async (host) =>
  (await osLookup(host, { all: true })).map((r) => ({ address: r.address, family: r.family === 6 ? 6 : 4 }));

interface Material {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface Connection {
  readonly client: Client;
  readonly origin: string;
  /** Addresses pinned, comma-separated ('' for a literal IP). */
  readonly addresses: string;
  readonly material: Material;
  resolvedAt: number;
}

export interface PinnedConnectionOptions {
  lookup: Lookup;
  refreshMs: number;
  tls?: TlsOptions;
  files: FileCache;
  /** Connect timeout of new connections, ms. */
  connectTimeoutMs: number;
  /** A new host or address is in use (the first time, and at every change). */
  onAddress?: (url: URL, addresses: string) => void;
}

const unbracket = (host: string) => host.replace(/^\[|\]$/g, '');

const sameBuffer = (a?: Buffer, b?: Buffer) => a === b || (a !== undefined && b !== undefined && a.equals(b));

export class PinnedConnection {
  private conn?: Connection;
  private lastWhere = '';
  private closed = false;

  constructor(private readonly opts: PinnedConnectionOptions) {}

  /** A client for `url` as things are now; throws ConnectFailure. */
  async get(url: URL): Promise<Connection> {
    const now = Date.now();
    const cur = this.conn?.origin === url.origin ? this.conn : undefined;
    const literal = isIP(unbracket(url.hostname)) !== 0;
    const material = await this.material(url);
    if (cur && sameMaterial(cur.material, material) && (literal || now - cur.resolvedAt < this.opts.refreshMs)) return cur;

    let resolved: readonly ResolvedAddress[] = [];
    if (!literal) {
      try {
        const r = await this.opts.lookup(url.hostname);
        resolved = Array.isArray(r) ? r : [r as ResolvedAddress];
      } catch (err) {
        throw new ConnectFailure('resolve', `resolve ${url.hostname}: ${(err as Error).message}`);
      }
      if (resolved.length === 0) throw new ConnectFailure('resolve', `resolve ${url.hostname}: no address`);
    }
    const addresses = resolved.map((r) => r.address).join(', ');
    if (cur && cur.addresses === addresses && sameMaterial(cur.material, material)) {
      cur.resolvedAt = now;
      return cur;
    }
    // A lookup that outlived close() (the attempt gave up on it) must not open a new pool.
    if (this.closed) throw new ConnectFailure('resolve', 'closed');
    const next: Connection = { client: this.client(url, literal, resolved, material), origin: url.origin, addresses, material, resolvedAt: now };
    const old = this.conn;
    this.conn = next;
    const where = `${url.host} ${addresses}`;
    if (where !== this.lastWhere) {
      this.lastWhere = where;
      this.opts.onAddress?.(url, addresses || unbracket(url.hostname));
    }
    // Requests in flight on the old client finish there; new ones use the new client.
    if (old) void old.client.close().catch(() => {});
    return next;
  }

  /** The address may have moved (connection error, timeout): resolve again before the next attempt. */
  distrust(conn: Connection): void {
    conn.resolvedAt = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.conn;
    this.conn = undefined;
    await c?.client.destroy().catch(() => {});
  }

  /** The TLS files' contents now (https only), read through the cache so that rotation is seen. */
  private async material(url: URL): Promise<Material> {
    const tls = this.opts.tls;
    if (url.protocol !== 'https:' || !tls) return {};
    const read = async (path: string | undefined, what: string) => {
      if (!path) return undefined;
      try {
        return await this.opts.files.read(path);
      } catch (err) {
        throw new ConnectFailure('tls_files', `${what} ${path}: ${(err as Error).message}`);
      }
    };
    return {
      ca: await read(tls.caFile, 'CA certificate'),
      cert: await read(tls.certFile, 'client certificate'),
      key: await read(tls.keyFile, 'client key'),
    };
  }

  private client(url: URL, literal: boolean, resolved: readonly ResolvedAddress[], m: Material): Client {
    // Connections go to the addresses just resolved: undici's own lookup would happen only
    // when a socket is opened, outside our control.
    const pinned: LookupFunction | undefined = resolved.length === 0 ? undefined : (_host, options, cb) => {
      if ((options as { all?: boolean }).all) {
        (cb as unknown as (e: null, all: ResolvedAddress[]) => void)(null, [...resolved]);
      } else {
        cb(null, resolved[0]!.address, resolved[0]!.family);
      }
    };
    const tls = this.opts.tls;
    return new Client(url.origin, {
      connect: {
        timeout: this.opts.connectTimeoutMs,
        lookup: pinned,
        ...(url.protocol === 'https:' ? {
          ca: m.ca, cert: m.cert, key: m.key,
          rejectUnauthorized: !tls?.insecureSkipVerify,
          // SNI carries names only, never an IP literal.
          servername: tls?.serverName ?? (literal ? undefined : url.hostname),
        } : {}),
      },
      // An idle socket is kept at most a minute whatever the server hints; the address itself
      // is checked every refreshMs regardless of keep-alive.
      keepAliveMaxTimeout: 60_000,
    });
  }
}

function sameMaterial(a: Material, b: Material): boolean {
  return sameBuffer(a.ca, b.ca) && sameBuffer(a.cert, b.cert) && sameBuffer(a.key, b.key);
}

/**
 * Throws `CA certificate <path>: ...` (or client certificate, client key) for a TLS file that
 * cannot be read now: for sinks that treat that as a configuration error when they are built.
 */
export function checkTlsFiles(tls: TlsOptions | undefined): void {
  for (const [path, what] of [[tls?.caFile, 'CA certificate'], [tls?.certFile, 'client certificate'], [tls?.keyFile, 'client key']] as const) {
    if (!path) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      throw new Error(`${what} ${path}: ${(err as Error).message}`);
    }
  }
}
