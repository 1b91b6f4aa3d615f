// Events on standard output: one KCE-style JSON object per line (what `kubectl logs` and log
// shippers pick up), or aligned text for a human. The agent's own log goes to stderr.
import type { Writable } from 'node:stream';
import type { EventRecord, EventSink, SendResult } from '../events/model.js';
import { toJsonLine, toTextLine, viewOf } from '../events/format.js';
import { bool, oneOf, section, type ConfigSection } from '../util/schema.js';

/** event_config.sinks.stdout */
export interface StdoutSinkConfig {
  enabled: boolean;
  /** `json`: one KCE-style JSON object per line; `text`: one aligned line for humans. */
  format: 'json' | 'text';
}

export const STDOUT_SECTION: ConfigSection<StdoutSinkConfig> = {
  defaults: { enabled: true, format: 'json' },
  schema: section('Events on standard output', {
    enabled: bool('Print events', true),
    format: oneOf(['json', 'text'], 'json', 'json: one KCE-style JSON object per line; text: aligned lines for humans'),
  }),
};

export interface StdoutSinkOptions {
  format?: 'json' | 'text';
  /** Default process.stdout. */
  out?: Writable;
}

export class StdoutSink implements EventSink {
  readonly name = 'stdout';
  private readonly out: Writable;
  private readonly format: 'json' | 'text';

  constructor(opts: StdoutSinkOptions = {}) {
    this.out = opts.out ?? process.stdout;
    this.format = opts.format ?? 'json';
  }

  async send(batch: readonly EventRecord[]): Promise<SendResult> {
    const lines = batch.map((r) => (this.format === 'json' ? toJsonLine(r) : toTextLine(viewOf(r)))).join('\n') + '\n';
    if (this.out.destroyed || !this.out.writable) return { delivered: 0, dropped: { stdout_closed: batch.length } };
    // Wait for a full pipe to drain: the pipeline then buffers (bounded) instead of this stream (unbounded).
    const ok = await new Promise<boolean>((resolve) => {
      const onError = () => resolve(false);
      this.out.once('error', onError);
      const flushed = this.out.write(lines, (err) => {
        if (err) resolve(false);
      });
      if (flushed) {
        this.out.off('error', onError);
        resolve(true);
      } else {
        this.out.once('drain', () => {
          this.out.off('error', onError);
          resolve(true);
        });
      }
    });
    return ok ? { delivered: batch.length } : { delivered: 0, dropped: { stdout_error: batch.length } };
  }

  async close(): Promise<void> {
    // process.stdout is never ended; other streams are the caller's to end.
  }
}
