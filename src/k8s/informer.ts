// Keeps a local copy of the objects at one API path: list, then watch from the list's
// resourceVersion; relist on 410 Gone; on any failure retry with capped, jittered backoff.
// Lists are read in pages (500 objects by default, as client-go's reflector does), so a huge
// collection (50 000 pods) is never one response that must fit the body bound at once.
// What happened is in status() and, once per change of state, in the log.
import type { Logger } from '../log.js';
import { KubeApiError, type KubeClient, type KubeObject, type ListOptions } from './client.js';

/** Objects per list page unless `limit` says otherwise. */
export const DEFAULT_PAGE_SIZE = 500;

/** How one informer is doing, for /status. */
export interface InformerStatus {
  path: string;
  synced: boolean;
  objects: number;
  /** Lists made (the first, after every 410 Gone, after every failure). */
  lists: number;
  /** Watches the server answered 410 Gone (history compacted): each cost a relist. */
  gone: number;
  /** Watches that ended within a second (a proxy closing them): each re-watched after a backoff. */
  shortWatches: number;
  /** The failure of the current streak; absent once a list or watch succeeds again. */
  error?: string;
  failingSinceUnixMs?: number;
}

export interface InformerOptions extends ListOptions {
  /** Server-side watch duration, s (default 300). */
  watchTimeoutSeconds?: number;
  /** Backoff after a failure, ms: doubles from min to max, with jitter (default 500..30 000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called with the whole cache after every change (and after each successful list). */
  onChange?: (objects: readonly KubeObject[]) => void;
  /** Called on every failed list or watch, with the delay before the next attempt. */
  onError?: (err: Error, retryInMs: number) => void;
  /** Where a failure streak's start and end, a 410 relist and closed watches are logged (once each). */
  log?: Logger;
}

export const objectKey = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly abort = new AbortController();
  private running?: Promise<void>;
  private synced = false;
  private waiters: Array<() => void> = [];
  private wake?: () => void;
  private readonly stats: InformerStatus;

  constructor(
    private readonly client: KubeClient,
    readonly path: string,
    private readonly opts: InformerOptions = {},
  ) {
    this.stats = { path, synced: false, objects: 0, lists: 0, gone: 0, shortWatches: 0 };
  }

  status(): InformerStatus {
    return { ...this.stats, synced: this.synced, objects: this.cache.size };
  }

  start(): this {
    this.running ??= this.loop();
    return this;
  }

  /** True once a list succeeded. */
  get hasSynced(): boolean {
    return this.synced;
  }

  objects(): T[] {
    return [...this.cache.values()];
  }

  /** Resolves after the first successful list, or false after `timeoutMs`. */
  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(done);
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    let rv: string | undefined;
    while (!signal.aborted) {
      let delay = 0;
      try {
        if (rv === undefined) rv = await this.relist();
        failures = 0;
        const started = Date.now();
        for await (const ev of this.client.watch<T>(this.path, rv, { ...this.opts, timeoutSeconds: this.opts.watchTimeoutSeconds, signal })) {
          this.recovered();
          rv = ev.object.metadata?.resourceVersion ?? rv;
          if (ev.type === 'BOOKMARK') continue;
          const key = objectKey(ev.object);
          if (ev.type === 'DELETED') this.cache.delete(key);
          else this.cache.set(key, ev.object);
          this.changed();
        }
        // The server ended the watch (timeout): watch again from the last version seen, but
        // not in a tight loop if something in between closes every watch at once.
        if (Date.now() - started < 1000) {
          delay = this.opts.minBackoffMs ?? 500;
          if (this.stats.shortWatches++ === 0) this.opts.log?.warn('Kubernetes watch ended at once: re-watching after a backoff each time', { path: this.path, backoff_ms: delay });
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeApiError && err.gone) {
          rv = undefined; // history compacted: the only way back is a fresh list
          this.stats.gone++;
          this.opts.log?.info('Kubernetes resourceVersion expired (410 Gone): listing again', { path: this.path, error: err.message });
          continue;
        }
        rv = undefined;
        failures++;
        const min = this.opts.minBackoffMs ?? 500;
        const max = this.opts.maxBackoffMs ?? 30_000;
        const base = Math.min(max, min * 2 ** (failures - 1));
        delay = Math.round(base / 2 + (Math.random() * base) / 2);
        this.failed(err as Error, delay);
        this.opts.onError?.(err as Error, delay);
      }
      if (delay > 0 && !signal.aborted) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    }
  }

  private failed(err: Error, retryInMs: number): void {
    if (this.stats.error === undefined) {
      this.stats.failingSinceUnixMs = Date.now();
      this.opts.log?.warn('Kubernetes list/watch failing: keeping the last objects, retrying with backoff', { path: this.path, error: err.message, retry_in_ms: retryInMs });
    }
    this.stats.error = err.message;
  }

  private recovered(): void {
    if (this.stats.error === undefined) return;
    this.opts.log?.info('Kubernetes list/watch works again', { path: this.path, failed_for_ms: Date.now() - this.stats.failingSinceUnixMs!, error: this.stats.error });
    delete this.stats.error;
    delete this.stats.failingSinceUnixMs;
  }

  private async relist(): Promise<string> {
    this.stats.lists++;
    const list = await this.client.list<T>(this.path, { limit: DEFAULT_PAGE_SIZE, ...this.opts, signal: this.abort.signal });
    this.recovered();
    this.cache.clear();
    for (const item of list.items) this.cache.set(objectKey(item), item);
    this.synced = true;
    for (const w of this.waiters.splice(0)) w();
    this.changed();
    return list.metadata.resourceVersion;
  }

  private changed(): void {
    try {
      this.opts.onChange?.(this.objects());
    } catch {
      /* a consumer's bug must not stop the informer */
    }
  }
}
