// Binding the agent's HTTP servers: dual-stack where the node has IPv6, else IPv4 only.
import type { Server } from 'node:http';

function bind(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Listens on `port` of every address (`host` when given); the error names the port and why. */
export async function listen(server: Server, port: number, what: string, host?: string): Promise<void> {
  try {
    if (host) await bind(server, port, host);
    else {
      await bind(server, port, '::').catch((e: NodeJS.ErrnoException) =>
        e.code === 'EAFNOSUPPORT' || e.code === 'EADDRNOTAVAIL' ? bind(server, port, '0.0.0.0') : Promise.reject(e));
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`${what}: cannot listen on port ${port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`);
  }
}
