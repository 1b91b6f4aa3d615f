// Building blocks of the config's JSON Schema (draft-07), shared by the components that own a
// section of it, and the custom string formats the schema uses. The schema is a plain object
// so that the Helm chart can ship it as values.schema.json; validators that do not know the
// formats (Helm's) ignore them, the agent's gets the implementations from FORMATS.
import { isIP } from 'node:net';

export const FORMATS = {
  cidr: isCidr,
  'loki-address': isLokiAddress,
  'ifname-glob': (s: string): boolean => /^[^\s/]{1,64}$/.test(s),
  'http-url': isHttpUrl,
  ip: (s: string): boolean => isIP(s) !== 0,
  'ipv4-prefix': isIpv4Prefix,
} as const;

/** An IPv4 CIDR, or an IPv4 address (a /32); what `ip rule` from/to take for IPv4 rules. */
export function isIpv4Prefix(s: string): boolean {
  return isCidr(s) ? isIP(s.split('/')[0]!) === 4 : isIP(s) === 4;
}

export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** IPv4 or IPv6 network in CIDR notation. Host bits may be set, as Go's ParseCIDR allows. */
export function isCidr(s: string): boolean {
  const m = /^([^/%]+)\/(0|[1-9][0-9]{0,2})$/.exec(s);
  if (!m) return false;
  const family = isIP(m[1]!);
  return family !== 0 && Number(m[2]) <= (family === 4 ? 32 : 128);
}

/** `host`, `host:port`, `[v6]:port` or an http(s) URL; empty means auto-discovery. */
export function isLokiAddress(s: string): boolean {
  if (s === '') return true;
  if (s.includes('://')) return isHttpUrl(s);
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?))(?::([0-9]{1,5}))?$/.exec(s);
  if (!m) return false;
  if (m[1] !== undefined && isIP(m[1]) !== 6) return false;
  return m[3] === undefined || (Number(m[3]) >= 1 && Number(m[3]) <= 65535);
}

export const bool = (description: string, dflt?: boolean) =>
  ({ type: 'boolean', description, ...(dflt === undefined ? {} : { default: dflt }) });
export const port = (description: string, dflt: number) =>
  ({ type: 'integer', minimum: 1, maximum: 65535, default: dflt, description });
export const str = (description: string, dflt?: string) =>
  ({ type: 'string', description, ...(dflt === undefined ? {} : { default: dflt }) });
export const int = (min: number, max: number, dflt: number, description: string) =>
  ({ type: 'integer', minimum: min, maximum: max, default: dflt, description });
export const oneOf = <T extends string>(values: readonly T[], dflt: T, description: string) =>
  ({ type: 'string', enum: values, default: dflt, description });
/** A list of interface name globs (format ifname-glob). */
export const ifnameGlobs = (dflt: readonly string[], description: string) =>
  ({ type: 'array', items: { type: 'string', format: 'ifname-glob' }, default: dflt, description: withDefault(description, dflt) });
export const httpUrl = (description: string) => ({ type: 'string', format: 'http-url', description });
export const lokiAddress = (description: string) => ({ type: 'string', format: 'loki-address', description });
// A map of strings. patternProperties (not a schema under additionalProperties) keeps every
// object node closed, and a non-string value is reported at its own key.
export const stringMap = (description: string) =>
  ({ type: 'object', additionalProperties: false, patternProperties: { '^.+$': { type: 'string' } }, description });
export const section = (description: string, properties: Record<string, object>) =>
  ({ type: 'object', additionalProperties: false, description, properties });

const list = (v: readonly string[]) => v.map((x) => JSON.stringify(x)).join(', ');
/** A description that also says the default (the chart's ConfigMap comments are made of descriptions). */
export const withDefault = (description: string, dflt: unknown) =>
  `${description} (default ${Array.isArray(dflt) ? list(dflt) : String(dflt)})`;

/** A value as quoted in messages: strings JSON-quoted and shortened, containers by kind. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (isMapping(v)) return 'a mapping';
  return String(v);
}

export function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}


/**
 * A section of the config file that a component owns (e.g. event_config.sinks.loki): its
 * normalized type and defaults, its schema fragment, and the rules a schema cannot express.
 * src/config composes the sections into the file's schema and loader.
 */
export interface ConfigSection<T> {
  defaults: T;
  schema: { description: string; properties: Record<string, object> };
  /** Per key: reads a structurally valid value; pushes `problem` lines and returns undefined when it is bad. */
  read?: Partial<Record<keyof T & string, (value: unknown, problems: string[]) => unknown>>;
  /** Rules across keys of the normalized section: one `<key>: <problem>` line each; `isBad` says a key already failed. */
  validate?(section: T, isBad: (key: string) => boolean): string[];
}
