// The one way a config change is applied. Every running part of the agent (the collector, the
// HTTP servers, each event sink, each metric pusher, each eBPF event source, the checks) is a
// Component that owns a section of the config. On every (re)load its section is compared with
// the one it runs with; it is then left alone, updated in place, built, replaced or closed. A
// replacement is built before the old instance is closed, so a build that fails (a bad
// setting, a port in use) keeps the old instance running, and the failure is reported.
import { isDeepStrictEqual } from 'node:util';

export interface Component<S, T> {
  /** Where its section is in the config, for messages (e.g. `event_config.sinks.loki`). */
  readonly name: string;
  /** Builds an instance for `settings`; `previous` is the instance it will replace, if any. */
  build(settings: S, previous: T | undefined): Promise<T>;
  /** Applies changed settings to a running instance when it can; false: it must be replaced. */
  update?(instance: T, settings: S, previous: S): boolean | Promise<boolean>;
  /** Stops an instance; `replacedBy` is set when a new instance took over from it. */
  close(instance: T, replacedBy?: T): Promise<void>;
}

export class Reconciled<S, T> {
  private current?: { settings: S; instance: T };
  /** Why the last apply failed, as one line naming the section (the previous instance, if any, keeps running); cleared by a success. */
  error?: string;
  /** The same failure without the section's name. */
  cause?: string;

  constructor(readonly component: Component<S, T>) {}

  get instance(): T | undefined {
    return this.current?.instance;
  }

  /**
   * Brings the component in line with `settings` (undefined: off). Resolves with the failure
   * as one line naming the section, or undefined when applied; never rejects.
   */
  async apply(settings: S | undefined): Promise<string | undefined> {
    const c = this.component;
    const cur = this.current;
    try {
      if (settings === undefined) {
        this.current = undefined;
        this.succeeded();
        if (cur) await c.close(cur.instance);
        return undefined;
      }
      if (cur && isDeepStrictEqual(cur.settings, settings)) return this.succeeded();
      // Kept as given, not copied: a config is never changed once loaded (each reload parses a
      // new one), and a copy would lose what a section may carry beside its keys (the OTLP
      // section remembers which keys its file set).
      if (cur && c.update && (await c.update(cur.instance, settings, cur.settings))) {
        this.current = { settings, instance: cur.instance };
        return this.succeeded();
      }
      const instance = await c.build(settings, cur?.instance);
      this.current = { settings, instance };
      this.succeeded();
      if (cur) await c.close(cur.instance, instance);
      return undefined;
    } catch (err) {
      this.cause = (err as Error).message;
      this.error = `${c.name}: ${this.cause}${this.current ? ' (the previous settings stay in use)' : ''}`;
      return this.error;
    }
  }

  private succeeded(): undefined {
    this.error = this.cause = undefined;
    return undefined;
  }

  /** Closes the running instance (the agent stops). */
  async close(): Promise<void> {
    await this.apply(undefined);
  }
}

/** Applies every component, each even when another fails; resolves with the failures. */
export async function applyAll(steps: readonly (() => Promise<string | undefined | string[]>)[]): Promise<string[]> {
  const failures: string[] = [];
  for (const step of steps) {
    const r = await step().catch((e: Error) => e.message);
    if (Array.isArray(r)) failures.push(...r);
    else if (r) failures.push(r);
  }
  return failures;
}
