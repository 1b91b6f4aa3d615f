// Whether the backend answers, as a sink's log should tell it: one line when pushes start
// failing, one when they get through again, nothing for every retry in between.
import type { Logger } from '../log.js';

export interface ReachabilityChange {
  reachable: boolean;
  /** The URL of the attempt (absent when there was no address to try). */
  url?: string;
  /** Unreachable: why (`connection`, `timeout`, `resolve`, `http_503`, `no_address`, ...). */
  reason?: string;
  error?: string;
  /** Reachable again: how long it was not, ms. */
  downForMs?: number;
}

export class Reachability {
  /** Unknown until the first attempt: a failure then counts as a change, a success does not. */
  private state: 'unknown' | 'up' | 'down' = 'unknown';
  private downSince = 0;

  constructor(private readonly onChange?: (c: ReachabilityChange) => void) {}

  /** A final answer (2xx, or a status the protocol does not retry): the backend is there. */
  answered(url: string): void {
    if (this.state === 'down') this.emit({ reachable: true, url, downForMs: Date.now() - this.downSince });
    this.state = 'up';
  }

  /** No answer, or one asking to try again later. */
  failed(url: string | undefined, reason: string, error: string): void {
    if (this.state === 'down') return;
    this.state = 'down';
    this.downSince = Date.now();
    this.emit({ reachable: false, url, reason, error });
  }

  private emit(c: ReachabilityChange): void {
    try {
      this.onChange?.(c);
    } catch {
      // A hook must not break delivery.
    }
  }
}

/**
 * The one-line-each-way log of a push sink (`what`: e.g. `loki`, `remote write`), with how many
 * events wait for it when `queued` tells.
 */
export function logReachability(log: Logger, what: string, queued?: () => number): (c: ReachabilityChange) => void {
  return (c) => {
    const q = queued ? { queued: queued() } : {};
    if (c.reachable) log.info(`${what}: backend reachable again`, { url: c.url, down_for_ms: c.downForMs, ...q });
    else log.warn(`${what}: backend unreachable, retrying`, { url: c.url, reason: c.reason, error: c.error, ...q });
  };
}
