// The servers' certificate and key, read from files and read again when they change on disk
// (cert-manager renewals, Secret volume updates that swap a symlink). The check is a stat of
// both files as each connection arrives, before its handshake, so the next handshake after a
// change presents the new certificate. A pair that does not load (a key that does not match
// the certificate while a renewal is half written) is logged once and the last good pair stays.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../log.js';

export interface CertificateInfo {
  certFile: string;
  subject: string;
  /** SANs as the certificate lists them. */
  altNames: string;
  notAfter: string;
  sha256: string;
  loadedAt: string;
  /** Why the files on disk now are not in use (the previous pair is). */
  error: string | null;
}

interface Pair {
  cert: Buffer;
  key: Buffer;
}

/** A file rewritten within this long of our read may change again within the same timestamp tick: compare contents until it is older. */
const RACY_MS = 2000;

/** What changes when a file is rewritten or replaced (a symlink followed, as Secret volumes need). */
const identity = (path: string, key: string): string => {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (err) {
    throw new Error(`server.tls.${key} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
};

export class ReloadingCertificate {
  private pair: Pair;
  private loadedIdentity: string;
  private readAt = 0;
  private info: Omit<CertificateInfo, 'error'>;
  private failedIdentity?: string;
  private error: string | null = null;

  /** Reads and checks the pair now; throws a one-line error naming the file. */
  constructor(private readonly certFile: string, private readonly keyFile: string, private readonly log: Logger) {
    this.loadedIdentity = this.identity();
    this.pair = this.read();
    this.readAt = Date.now();
    this.info = this.describe(this.pair);
  }

  /** The options for https.createServer. */
  get options(): Pair {
    return this.pair;
  }

  status(): CertificateInfo {
    return { ...this.info, error: this.error };
  }

  /**
   * Called as a connection arrives, before its handshake: if the files changed, the server's
   * context is replaced, so this very connection gets the new pair.
   */
  refresh(server: HttpsServer): void {
    let id: string;
    try {
      id = this.identity();
    } catch (err) {
      return this.failed('missing', (err as Error).message);
    }
    const racy = Date.now() - this.readAt < RACY_MS;
    if (id === this.loadedIdentity && !racy) return;
    if (id === this.failedIdentity) return;
    let pair: Pair;
    try {
      pair = this.read();
    } catch (err) {
      return this.failed(id, (err as Error).message);
    }
    this.readAt = Date.now();
    this.loadedIdentity = id;
    if (pair.cert.equals(this.pair.cert) && pair.key.equals(this.pair.key)) return;
    server.setSecureContext(pair);
    this.pair = pair;
    this.info = this.describe(pair);
    this.failedIdentity = undefined;
    this.error = null;
    this.log.info('TLS certificate reloaded', { file: this.certFile, subject: this.info.subject, notAfter: this.info.notAfter });
  }

  private failed(id: string, message: string): void {
    if (id === this.failedIdentity) return;
    this.failedIdentity = id;
    this.error = message;
    this.log.error('TLS certificate not reloaded, the previous one stays in use', { error: message });
  }

  private identity(): string {
    return `${identity(this.certFile, 'cert_file')}/${identity(this.keyFile, 'key_file')}`;
  }

  /** Both files, checked to form a usable pair. */
  private read(): Pair {
    const file = (path: string, what: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new Error(`server.tls.${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    const pair = { cert: file(this.certFile, 'cert_file'), key: file(this.keyFile, 'key_file') };
    try {
      createSecureContext(pair);
      new X509Certificate(pair.cert);
    } catch (err) {
      throw new Error(`server.tls: ${this.certFile} and ${this.keyFile} do not form a certificate and its key: ${(err as Error).message}`);
    }
    return pair;
  }

  private describe(pair: Pair): Omit<CertificateInfo, 'error'> {
    const x = new X509Certificate(pair.cert);
    return {
      certFile: this.certFile,
      subject: x.subject.replace(/\n/g, ', '),
      altNames: x.subjectAltName ?? '',
      notAfter: new Date(x.validTo).toISOString(),
      sha256: x.fingerprint256,
      loadedAt: new Date().toISOString(),
    };
  }
}
