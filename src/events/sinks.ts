// The event sinks the config asks for, kept in step with it: on every (re)load, a sink whose
// settings changed is replaced (its queued events move to the new instance), a sink turned
// off is removed, and the others are left alone, so a reload never loses their events.
// A sink that cannot be built (bad setting, port in use) keeps its previous instance running
// and is reported; it does not stop the other sinks from being applied.
//
// Covers the event sinks: stdout, the live stream, Loki, OTLP logs. The metric pushers (OTLP
// metrics, remote write) are not event sinks; the agent runs them next to its telemetry.
import { isDeepStrictEqual } from 'node:util';
import type { EventConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { EventSink } from './model.js';
import type { EventPipeline, SinkOptions } from './pipeline.js';
import { StdoutSink } from '../sinks/stdout.js';
import { StreamSink } from '../sinks/stream.js';
import { LokiSink } from '../sinks/loki/index.js';
import { OtlpLogSink } from '../sinks/otlp/index.js';
import { logReachability } from '../transport/index.js';
import type { Writable } from 'node:stream';

export type SinkKind = 'stdout' | 'stream' | 'loki' | 'otlp';

/** Pipeline queue and batch settings of the sinks whose config has none. */
export const SINK_OPTIONS: Record<Exclude<SinkKind, 'loki'>, Partial<SinkOptions>> = {
  stdout: { batchMaxEvents: 100, batchMaxWaitMs: 200, maxQueueEvents: 10_000 },
  // Live viewing: short waits; batches well under a client's buffer (see StreamSink).
  stream: { batchMaxEvents: 200, batchMaxWaitMs: 50, maxQueueEvents: 10_000 },
  otlp: { batchMaxEvents: 512, batchMaxWaitMs: 1000, maxQueueEvents: 10_000 },
};

export interface EventSinksDeps {
  nodeName: string;
  log: Logger;
  /** OTEL_EXPORTER_OTLP_* for the OTLP sink (default process.env). */
  env?: Record<string, string | undefined>;
  /** Where the stream server listens (default '::'). */
  streamHost?: string;
  /** Where the stdout sink writes (default process.stdout). */
  stdout?: Writable;
}

interface Built {
  sink: EventSink;
  options: Partial<SinkOptions>;
}

interface Kind {
  /** The settings this sink is built from; undefined when it is off. A change rebuilds it. */
  settings(c: EventConfig): unknown;
  build(c: EventConfig): Promise<Built>;
  /** Settings that apply to a running instance without rebuilding it. */
  update?(sink: EventSink, c: EventConfig): void;
}

export class EventSinks {
  private readonly current = new Map<SinkKind, { settings: unknown; sink: EventSink }>();
  private readonly kinds: Record<SinkKind, Kind>;
  private readonly errors = new Map<SinkKind, string>();

  constructor(private readonly pipeline: EventPipeline, private readonly deps: EventSinksDeps) {
    this.kinds = {
      stdout: {
        settings: (c) => (c.sinks.stdout.enabled ? c.sinks.stdout : undefined),
        build: async (c) => ({ sink: new StdoutSink({ format: c.sinks.stdout.format, out: deps.stdout }), options: SINK_OPTIONS.stdout }),
      },
      stream: {
        // The server follows enableEventServer and the port; client limits apply in place.
        settings: (c) => (c.enabled ? { port: c.port } : undefined),
        build: async (c) => {
          const s = c.sinks.stream;
          const sink = new StreamSink({ maxClients: s.max_clients, clientBufferEvents: s.client_buffer_events });
          try {
            await sink.listen(c.port, deps.streamHost);
          } catch (err) {
            await sink.close();
            throw err;
          }
          deps.log.info('event stream listening', { port: sink.address?.port, path: '/events' });
          return { sink, options: SINK_OPTIONS.stream };
        },
        update: (sink, c) => (sink as StreamSink).configure({
          maxClients: c.sinks.stream.max_clients, clientBufferEvents: c.sinks.stream.client_buffer_events,
        }),
      },
      loki: {
        settings: (c) => (c.sinks.loki.enabled ? c.sinks.loki : undefined),
        build: async (c) => {
          const l = c.sinks.loki;
          const sink = new LokiSink(l, { node: deps.nodeName, logger: deps.log });
          return { sink, options: { batchMaxEvents: l.batch_max_events, batchMaxWaitMs: l.batch_max_wait_ms, maxQueueEvents: l.max_queue_events } };
        },
      },
      otlp: {
        settings: (c) => (c.sinks.otlp.enabled && c.sinks.otlp.logs ? c.sinks.otlp : undefined),
        build: async (c) => {
          const o = c.sinks.otlp;
          // The normalized section as is: logs_endpoint already holds the file > env > default choice.
          const sink = new OtlpLogSink({
            config: o, nodeName: deps.nodeName, env: deps.env,
            onError: (message) => deps.log.warn('otlp log sink', { error: message }),
            onReachability: logReachability(deps.log, 'otlp log sink'),
          });
          return { sink, options: SINK_OPTIONS.otlp };
        },
      },
    };
  }

  /**
   * Brings the sinks in line with `config`. Resolves once every change is applied; returns
   * one line per sink that could not be built (its previous instance, if any, keeps running).
   */
  apply(config: EventConfig): Promise<string[]> {
    // One apply at a time: a reload arriving mid-apply waits instead of racing the first.
    const run = this.chain.then(() => this.applyNow(config));
    this.chain = run.then(() => {}, () => {});
    return run;
  }

  private chain: Promise<void> = Promise.resolve();

  private async applyNow(config: EventConfig): Promise<string[]> {
    const problems: string[] = [];
    for (const [kind, k] of Object.entries(this.kinds) as [SinkKind, Kind][]) {
      const settings = structuredClone(k.settings(config));
      const cur = this.current.get(kind);
      if (settings === undefined) {
        this.errors.delete(kind);
        if (cur) {
          this.current.delete(kind);
          await this.pipeline.removeSink(cur.sink.name);
          this.deps.log.info('event sink removed', { sink: kind });
        }
        continue;
      }
      if (cur && isDeepStrictEqual(cur.settings, settings)) {
        k.update?.(cur.sink, config);
        continue;
      }
      try {
        const built = await k.build(config);
        this.pipeline.setSink(built.sink, built.options); // replaces `cur`, moving its queue
        this.current.set(kind, { settings, sink: built.sink });
        this.errors.delete(kind);
        this.deps.log.info(cur ? 'event sink replaced' : 'event sink added', { sink: kind });
      } catch (err) {
        const line = `event_config.sinks.${kind}: ${(err as Error).message}${cur ? ' (the previous settings stay in use)' : ''}`;
        this.errors.set(kind, line);
        problems.push(line);
        this.deps.log.error('event sink not applied', { sink: kind, error: (err as Error).message });
      }
    }
    return problems;
  }

  /** The running stream server, e.g. for its address and clients in /status. */
  get stream(): StreamSink | undefined {
    return this.current.get('stream')?.sink as StreamSink | undefined;
  }

  /** For /status: each sink's counters, the stream's clients, and sinks that could not be built. */
  status(): { sinks: ReturnType<EventPipeline['stats']>; streamClients: ReturnType<StreamSink['clientInfo']>; errors: string[] } {
    return { sinks: this.pipeline.stats(), streamClients: this.stream?.clientInfo() ?? [], errors: [...this.errors.values()] };
  }
}
