// Part of `npm run fuzz -- --capture`: the raw answers (status line, headers, body) of a real
// Prometheus remote-write receiver to a good write, a body that is not snappy, a sample out of
// order and one too old, as seeds of the remote-write answer parser (test/fixtures/http/).
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import snappy from 'snappyjs';
import { encodeWriteRequest, type TimeSeries } from '../src/sinks/remote-write/proto.js';
import { fixture } from './paths.js';

const freePort = (): Promise<number> => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as AddressInfo;
    s.close(() => resolve(port));
  });
});

/** One request on a fresh connection; resolves with the answer's bytes as they came. */
function exchange(port: number, method: string, path: string, headers: Record<string, string>, body: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const head = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', `Content-Length: ${body.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    sock.on('connect', () => sock.end(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), body])));
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
  });
}

export async function captureRemoteWrite(log: (line: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonar-capture-'));
  const port = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'), 'global: {}\n');
  const prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--web.enable-remote-write-receiver'], { stdio: 'ignore' });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = await exchange(port, 'GET', '/-/ready', {}, new Uint8Array()).catch(() => Buffer.alloc(0));
      if (ready.toString('latin1').startsWith('HTTP/1.1 200')) break;
      if (Date.now() > deadline) throw new Error('prometheus did not become ready within 30 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const headers = { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' };
    const now = Date.now();
    const series = (t: number): TimeSeries[] => [{ labels: [{ name: '__name__', value: 'netexporter_tcp_outrsts' }, { name: 'netns', value: 'ns1' }], samples: [{ value: 7, timestamp: t }] }];
    const write = (t: number) => snappy.compress(encodeWriteRequest(series(t), []));
    const answers: Record<string, Buffer> = {
      'remote-write-204.http': await exchange(port, 'POST', '/api/v1/write', headers, write(now)),
      'remote-write-400-out-of-order.http': await exchange(port, 'POST', '/api/v1/write', headers, write(now - 1000)),
      'remote-write-400-too-old.http': await exchange(port, 'POST', '/api/v1/write', headers, write(now - 48 * 3600_000)),
      'remote-write-400-not-snappy.http': await exchange(port, 'POST', '/api/v1/write', headers, Buffer.from('not snappy')),
    };
    mkdirSync(fixture('http'), { recursive: true });
    for (const [file, bytes] of Object.entries(answers)) {
      writeFileSync(fixture('http', file), bytes);
      log(`capture: ${file}: ${bytes.toString('latin1').split('\r\n')[0]}`);
    }
  } finally {
    prometheus.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
