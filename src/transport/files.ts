// Credentials and certificates read from files at every push, so that a rotated Secret applies
// without a restart. A stat per push is the whole cost while nothing changes.
import type { BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

interface Entry {
  key: string;
  data: Buffer;
  /** Wall clock (ns) when the content was read. */
  readAtNs: bigint;
  mtimeNs: bigint;
}

/**
 * File timestamps move in clock ticks (milliseconds to seconds, by filesystem): a file
 * rewritten with the same size within the tick of our read would look unchanged. As git does
 * for its index, a cached copy is trusted only once the file was already this old when read.
 */
const RACY_NS = 2_000_000_000n;

const identity = (s: BigIntStats) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;

export class FileCache {
  private readonly entries = new Map<string, Entry>();

  /** The file's content (following symlinks, as Kubernetes' Secret volumes need); throws when it cannot be read. */
  async read(path: string): Promise<Buffer> {
    const readAtNs = BigInt(Date.now()) * 1_000_000n;
    const st = await stat(path, { bigint: true });
    const e = this.entries.get(path);
    if (e && e.key === identity(st) && e.mtimeNs + RACY_NS < e.readAtNs) return e.data;
    const data = await readFile(path);
    // Unchanged content keeps its Buffer, so callers can compare by reference.
    const kept = e && e.data.equals(data) ? e.data : data;
    this.entries.set(path, { key: identity(st), data: kept, readAtNs, mtimeNs: st.mtimeNs });
    return kept;
  }
}
