// What the Loki receiver got during a soak, without keeping it: each event counted once.
import { createHash } from 'node:crypto';
import type { LokiReceiver } from '../../test/helpers/loki-receiver.js';

/** The events the Loki receiver accepted, counted once each (a batch re-sent after a cut answer is not counted twice). */
export class LokiTally {
  received = 0;
  duplicates = 0;
  // Two generations of keys, rotated: a re-send comes within minutes, and the harness must not grow with the run.
  private current = new Set<string>();
  private previous = new Set<string>();
  private rotatedAt = Date.now();

  constructor(private readonly loki: LokiReceiver) {}

  /** Takes what the receiver holds (it keeps every push otherwise). */
  drain(): void {
    for (const push of this.loki.pushes.splice(0)) {
      for (const stream of push.streams) {
        for (const e of stream.entries) {
          const key = `${e.ns}:${createHash('sha1').update(e.line).digest('base64')}`;
          if (this.current.has(key) || this.previous.has(key)) this.duplicates++;
          else {
            this.current.add(key);
            this.received++;
          }
        }
      }
    }
    if (Date.now() - this.rotatedAt > 5 * 60_000) {
      this.previous = this.current;
      this.current = new Set();
      this.rotatedAt = Date.now();
    }
  }
}
