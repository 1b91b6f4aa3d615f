// Hot reload of the config file. Kubernetes updates a mounted ConfigMap by writing a new
// timestamped directory and atomically renaming the `..data` symlink onto it; the visible
// `config.yaml` is a symlink through `..data`, so its own inode never changes and a watch on
// the file sees nothing. We therefore watch the directory, debounce the burst of events a
// swap produces, re-read, and compare normalized configs. A slow poll covers lost events
// (inotify overflow, the directory being replaced, filesystems without notifications).

import { EventEmitter } from 'node:events';
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, loadConfigFile } from './load.js';
import type { AgentConfig } from './load.js';

export interface ConfigWatcherOptions {
  /** The config the agent is running with (loaded at start, e.g. by loadConfigFile). */
  initial: AgentConfig;
  /** Quiet time after the last fs event before re-reading. Default 200 ms. */
  debounceMs?: number;
  /** Re-read this often even without fs events; 0 disables. Default 10 s. Like fs.watch, the
   *  watcher keeps the process alive until close(). */
  pollMs?: number;
  /** A missing file means defaults (no --config given), not an error. */
  missingOk?: boolean;
}

export type ConfigWatcherEvents = {
  /** The normalized config differs from the previous good one. */
  change: [next: AgentConfig, previous: AgentConfig];
  /** The file cannot be used; `current` keeps the last good config. Emitted once per distinct error. */
  invalid: [error: ConfigError];
  /** The file is usable again after `invalid` (also when it went back to the current config). */
  valid: [];
};

export class ConfigWatcher extends EventEmitter<ConfigWatcherEvents> {
  readonly path: string;
  #current: AgentConfig;
  readonly #dir: string;
  readonly #debounceMs: number;
  readonly #missingOk: boolean;
  #fsWatcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  readonly #poll: NodeJS.Timeout | undefined;
  /** Passes run one at a time; `#pending` is the not-yet-started pass new requests join. */
  #chain: Promise<void> = Promise.resolve();
  #pending: Promise<void> | undefined;
  /** Last error reported, so a bad file that stays bad is not reported on every poll. */
  #lastInvalid: string | undefined;
  /** The file's text at the last load, or `\u0000<errno code>` when it could not be read. */
  #lastText: string | undefined;
  #closed = false;

  constructor(path: string, options: ConfigWatcherOptions) {
    super();
    this.path = path;
    this.#current = options.initial;
    this.#dir = dirname(path);
    this.#debounceMs = options.debounceMs ?? 200;
    this.#missingOk = options.missingOk ?? false;
    this.#watchDirectory();
    const pollMs = options.pollMs ?? 10_000;
    if (pollMs > 0) {
      this.#poll = setInterval(() => {
        if (!this.#fsWatcher) this.#watchDirectory(); // the directory may exist again
        void this.reload();
      }, pollMs);
    }
  }

  /** The last good config. */
  get current(): AgentConfig {
    return this.#current;
  }

  /** Re-reads now (e.g. on SIGHUP); resolves once a pass that started after this call is done. Never rejects. */
  reload(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (!this.#pending) {
      const pass = this.#chain.then(() => {
        this.#pending = undefined;
        return this.#check();
      });
      this.#pending = pass;
      this.#chain = pass;
    }
    return this.#pending;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#debounce);
    clearInterval(this.#poll);
    this.#fsWatcher?.close();
    this.#fsWatcher = undefined;
  }

  #watchDirectory(): void {
    try {
      const w = watch(this.#dir, () => this.#schedule());
      // E.g. the directory was removed: drop the watch; the poll re-creates it later.
      w.on('error', () => {
        w.close();
        if (this.#fsWatcher === w) this.#fsWatcher = undefined;
      });
      this.#fsWatcher = w;
    } catch {
      // Directory missing or not watchable: the poll still notices changes.
      this.#fsWatcher = undefined;
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.reload(), this.#debounceMs);
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    // The same text (or the same reason it cannot be read, a missing file included) loads to the
    // same config or the same error as last time: a poll of an unchanged file stops here, so the
    // schema validator is not kept compiled for it (1.6 MB of heap, compiled again in 160 ms when
    // the file does change). A NUL never starts a config's text.
    const text = await readFile(this.path, 'utf8').catch((err: NodeJS.ErrnoException) => `\u0000${err.code ?? String(err)}`);
    if (text === this.#lastText) return;
    let next: AgentConfig;
    try {
      this.#lastText = text;
      next = await loadConfigFile(this.path, { missingOk: this.#missingOk });
    } catch (err) {
      const error = err instanceof ConfigError ? err : new ConfigError(this.path, [String(err)]);
      if (!this.#closed && error.message !== this.#lastInvalid) {
        this.#lastInvalid = error.message;
        this.#emitSafely('invalid', error);
      }
      return;
    }
    if (this.#lastInvalid !== undefined && !this.#closed) {
      this.#lastInvalid = undefined;
      this.#emitSafely('valid');
    }
    if (this.#closed || isDeepStrictEqual(next, this.#current)) return;
    const previous = this.#current;
    this.#current = next;
    this.#emitSafely('change', next, previous);
  }

  /** A throwing listener must not break the reload loop; surface it as a process warning. */
  #emitSafely<K extends keyof ConfigWatcherEvents>(event: K, ...args: ConfigWatcherEvents[K]): void {
    try {
      // Generic K defeats EventEmitter's typed overloads; the signature above keeps callers typed.
      (this.emit as EventEmitter['emit'])(event, ...args);
    } catch (err) {
      process.emitWarning(`config watcher: a "${event}" listener threw: ${(err as Error)?.stack ?? String(err)}`);
    }
  }
}
