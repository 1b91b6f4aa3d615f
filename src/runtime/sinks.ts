// The event sinks the config asks for, each a reconciled component of the pipeline: a sink
// whose section changed is replaced (its queued events move to the new instance), a sink
// turned off is removed, and the others are left alone, so a reload never loses their events.
//
// Covers the event sinks: stdout, the live stream, Loki, OTLP logs. The metric pushers (OTLP
// metrics, remote write) are in pushers.ts.
import type { Writable } from 'node:stream';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { EventConfig, ServerConfig } from '../config/index.js';
import type { KubeClient } from '../k8s/index.js';
import type { EventSink } from '../events/model.js';
import type { EventPipeline, SinkOptions, SpoolSettings } from '../events/pipeline.js';
import type { Logger } from '../log.js';
import { LokiSink } from '../sinks/loki/index.js';
import { OtlpLogSink } from '../sinks/otlp/index.js';
import { StdoutSink } from '../sinks/stdout.js';
import { SERVER_SECTION } from '../exporters/server-config.js';
import { StreamSink } from '../sinks/stream.js';
import { logReachability } from '../transport/index.js';
import { Reconciled, type Component } from './reconcile.js';

export type SinkKind = 'stdout' | 'stream' | 'loki' | 'otlp';

/** Pipeline queue and batch settings of the sinks whose config has none. */
export const SINK_OPTIONS: Record<Exclude<SinkKind, 'loki'>, Partial<SinkOptions>> = {
  stdout: { batchMaxEvents: 100, batchMaxWaitMs: 200, maxQueueEvents: 10_000 },
  // Live viewing: short waits; batches well under a client's buffer (see StreamSink).
  stream: { batchMaxEvents: 200, batchMaxWaitMs: 50, maxQueueEvents: 10_000 },
  otlp: { batchMaxEvents: 512, batchMaxWaitMs: 1000 },
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
  /** The API client of the stream's kubernetes auth mode (default: in-cluster). */
  kube?: () => Promise<KubeClient>;
}

/** The stream server's settings: its port, the `server` section (TLS, auth, limits) and its client limits. */
interface StreamSettings {
  port: number;
  server: ServerConfig;
  max_clients: number;
  client_buffer_events: number;
}

interface SinkKindSpec<S> {
  /** Its section; undefined when it is off. */
  section(c: EventConfig): S | undefined;
  build(s: S): Promise<{ sink: EventSink; options: Partial<SinkOptions> }>;
  /** Settings a running instance takes without being rebuilt. */
  update?(sink: EventSink, s: S, previous: S): boolean | Promise<boolean>;
}

export class EventSinks {
  private readonly parts: [SinkKind, SinkKindSpec<any>, Reconciled<any, EventSink>][];

  constructor(private readonly pipeline: EventPipeline, private readonly deps: EventSinksDeps) {
    const kinds: Record<SinkKind, SinkKindSpec<any>> = {
      stdout: {
        section: (c) => (c.sinks.stdout.enabled ? c.sinks.stdout : undefined),
        build: async (s: EventConfig['sinks']['stdout']) => ({ sink: new StdoutSink({ format: s.format, out: deps.stdout }), options: SINK_OPTIONS.stdout }),
      },
      stream: {
        // The server follows enableEventServer, the port and the `server` section; client limits apply in place.
        section: (c): StreamSettings | undefined => (c.enabled ? { port: c.port, server: this.server, ...c.sinks.stream } : undefined),
        build: async (s: StreamSettings) => {
          const sink = new StreamSink({ maxClients: s.max_clients, clientBufferEvents: s.client_buffer_events, log: deps.log, kube: deps.kube });
          try {
            await sink.listen(s.port, deps.streamHost, s.server);
          } catch (err) {
            await sink.close();
            throw err;
          }
          deps.log.info('event stream listening', { port: sink.address?.port, path: '/events', auth: sink.serverStatus().auth, tls: s.server.tls.cert_file !== '' });
          return { sink, options: SINK_OPTIONS.stream };
        },
        update: async (sink, s: StreamSettings, previous: StreamSettings) => {
          if (s.port !== previous.port) return false;
          const stream = sink as StreamSink;
          // TLS, auth and limits on the same port: the server is reconfigured in place (a rebuilt sink could not bind the port it holds).
          if (!isDeepStrictEqual(s.server, previous.server)) await stream.listen(s.port, deps.streamHost, s.server);
          stream.configure({ maxClients: s.max_clients, clientBufferEvents: s.client_buffer_events });
          return true;
        },
      },
      loki: {
        section: (c) => (c.sinks.loki.enabled ? c.sinks.loki : undefined),
        build: async (l: EventConfig['sinks']['loki']) => ({
          sink: new LokiSink(l, { node: deps.nodeName, logger: deps.log, onReachability: logReachability(deps.log, 'loki', this.queued('loki')) }),
          options: {
            batchMaxEvents: l.batch_max_events, batchMaxWaitMs: l.batch_max_wait_ms,
            maxQueueEvents: l.max_queue_events, maxQueueBytes: l.max_queue_bytes, maxAgeMs: l.max_age_ms, spool: this.spool('loki', l),
          },
        }),
      },
      otlp: {
        section: (c) => (c.sinks.otlp.enabled && c.sinks.otlp.logs ? c.sinks.otlp : undefined),
        // The normalized section as is: logs_endpoint already holds the file > env > default choice.
        build: async (o: EventConfig['sinks']['otlp']) => ({
          sink: new OtlpLogSink({
            config: o, nodeName: deps.nodeName, env: deps.env,
            onError: (message) => deps.log.warn('otlp log sink', { error: message }), onReachability: logReachability(deps.log, 'otlp log sink', this.queued('otlp')),
          }),
          options: { ...SINK_OPTIONS.otlp, maxQueueEvents: o.max_queue_events, maxQueueBytes: o.max_queue_bytes, maxAgeMs: o.max_age_ms, spool: this.spool('otlp', o) },
        }),
      },
    };
    this.parts = (Object.entries(kinds) as [SinkKind, SinkKindSpec<any>][]).map(([kind, spec]) => [kind, spec, new Reconciled(this.component(kind, spec, deps.log))]);
  }

  /** The sink's disk spool, in its own directory under `spool_dir`; a state change is logged. */
  private spool(sink: string, s: { spool_dir: string; spool_max_bytes: number }): SpoolSettings | undefined {
    if (!s.spool_dir) return undefined;
    const dir = join(s.spool_dir, sink);
    return {
      dir, maxBytes: s.spool_max_bytes,
      onState: (ok, message) => (ok ? this.deps.log.info('event spool: writes work again', { sink, dir })
        : this.deps.log.error('event spool: writes fail, events that do not fit in memory are dropped', { sink, dir, error: message })),
    };
  }

  /** How many events wait for a sink (queued and in flight). */
  private queued(sink: string): () => number {
    return () => {
      const s = this.pipeline.stats()[sink];
      return s ? s.queued + s.inFlight : 0;
    };
  }

  /** A sink kind as a component of the pipeline: setSink replaces (and retires) the previous instance. */
  private component<S>(kind: SinkKind, spec: SinkKindSpec<S>, log: Logger): Component<S, EventSink> {
    return {
      name: `event_config.sinks.${kind}`,
      build: async (s, previous) => {
        const { sink, options } = await spec.build(s);
        this.pipeline.setSink(sink, options); // moves the queue of `previous` and retires it
        log.info(previous ? 'event sink replaced' : 'event sink added', { sink: kind });
        return sink;
      },
      update: spec.update && ((sink, s, previous) => spec.update!(sink, s, previous)),
      close: async (sink, replacedBy) => {
        if (replacedBy) return;
        await this.pipeline.removeSink(sink.name);
        log.info('event sink removed', { sink: kind });
      },
    };
  }

  /**
   * Brings the sinks in line with `config` (and the stream server with `server`); one line
   * per sink that could not be built (its previous instance keeps running).
   */
  apply(config: EventConfig, server: ServerConfig = SERVER_SECTION.defaults): Promise<string[]> {
    this.server = server;
    // One apply at a time: a reload arriving mid-apply waits instead of racing the first.
    const run = this.chain.then(async () => {
      const problems: string[] = [];
      for (const [kind, spec, part] of this.parts) {
        const problem = await part.apply(spec.section(config));
        if (!problem) continue;
        problems.push(problem);
        this.deps.log.error('event sink not applied', { sink: kind, error: problem });
      }
      return problems;
    });
    this.chain = run.then(() => {}, () => {});
    return run;
  }

  private chain: Promise<void> = Promise.resolve();
  private server: ServerConfig = SERVER_SECTION.defaults;

  /** The running stream server, e.g. for its address and clients in /status. */
  get stream(): StreamSink | undefined {
    return this.parts.find(([kind]) => kind === 'stream')?.[2].instance as StreamSink | undefined;
  }

  /** For /status: each sink's counters, the stream's clients, and sinks that could not be built. */
  status(): { sinks: Record<string, unknown>; streamClients: ReturnType<StreamSink['clientInfo']>; errors: string[] } {
    const stats = this.pipeline.stats();
    const details = Object.fromEntries(this.parts.flatMap(([, , part]) => (part.instance?.status ? [[part.instance.name, part.instance.status()]] : [])));
    return {
      sinks: Object.fromEntries(Object.entries(stats).map(([name, s]) => [name, { ...s, ...details[name] }])),
      streamClients: this.stream?.clientInfo() ?? [],
      errors: this.parts.flatMap(([, , part]) => (part.error ? [part.error] : [])),
    };
  }
}
