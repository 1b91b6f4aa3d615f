// A sink's disk spool: the events of its queue, kept in append-only segment files so that an
// agent restart or a queue too small for an outage loses nothing. Each event gets a sequence
// number; the lane acknowledges the oldest one it still holds, and segments wholly below that
// are deleted. Writes happen off the publisher's path: append() only buffers, a timer writes
// the buffer and fsyncs once per flush (batched). Frames carry a CRC-32, so a segment cut short
// by a crash or corrupted on disk is detected; the rest of it is skipped and counted.
//
// Frame: u32 LE payload length, u32 LE CRC-32 of the payload, payload (JSON: seq, enqueue time,
// record with its bigints as {"$bigint": "..."}). Segment file: `<first seq, 16 digits>.seg`.
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { open, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventRecord } from './model.js';

export interface SpoolOptions {
  /** The sink's own directory (created if missing). */
  dir: string;
  /** Bytes of segments and unwritten buffer at most; past it appends are refused. */
  maxBytes: number;
  /** A segment is closed and a new one started past this size (default: maxBytes / 8, 64 KiB..16 MiB). */
  segmentBytes?: number;
  /** How often the buffer is written and fsynced, ms (default 200). */
  flushMs?: number;
  /** Told when writing starts failing (full disk, I/O error) and when it works again: one line each. */
  onState?: (ok: boolean, message: string) => void;
}

export interface SpoolStatus {
  dir: string;
  /** `ok`, or the last write error while writes fail. */
  state: string;
  bytes: number;
  maxBytes: number;
  segments: number;
  /** Events appended and not yet acknowledged. */
  pending: number;
  writeErrors: number;
  /** Segments found cut short (a crash mid-write) or corrupted, whose rest was skipped. */
  damagedSegments: number;
}

/** Events the spool lost, reported to the lane for its counters. */
export interface SpoolLoss {
  /** Appended but not written (full disk, I/O error): [first sequence, count] of each failed write. */
  writeFailed: Array<[number, number]>;
  /** Skipped in a damaged segment. */
  corrupt: number;
}

export interface SpooledRecord {
  seq: number;
  at: number;
  record: EventRecord;
}

const HEADER = 8;
/** A frame longer than this is taken for corruption (a record is a few KiB at most). */
const MAX_FRAME = 16 << 20;
const SEG = /^(\d{16})\.seg$/;
const ACK_FILE = 'ack';
/** Writes must work this long after the last failure before the spool says it recovered, ms. */
const RECOVERED_AFTER_MS = 2000;

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (IEEE), as zlib and gzip compute it. */
export function crc32(b: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function encodeFrame(seq: number, at: number, record: EventRecord): Buffer {
  const json = JSON.stringify({ seq, at, record }, (_k, v) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
  const payload = Buffer.from(json, 'utf8');
  const frame = Buffer.allocUnsafe(HEADER + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  payload.copy(frame, HEADER);
  return frame;
}

/** The frames of a segment up to the first damaged one; `end` is where the good part ends. */
function decodeFrames(buf: Buffer): { frames: SpooledRecord[]; ends: number[]; end: number; damaged: boolean } {
  const frames: SpooledRecord[] = [];
  const ends: number[] = [];
  let off = 0;
  const result = (damaged: boolean) => ({ frames, ends, end: off, damaged });
  while (off < buf.length) {
    if (buf.length - off < HEADER) return result(true);
    const len = buf.readUInt32LE(off);
    if (len > MAX_FRAME || buf.length - off - HEADER < len) return result(true);
    const payload = buf.subarray(off + HEADER, off + HEADER + len);
    if (crc32(payload) !== buf.readUInt32LE(off + 4)) return result(true);
    try {
      const v = JSON.parse(payload.toString('utf8'), (_k, x) => (x && typeof x === 'object' && typeof x.$bigint === 'string' ? BigInt(x.$bigint) : x)) as SpooledRecord;
      if (!Number.isSafeInteger(v.seq) || typeof v.record?.timeUnixNano !== 'bigint') return result(true);
      frames.push(v);
    } catch {
      return result(true);
    }
    off += HEADER + len;
    ends.push(off);
  }
  return result(false);
}

const segName = (first: number) => `${String(first).padStart(16, '0')}.seg`;

interface Segment {
  first: number;
  bytes: number;
}

export class Spool {
  /** Segments oldest first; the last one is written to. */
  private segments: Segment[] = [];
  private nextSeq = 0;
  private ackedSeq = 0;
  private persistedAck = -1;
  private buffer: Buffer[] = [];
  private bufferFirst = 0;
  private bufferBytes = 0;
  private diskBytes = 0;
  private handle?: FileHandle;
  private handleFirst = -1;
  private flushing: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private failing?: string;
  private lastFailureAt = 0;
  private lastWriteOk = true;
  private writeErrors = 0;
  private damagedSegments = 0;
  private closed = false;
  /** Reader position: the next frame of a segment, to continue without rescanning. */
  private cursor?: { first: number; offset: number; seq: number };
  private pendingLoss: SpoolLoss = { writeFailed: [], corrupt: 0 };
  private readonly segmentBytes: number;
  /** Called after a write failed, so the owner counts the loss now rather than at its next send. */
  onLoss?: () => void;

  /**
   * Opens (or creates) the spool in `dir`: reads the acknowledgement, drops segments wholly
   * acknowledged, and checks the last segment, cutting off a damaged tail (counted). Synchronous:
   * done when the sink is built, never on the publisher's path. Throws with the path on an
   * unusable directory.
   */
  constructor(private readonly opts: SpoolOptions) {
    this.segmentBytes = opts.segmentBytes ?? Math.min(16 << 20, Math.max(64 << 10, Math.floor(opts.maxBytes / 8)));
    mkdirSync(opts.dir, { recursive: true });
    for (const name of readdirSync(opts.dir)) {
      const m = SEG.exec(name);
      if (m) this.segments.push({ first: Number(m[1]), bytes: statSync(join(opts.dir, name)).size });
    }
    this.segments.sort((a, b) => a.first - b.first);
    try {
      this.ackedSeq = Number(readFileSync(join(opts.dir, ACK_FILE), 'utf8').trim()) || 0;
    } catch {
      this.ackedSeq = this.segments[0]?.first ?? 0;
    }
    this.persistedAck = this.ackedSeq;
    const last = this.segments.at(-1);
    this.nextSeq = this.ackedSeq;
    if (last) {
      const path = join(opts.dir, segName(last.first));
      const { frames, end, damaged } = decodeFrames(readFileSync(path));
      if (damaged) {
        // A crash mid-write leaves a partial frame: cut it off so appends continue on good data.
        this.damagedSegments++;
        const fd = openSync(path, 'r+');
        try { ftruncateSync(fd, end); } finally { closeSync(fd); }
        last.bytes = end;
      }
      this.nextSeq = Math.max(this.ackedSeq, frames.length > 0 ? frames.at(-1)!.seq + 1 : last.first);
    }
    this.removeAcked();
    this.diskBytes = this.segments.reduce((n, s) => n + s.bytes, 0);
    this.bufferFirst = this.nextSeq;
    this.timer = setInterval(() => void this.flush(), opts.flushMs ?? 200);
    this.timer.unref();
  }

  get dir(): string { return this.opts.dir; }
  /** The sequence number the next append gets. */
  get next(): number { return this.nextSeq; }
  /** Every event before this one is done (delivered or given up). */
  get acked(): number { return this.ackedSeq; }

  /**
   * Buffers one event for the next flush and returns its sequence number; undefined when the
   * spool is full (`maxBytes`) or closed. Never waits.
   */
  append(record: EventRecord, at: number): number | undefined {
    if (this.closed) return undefined;
    const frame = encodeFrame(this.nextSeq, at, record);
    if (this.diskBytes + this.bufferBytes + frame.length > this.opts.maxBytes) return undefined;
    if (this.buffer.length === 0) this.bufferFirst = this.nextSeq;
    this.buffer.push(frame);
    this.bufferBytes += frame.length;
    return this.nextSeq++;
  }

  /** Events before `seq` are done: segments holding only such events are deleted at the next flush. */
  ack(seq: number): void {
    if (seq > this.ackedSeq) this.ackedSeq = Math.min(seq, this.nextSeq);
  }

  /** Losses found since the last call (write failures, damaged segments). */
  takeLoss(): SpoolLoss {
    const l = this.pendingLoss;
    this.pendingLoss = { writeFailed: [], corrupt: 0 };
    return l;
  }

  /** Writes the buffer (one write, one fsync), stores the acknowledgement, deletes acknowledged segments. */
  flush(): Promise<void> {
    const run = this.flushing.then(() => this.flushNow());
    this.flushing = run.catch(() => {});
    return this.flushing;
  }

  /**
   * Up to `max` events from `from` on, in order, as written so far (the buffer is flushed
   * first). `end`: the sequence after the last event written or lost, so a caller reading
   * nothing knows where to go on from.
   */
  async read(from: number, max: number): Promise<{ records: SpooledRecord[]; end: number }> {
    await this.flush();
    const end = this.bufferFirst; // everything before is on disk or lost
    const out: SpooledRecord[] = [];
    let seq = Math.max(from, this.segments[0]?.first ?? end);
    while (out.length < max && seq < end) {
      const i = this.segmentOf(seq);
      if (i < 0) {
        seq = end;
        break;
      }
      const seg = this.segments[i]!;
      const segEnd = Math.min(end, this.segments[i + 1]?.first ?? end);
      const part = await this.readSegment(seg, seq, max - out.length);
      for (const f of part.records) if (f.seq < end) out.push(f);
      if (part.damaged) {
        // The rest of this segment is unreadable: its events up to the next segment are lost.
        this.damagedSegments++;
        this.pendingLoss.corrupt += Math.max(0, segEnd - part.next);
        this.cursor = undefined;
        seq = segEnd;
      } else if (part.atEnd) {
        seq = Math.max(part.next, segEnd);
      } else {
        seq = part.next;
      }
    }
    return { records: out, end: out.length > 0 ? out.at(-1)!.seq + 1 : Math.max(from, Math.min(seq, end)) };
  }

  status(): SpoolStatus {
    return {
      dir: this.opts.dir, state: this.failing ?? 'ok', bytes: this.diskBytes + this.bufferBytes, maxBytes: this.opts.maxBytes,
      segments: this.segments.length, pending: this.nextSeq - this.ackedSeq, writeErrors: this.writeErrors, damagedSegments: this.damagedSegments,
    };
  }

  /** Writes what is buffered and the acknowledgement; later appends are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    await this.flush();
    this.closed = true;
    await this.handle?.close().catch(() => {});
    this.handle = undefined;
  }

  private segmentOf(seq: number): number {
    let found = -1;
    for (let i = 0; i < this.segments.length && this.segments[i]!.first <= seq; i++) found = i;
    return found;
  }

  /** Frames of `seg` from `seq` on (at most `max`), continuing from the cursor when it is there. */
  private async readSegment(seg: Segment, seq: number, max: number): Promise<{ records: SpooledRecord[]; next: number; damaged: boolean; atEnd: boolean }> {
    let offset = 0;
    let next = seg.first;
    const c = this.cursor;
    if (c && c.first === seg.first && c.seq <= seq) ({ offset, seq: next } = c);
    const size = seg.bytes; // what is known written; a flush running meanwhile only appends
    const buf = Buffer.allocUnsafe(Math.max(0, size - offset));
    if (buf.length > 0) {
      const fh = await open(join(this.opts.dir, segName(seg.first)), 'r');
      try {
        await fh.read(buf, 0, buf.length, offset);
      } finally {
        await fh.close();
      }
    }
    const { frames, ends, damaged } = decodeFrames(buf);
    const records: SpooledRecord[] = [];
    let pos = 0;
    let k = 0;
    for (; k < frames.length && records.length < max; k++) {
      const f = frames[k]!;
      next = f.seq + 1;
      pos = ends[k]!;
      if (f.seq >= seq) records.push(f);
    }
    this.cursor = { first: seg.first, offset: offset + pos, seq: next };
    const all = k === frames.length;
    return { records, next, damaged: all && damaged, atEnd: all && !damaged };
  }

  private async flushNow(): Promise<void> {
    if (this.buffer.length > 0) {
      const frames = this.buffer;
      let first = this.bufferFirst;
      this.buffer = [];
      this.bufferBytes = 0;
      this.bufferFirst = first + frames.length;
      // One write and one fsync per segment touched: the buffer is cut where a segment fills up.
      let room = this.roomInSegment();
      let chunk: Buffer[] = [];
      let chunkBytes = 0;
      for (let i = 0; i <= frames.length; i++) {
        const f = frames[i];
        if (f && (chunk.length === 0 || chunkBytes + f.length <= room)) {
          chunk.push(f);
          chunkBytes += f.length;
          continue;
        }
        await this.writeChunk(first, chunk);
        first += chunk.length;
        room = this.roomInSegment();
        chunk = f ? [f] : [];
        chunkBytes = f ? f.length : 0;
      }
    }
    await this.persistAck();
    await this.deleteAcked();
    // Near a full disk a small write may fit between failures: recovered only after a quiet spell.
    if (this.failing && this.lastWriteOk && Date.now() - this.lastFailureAt >= RECOVERED_AFTER_MS) {
      this.failing = undefined;
      this.opts.onState?.(true, 'spool writes work again');
    }
  }

  private roomInSegment(): number {
    const seg = this.segments.at(-1);
    return seg && seg.bytes < this.segmentBytes ? this.segmentBytes - seg.bytes : this.segmentBytes;
  }

  private async writeChunk(first: number, chunk: Buffer[]): Promise<void> {
    if (chunk.length === 0) return;
    try {
      await this.writeOut(first, Buffer.concat(chunk));
      this.lastWriteOk = true;
    } catch (err) {
      this.lastWriteOk = false;
      this.writeErrors++;
      this.pendingLoss.writeFailed.push([first, chunk.length]);
      const message = `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${(err as Error).message}`;
      if (!this.failing) this.opts.onState?.(false, message);
      this.failing = message;
      this.lastFailureAt = Date.now();
      this.onLoss?.();
    }
  }

  /** One write and one fsync; on failure the segment is cut back to its last good size. */
  private async writeOut(first: number, data: Buffer): Promise<void> {
    let seg = this.segments.at(-1);
    if (!seg || seg.bytes >= this.segmentBytes) {
      seg = { first, bytes: 0 };
      this.segments.push(seg);
    }
    if (!this.handle || this.handleFirst !== seg.first) {
      await this.handle?.close().catch(() => {});
      this.handle = await open(join(this.opts.dir, segName(seg.first)), 'a');
      this.handleFirst = seg.first;
    }
    const before = seg.bytes;
    try {
      // A full disk first shows as a short write, then as ENOSPC: write until all is down.
      for (let off = 0; off < data.length;) {
        const { bytesWritten } = await this.handle.write(data, off, data.length - off);
        if (bytesWritten <= 0) throw Object.assign(new Error('no space left on device (nothing written)'), { code: 'ENOSPC' });
        off += bytesWritten;
      }
      await this.handle.datasync();
      seg.bytes += data.length;
      this.diskBytes += data.length;
    } catch (err) {
      // Keep the segment whole: a partial frame would read as damage and hide the events after it.
      await this.handle.truncate(before).catch(() => {});
      throw err;
    }
  }

  private async persistAck(): Promise<void> {
    if (this.ackedSeq === this.persistedAck) return;
    const value = this.ackedSeq;
    const tmp = join(this.opts.dir, `${ACK_FILE}.tmp`);
    try {
      await writeFile(tmp, `${value}\n`);
      await rename(tmp, join(this.opts.dir, ACK_FILE));
      this.persistedAck = value;
    } catch {
      // A full disk: the previous acknowledgement stays, and at worst events are sent twice.
    }
  }

  /** Deletes segments whose every event is acknowledged; the one being written too once all of it is (a full disk gets its room back). */
  private async deleteAcked(): Promise<void> {
    const last = this.segments.at(-1);
    if (last && this.segments.length === 1 && this.ackedSeq >= this.bufferFirst && last.bytes > 0) {
      await this.handle?.close().catch(() => {});
      this.handle = undefined;
      this.segments = [];
      this.diskBytes = 0;
      this.cursor = undefined;
      await unlink(join(this.opts.dir, segName(last.first))).catch(() => {});
      return;
    }
    while (this.segments.length > 1 && this.segments[1]!.first <= this.ackedSeq) {
      const seg = this.segments.shift()!;
      this.diskBytes -= seg.bytes;
      if (this.cursor?.first === seg.first) this.cursor = undefined;
      await unlink(join(this.opts.dir, segName(seg.first))).catch(() => {});
    }
  }

  private removeAcked(): void {
    while (this.segments.length > 1 && this.segments[1]!.first <= this.ackedSeq) {
      const seg = this.segments.shift()!;
      try { unlinkSync(join(this.opts.dir, segName(seg.first))); } catch { /* already gone */ }
    }
  }
}
