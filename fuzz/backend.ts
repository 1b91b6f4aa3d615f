// A loopback HTTP/1.1 backend that writes fuzzed answers as raw bytes (so a broken status
// line, headers or framing reach the client's parser) and closes the connection.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** Answers each complete request (head and Content-Length body) with `answer(head)`, then closes. */
export class RawBackend {
  answer: (head: string) => Buffer = () => Buffer.alloc(0);
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  async start(): Promise<void> {
    this.server = createServer((sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => undefined);
      let got = Buffer.alloc(0);
      sock.on('data', (d) => {
        got = Buffer.concat([got, d]);
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = got.subarray(0, end).toString('latin1');
        const len = /content-length:\s*(\d+)/i.exec(head);
        if (got.length >= end + 4 + (len ? Number(len[1]) : 0)) sock.end(this.answer(head));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}
