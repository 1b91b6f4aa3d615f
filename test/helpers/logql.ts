// The part of LogQL that the project's queries use (examples/queries.logql and the events
// dashboard), evaluated over what a Loki stored, to show that a query finds what it means to
// on the records the agent pushes. Selection only: a stream selector, then `| json`, label
// filters (=, !=, =~, !~, with `or`), `| line_format` and `| unwrap`; a metric query is checked
// through its log query and the labels it groups by. What it does not know is an error.

export interface StoredEntry {
  labels: Record<string, string>;
  line: string;
  /** Structured metadata as the Loki kept it (none for a 2.x Loki). */
  metadata: Record<string, string>;
}

/** A stored entry as a query sees it after its pipeline: every label it can filter or group on. */
export interface Selected {
  entry: StoredEntry;
  fields: Record<string, string>;
}

type Op = '=' | '!=' | '=~' | '!~';
interface Matcher { name: string; op: Op; value: string }

const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*/;

function matches(m: Matcher, v: string | undefined): boolean {
  const value = v ?? '';
  switch (m.op) {
    case '=': return value === m.value;
    case '!=': return value !== m.value;
    // Loki's regex matchers are anchored at both ends (RE2 full match).
    case '=~': return new RegExp(`^(?:${m.value})$`).test(value);
    case '!~': return !new RegExp(`^(?:${m.value})$`).test(value);
  }
}

function unquote(s: string): string {
  return JSON.parse(`"${s}"`) as string;
}

/** `{a="x", b=~"y"}` at the start of `text`: its matchers and the rest of the text. */
function parseSelector(text: string): { matchers: Matcher[]; rest: string } {
  let t = text.trimStart();
  if (!t.startsWith('{')) throw new Error(`expected a stream selector at: ${t.slice(0, 40)}`);
  t = t.slice(1);
  const matchers: Matcher[] = [];
  for (;;) {
    t = t.trimStart();
    if (t.startsWith('}')) return { matchers, rest: t.slice(1) };
    const m = MATCHER.exec(t);
    if (!m) throw new Error(`bad matcher at: ${t.slice(0, 40)}`);
    matchers.push({ name: m[1]!, op: m[2] as Op, value: unquote(m[3]!) });
    t = t.slice(m[0].length).replace(/^,/, '');
  }
}

type Stage = { kind: 'json' } | { kind: 'filter'; any: Matcher[] } | { kind: 'line_format' } | { kind: 'unwrap'; field: string };

/** The pipeline stages after a selector, up to a range (`[5m]`) or the end of the log query. */
function parseStages(text: string): { stages: Stage[]; rest: string } {
  const stages: Stage[] = [];
  let t = text;
  for (;;) {
    t = t.trimStart();
    if (!t.startsWith('|')) return { stages, rest: t };
    t = t.slice(1).trimStart();
    if (t.startsWith('json')) {
      stages.push({ kind: 'json' });
      t = t.slice(4);
    } else if (t.startsWith('line_format')) {
      const m = /^line_format\s+"((?:[^"\\]|\\.)*)"/.exec(t);
      if (!m) throw new Error(`bad line_format at: ${t.slice(0, 40)}`);
      stages.push({ kind: 'line_format' });
      t = t.slice(m[0].length);
    } else if (t.startsWith('unwrap')) {
      const m = /^unwrap\s+([A-Za-z_][A-Za-z0-9_]*)/.exec(t);
      if (!m) throw new Error(`bad unwrap at: ${t.slice(0, 40)}`);
      stages.push({ kind: 'unwrap', field: m[1]! });
      t = t.slice(m[0].length);
    } else {
      // A label filter, or several joined by `or`.
      const any: Matcher[] = [];
      for (;;) {
        const m = MATCHER.exec(t);
        if (!m) throw new Error(`unknown pipeline stage at: ${t.slice(0, 40)}`);
        any.push({ name: m[1]!, op: m[2] as Op, value: unquote(m[3]!) });
        t = t.slice(m[0].length);
        if (!/^or\s/.test(t)) break;
        t = t.slice(2).trimStart();
      }
      stages.push({ kind: 'filter', any });
    }
  }
}

export interface ParsedQuery {
  selector: Matcher[];
  stages: Stage[];
  /** Labels a metric query groups by (`by (...)` anywhere in it). */
  groupBy: string[];
  metric: boolean;
}

/** Parses one query of the subset; throws on anything else. */
export function parseQuery(query: string): ParsedQuery {
  const start = query.indexOf('{');
  if (start < 0) throw new Error(`no stream selector in: ${query}`);
  const { matchers, rest } = parseSelector(query.slice(start));
  const { stages, rest: after } = parseStages(rest);
  const metric = start > 0;
  if (metric && !/^\[(\d+[smh]|\$__interval)\]/.test(after.trimStart())) throw new Error(`a metric query without its range: ${query}`);
  if (!metric && after.trim() !== '') throw new Error(`unexpected text after the log query: ${after}`);
  const groupBy = [...query.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()).filter(Boolean));
  return { selector: matchers, stages, groupBy, metric };
}

/**
 * The entries a query selects, with the labels each offers after its pipeline: the stream's,
 * the structured metadata kept, and after `| json` the line's top-level fields (a field named
 * like a stream label becomes `<name>_extracted`, as Loki does).
 */
export function select(query: string, entries: readonly StoredEntry[]): Selected[] {
  const q = parseQuery(query);
  const out: Selected[] = [];
  for (const entry of entries) {
    if (!q.selector.every((m) => matches(m, entry.labels[m.name]))) continue;
    const fields: Record<string, string> = { ...entry.labels, ...entry.metadata };
    let keep = true;
    for (const s of q.stages) {
      if (s.kind === 'json') {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(entry.line) as Record<string, unknown>;
        } catch {
          fields.__error__ = 'JSONParserErr';
        }
        for (const [k, v] of Object.entries(parsed)) {
          if (v === null || typeof v === 'object') continue;
          fields[k in entry.labels ? `${k}_extracted` : k] = String(v);
        }
      } else if (s.kind === 'filter') {
        keep = s.any.some((m) => matches(m, fields[m.name]));
      } else if (s.kind === 'unwrap') {
        keep = fields[s.field] !== undefined && Number.isFinite(Number(fields[s.field]));
      }
      if (!keep) break;
    }
    if (keep) out.push({ entry, fields });
  }
  return out;
}
