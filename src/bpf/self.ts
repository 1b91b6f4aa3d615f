// The agent's own sockets (native/bpf/self.bpf.c): the sockets its process connects and those
// accepted on its listening ports. Loaded before any probe, its own_sockets map is shared with
// every probe object loaded after it, so that no probe reports the agent's own traffic: its
// pushes to Loki, OTLP and remote write, its API watches, the scrapes it serves.
import { BpfProbe, shareMap } from './probe.js';

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

export class OwnSockets {
  private readonly kernel: BpfProbe;
  /** `netns:port` of the listening ports recorded now. */
  private listening = new Set<string>();

  constructor(pid = process.pid) {
    this.kernel = new BpfProbe('self', 'own_ports', undefined, { self_tgid: u32(pid) });
  }

  /** Loads the object and shares its map with the objects loaded after it; returns why it cannot. */
  start(): string | undefined {
    const why = this.kernel.unsupported();
    if (why) return why;
    shareMap('own_sockets', this.kernel.mapFd('own_sockets'));
    return undefined;
  }

  /** The agent's listening ports (in the namespace `netns`): connections accepted on them are its own. */
  setListening(netns: number, ports: readonly number[]): string | undefined {
    const next = new Set(ports.map((p) => `${netns}:${p}`));
    const key = (k: string) => {
      const [ns, port] = k.split(':').map(Number);
      return Buffer.concat([u32(ns!), u32(port!)]);
    };
    for (const k of this.listening) if (!next.has(k)) this.kernel.deleteFromMap('own_ports', key(k));
    for (const k of next) {
      const why = this.kernel.updateMap('own_ports', key(k), Buffer.from([1]));
      if (why) return why;
    }
    this.listening = next;
    return undefined;
  }

  stop(): void {
    shareMap('own_sockets', undefined);
    this.kernel.close();
    this.listening.clear();
  }
}
