// What the fd and io probes read of every process of a namespace: its open descriptors (and
// how many are sockets) and its /proc/<pid>/io counters. The native addon reads the processes
// of every namespace asked for at the same time in one pool job; without it, the same files
// are read here.
import { readdirSync, readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { nativeAddon } from '../native/addon.js';
import { turnBatcher } from '../util/turn-batch.js';
import { readText } from './read.js';

export interface IoCounters {
  syscr: number;
  syscw: number;
  read_bytes: number;
  write_bytes: number;
}

export interface PidStats {
  pid: number;
  /** Open descriptors and socket descriptors; undefined with `fdError` when /proc/<pid>/fd could not be listed. */
  fds?: { fds: number; sockets: number };
  fdError?: string;
  /** undefined with `ioError` (the errno name) when /proc/<pid>/io could not be read. */
  io?: IoCounters;
  ioError?: string;
}

const IO_FIELDS = ['syscr', 'syscw', 'read_bytes', 'write_bytes'] as const;
/** Numbers per pid in the addon's answer: io errno, fd errno, fds, sockets, then IO_FIELDS. */
const ROW = 8;
const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const errnoName = (n: number): string => errnoNames.get(n) ?? `errno ${n}`;

export async function pidStats(pids: readonly number[], procRoot = '/proc'): Promise<PidStats[]> {
  const read = nativeAddon().addon?.procPidStats;
  if (!read) return Promise.all(pids.map((pid) => pidStatsInJs(pid, procRoot)));
  const rows = await batchedRead(procRoot, pids);
  return pids.map((pid, i) => {
    const r = rows.subarray(i * ROW, (i + 1) * ROW);
    const out: PidStats = { pid };
    if (r[1]) out.fdError = errnoName(r[1]);
    else out.fds = { fds: r[2]!, sockets: r[3]! };
    if (r[0]) out.ioError = errnoName(r[0]);
    else out.io = { syscr: r[4]!, syscw: r[5]!, read_bytes: r[6]!, write_bytes: r[7]! };
    return out;
  });
}

/**
 * The rows of `pids`, read with those of every other namespace asked for in the same turn of
 * the event loop in one native call (one per proc root): a pool job per namespace cost more in
 * thread wake-ups than the reads.
 */
const batchedRead = turnBatcher<string, readonly number[], Float64Array>((asked) => {
  const read = nativeAddon().addon!.procPidStats!;
  for (const [procRoot, waiters] of asked) {
    let rows: Promise<Float64Array>;
    try {
      rows = read(procRoot, waiters.flatMap((w) => w.query));
    } catch (err) {
      for (const w of waiters) w.reject(err);
      continue;
    }
    rows.then((rows) => {
      let at = 0;
      for (const w of waiters) {
        w.resolve(rows.subarray(at * ROW, (at + w.query.length) * ROW));
        at += w.query.length;
      }
    }, (err) => waiters.forEach((w) => w.reject(err)));
  }
});

/** Parses "syscr: 12" lines. */
export function parseProcIo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [field, value] = line.split(':');
    if (field && value !== undefined) out.set(field, Number(value));
  }
  return out;
}

async function pidStatsInJs(pid: number, procRoot: string): Promise<PidStats> {
  const out: PidStats = { pid };
  try {
    const fields = parseProcIo(await readText(`${procRoot}/${pid}/io`));
    out.io = Object.fromEntries(IO_FIELDS.map((f) => [f, fields.get(f) ?? 0])) as unknown as IoCounters;
  } catch (e) {
    out.ioError = (e as NodeJS.ErrnoException).code ?? 'EIO';
  }
  const dir = `${procRoot}/${pid}/fd`;
  try {
    const names = readdirSync(dir);
    let sockets = 0;
    for (const n of names) {
      try {
        if (readlinkSync(`${dir}/${n}`).startsWith('socket:')) sockets++;
      } catch {
        // closed meanwhile
      }
    }
    out.fds = { fds: names.length, sockets };
  } catch (e) {
    out.fdError = (e as NodeJS.ErrnoException).code ?? 'EIO';
  }
  return out;
}
