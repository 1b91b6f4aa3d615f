// A throwaway CA and server certificates made with openssl in a test's directory.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  certFile: string;
  keyFile: string;
  pem: string;
}

export interface TestCert {
  certFile: string;
  keyFile: string;
  /** SHA-256 fingerprint as X509Certificate.fingerprint256 gives it. */
  fingerprint: string;
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });

export function makeCa(dir: string, name = 'kubesonar test CA'): TestCa {
  const keyFile = join(dir, 'ca.key');
  const certFile = join(dir, 'ca.crt');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  return { certFile, keyFile, pem: readFileSync(certFile, 'utf8') };
}

/** A server certificate for `cn`, signed by `ca`, valid for 127.0.0.1, ::1 and localhost; written to `<dir>/<file>.crt|.key`. */
export function makeCert(dir: string, ca: TestCa, cn: string, file = cn): TestCert {
  const keyFile = join(dir, `${file}.key`);
  const csr = join(dir, `${file}.csr`);
  const certFile = join(dir, `${file}.crt`);
  const ext = join(dir, `${file}.ext`);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '1', '-extfile', ext]);
  return { certFile, keyFile, fingerprint: new X509Certificate(readFileSync(certFile)).fingerprint256 };
}
