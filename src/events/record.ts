// The record the pipeline makes of each event: the event as published plus its attribution
// (pod or host, the netns name, the node), with OTel log-record semantics. The attribute table
// and the event copy with its pod are built only when a sink asks for them (the OTLP sink, the
// stdout and stream sinks, the spool); the Loki sink walks the attributes in place with
// forEachAttribute. A queued record is then a handful of references instead of two more
// objects per event, which is most of what a full queue costs the garbage collector.
import type { PodRef } from '../model.js';
import { SEVERITY_NUMBER } from './model.js';
import type { EventRecord, NetEvent, Severity } from './model.js';

// Standard attribute keys; an event's own attrs cannot override the ones a record has.
export const EVENT_TYPE = 'event.type';
export const EVENT_PROBE = 'event.probe';
export const NODE = 'k8s.node.name';
export const NAMESPACE = 'k8s.namespace.name';
export const POD = 'k8s.pod.name';
export const NETNS = 'netns';
/** Set to "true" on events of the node's own network namespace (where host-network pods live). */
export const HOST_NETNS_ATTR = 'netns.host';
const STANDARD_ATTRS = new Set([EVENT_TYPE, EVENT_PROBE, NODE, NAMESPACE, POD, NETNS, HOST_NETNS_ATTR]);

/** Told each attribute of a record in order; `arg` is passed through (no closure per call). */
export type AttributeVisitor<A> = (key: string, value: string | number, arg: A) => void;

/**
 * An EventRecord as the pipeline makes it. Attribute order: event.type, event.probe,
 * k8s.node.name, then k8s.namespace.name and k8s.pod.name (attributed to a pod), netns (the
 * event has one), netns.host (the node's own namespace), then the event's own attrs, minus
 * the standard keys the record already has.
 */
export class AttributedRecord implements EventRecord {
  private attrsCache?: Record<string, string | number>;
  private eventCache?: NetEvent;

  constructor(
    /** The event as published (its `pod` as the probe set it). */
    readonly source: NetEvent,
    /** The pod the event belongs to: the probe's, or the one its netns resolved to. */
    readonly pod: PodRef | undefined,
    /** The event happened in the node's own network namespace. */
    readonly host: boolean,
    /** `ns<inode>`, when the event has a netns. */
    readonly netnsName: string | undefined,
    readonly nodeName: string,
  ) {}

  get timeUnixNano(): bigint {
    return this.source.timeUnixNano;
  }
  get severityText(): Severity {
    return this.source.severity;
  }
  get severityNumber(): number {
    return SEVERITY_NUMBER[this.source.severity] ?? 0;
  }
  get body(): string {
    return this.source.msg;
  }

  /** The event with its pod filled in (the published object itself when that changes nothing). */
  get event(): NetEvent {
    const e = this.source;
    if (this.pod === e.pod) return e;
    // Named fields, not a spread: V8 takes a slow path for spreads of objects with a bigint field.
    return (this.eventCache ??= {
      timeUnixNano: e.timeUnixNano, type: e.type, probe: e.probe, severity: e.severity,
      msg: e.msg, netns: e.netns, pod: this.pod, attrs: e.attrs,
    });
  }

  /** The OTel attribute table, built on first use and kept. */
  get attributes(): Record<string, string | number> {
    if (!this.attrsCache) {
      const table: Record<string, string | number> = {};
      this.forEachAttribute(setAttribute, table);
      this.attrsCache = table;
    }
    return this.attrsCache;
  }

  /** Tells `visit` every attribute, in the table's order, without building the table. */
  forEachAttribute<A>(visit: AttributeVisitor<A>, arg: A): void {
    const e = this.source;
    const pod = this.pod;
    visit(EVENT_TYPE, e.type, arg);
    visit(EVENT_PROBE, e.probe, arg);
    visit(NODE, this.nodeName, arg);
    if (pod) {
      visit(NAMESPACE, pod.namespace, arg);
      visit(POD, pod.name, arg);
    }
    if (this.netnsName !== undefined) visit(NETNS, this.netnsName, arg);
    if (this.host) visit(HOST_NETNS_ATTR, 'true', arg);
    const own = e.attrs;
    for (const k in own) {
      if (STANDARD_ATTRS.has(k) && this.hasStandard(k)) continue;
      if (Object.hasOwn(own, k)) visit(k, own[k]!, arg);
    }
  }

  /** One attribute's value, as `attributes[key]` would give it, without building the table. */
  attribute(key: string): string | number | undefined {
    if (STANDARD_ATTRS.has(key) && this.hasStandard(key)) {
      switch (key) {
        case EVENT_TYPE: return this.source.type;
        case EVENT_PROBE: return this.source.probe;
        case NODE: return this.nodeName;
        case NAMESPACE: return this.pod!.namespace;
        case POD: return this.pod!.name;
        case NETNS: return this.netnsName;
        default: return 'true';
      }
    }
    const own = this.source.attrs;
    return Object.hasOwn(own, key) ? own[key] : undefined;
  }

  /** The plain record, for JSON (the spool): getters are not own properties. */
  toJSON(): EventRecord {
    return {
      event: this.event, timeUnixNano: this.timeUnixNano, severityNumber: this.severityNumber,
      severityText: this.severityText, body: this.body, attributes: this.attributes,
    };
  }

  /** Whether standard key `key` is one this record sets itself. */
  private hasStandard(key: string): boolean {
    switch (key) {
      case NAMESPACE:
      case POD:
        return this.pod !== undefined;
      case NETNS:
        return this.netnsName !== undefined;
      case HOST_NETNS_ATTR:
        return this.host;
      default:
        return true; // event.type, event.probe, k8s.node.name
    }
  }
}

function setAttribute(key: string, value: string | number, table: Record<string, string | number>): void {
  table[key] = value;
}

/** The record's attributes in order, through forEachAttribute when it has it (no table built). */
export function forEachAttribute<A>(r: EventRecord, visit: AttributeVisitor<A>, arg: A): void {
  if (r instanceof AttributedRecord) return r.forEachAttribute(visit, arg);
  const a = r.attributes;
  for (const k in a) visit(k, a[k]!, arg);
}

/** One attribute of any record, without building an AttributedRecord's table. */
export function attributeOf(r: EventRecord, key: string): string | number | undefined {
  return r instanceof AttributedRecord ? r.attribute(key) : r.attributes[key];
}

/** The event's own fields as published (type, netns, attrs, ...) without making the copy that carries the pod. */
export function publishedEvent(r: EventRecord): NetEvent {
  return r instanceof AttributedRecord ? r.source : r.event;
}

/** The pod of any record, without making the event copy that carries it. */
export function podOf(r: EventRecord): PodRef | undefined {
  return r instanceof AttributedRecord ? r.pod : r.event.pod;
}
