// Follows the kernel log (/dev/kmsg) from where it stood when the reader opened: only lines
// logged since count, never the boot backlog. Reads are non-blocking and made on demand
// (each record is one read), so no thread ever sits blocked on the device.

import { closeSync, constants, openSync, readSync } from 'node:fs';

export interface KmsgRecord {
  /** syslog priority (0 emerg .. 7 debug) and facility (0 kernel, 1 user, ...). */
  level: number;
  facility: number;
  seq: number;
  /** Microseconds since boot. */
  usec: number;
  text: string;
}

/** Parses one /dev/kmsg record: `<prio>,<seq>,<usec>,<flags>[,...];<text>\n[ KEY=value\n...]`. */
export function parseKmsg(raw: string): KmsgRecord | undefined {
  const semi = raw.indexOf(';');
  if (semi < 0) return undefined;
  const [prio, seq, usec] = raw.slice(0, semi).split(',').map(Number);
  if (prio === undefined || Number.isNaN(prio)) return undefined;
  const nl = raw.indexOf('\n', semi);
  return { level: prio & 7, facility: prio >> 3, seq: seq ?? 0, usec: usec ?? 0, text: raw.slice(semi + 1, nl < 0 ? undefined : nl) };
}

export class KmsgReader {
  private fd: number | undefined;
  private readonly buf = Buffer.alloc(8192); // records are at most ~1 KiB (PRINTK_MESSAGE_MAX 2 KiB)
  /** Records lost because the ring buffer wrapped before we read them. */
  lost = 0;

  constructor(private readonly path = '/dev/kmsg') {}

  /** Opens the log and skips what is already in it. Throws if /dev/kmsg cannot be opened (no CAP_SYSLOG, no device). */
  open(): void {
    if (this.fd !== undefined) return;
    this.fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    this.read(); // discard the backlog
  }

  /** Every record logged since the last call. */
  read(): KmsgRecord[] {
    if (this.fd === undefined) this.open();
    const records: KmsgRecord[] = [];
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd!, this.buf, 0, this.buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break; // caught up
        if (code === 'EPIPE') { // the ring overwrote records we had not read; the next read resumes at the oldest kept
          this.lost++;
          continue;
        }
        if (code === 'EINTR') continue;
        throw err;
      }
      if (n === 0) break;
      const rec = parseKmsg(this.buf.toString('utf8', 0, n));
      if (rec) records.push(rec);
    }
    return records;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
