// A strict fake Kubernetes API server for tests: real list/watch JSON (kind, apiVersion,
// metadata.resourceVersion, items; watch lines of {type, object}), bearer-token auth,
// validated query parameters, and live add/modify/delete from the test. It also answers
// TokenReview and SubjectAccessReview creates as the real one does (authentication.k8s.io/v1,
// authorization.k8s.io/v1: validated bodies, 201 with the object and its status), from the
// tokens (`addToken`) and RBAC-like nonResourceURL grants (`grant`) a test gives it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

interface Resource {
  apiVersion: string;
  kind: string;
  namespaced: boolean;
}

/** Resources the fake knows, by `<group/version>/<plural>`; more can be registered. */
const BUILTIN: Record<string, Resource> = {
  'v1/services': { apiVersion: 'v1', kind: 'Service', namespaced: true },
  'v1/endpoints': { apiVersion: 'v1', kind: 'Endpoints', namespaced: true },
  'v1/pods': { apiVersion: 'v1', kind: 'Pod', namespaced: true },
  'v1/configmaps': { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true },
  'v1/nodes': { apiVersion: 'v1', kind: 'Node', namespaced: false },
  'networking.k8s.io/v1/networkpolicies': { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespaced: true },
};

const LIST_PARAMS = new Set(['fieldSelector', 'labelSelector', 'limit', 'continue', 'resourceVersion', 'resourceVersionMatch', 'timeoutSeconds']);
const WATCH_PARAMS = new Set(['watch', 'allowWatchBookmarks', 'fieldSelector', 'labelSelector', 'resourceVersion', 'timeoutSeconds', 'sendInitialEvents', 'resourceVersionMatch']);

/** Who holds a token, for TokenReview; `audiences` of the token (default: the API server's, "https://kubernetes.default.svc"). */
export interface FakeUser { username: string; uid?: string; groups?: string[]; audiences?: string[] }
/** A ClusterRole rule bound to users or groups: nonResourceURLs (exact, or a prefix ending in *) and verbs ("*": any). */
export interface FakeGrant { users?: string[]; groups?: string[]; nonResourceURLs: string[]; verbs: string[]; role?: string }
const API_AUDIENCE = 'https://kubernetes.default.svc';
const REVIEWS: Record<string, { apiVersion: string; kind: string }> = {
  '/apis/authentication.k8s.io/v1/tokenreviews': { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview' },
  '/apis/authorization.k8s.io/v1/subjectaccessreviews': { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview' },
};

type Obj = { metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown }; [k: string]: unknown };
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface Change { rv: number; type: EventType; res: string; object: Obj }
interface Watcher { res: string; ns?: string; match: (o: Obj) => boolean; res_: ServerResponse; bookmarks: boolean }

export interface FakeKubeApiOptions {
  token?: string;
  port?: number;
  /** Serve https with this key and certificate (PEM), like a real API server. */
  tls?: { key: string; cert: string };
}

export class FakeKubeApi {
  /** The bearer token requests must carry; a test may change it (rotation). */
  token: string;
  /** Every request, for assertions: method, path and query. */
  readonly requests: Array<{ method: string; path: string; query: Record<string, string>; status: number }> = [];
  private server?: Server;
  private readonly resources = new Map(Object.entries(BUILTIN));
  private readonly store = new Map<string, Map<string, Obj>>(); // res → ns/name → object
  private readonly history: Change[] = [];
  private rv = 100;
  /** Oldest resourceVersion a watch may start from; older ones get 410 Gone. */
  private oldest = 100;
  private readonly watchers = new Set<Watcher>();
  /** List responses (pages) served. */
  listPages = 0;
  /** When true, every watch is answered and closed at once (a misbehaving proxy). */
  closeWatchesAtOnce = false;
  private port: number;
  private readonly tls?: { key: string; cert: string };
  private readonly tokens = new Map<string, FakeUser>();
  private readonly grants: FakeGrant[] = [];
  /** Whether the caller (the agent's own token) may create reviews; false plays a missing ClusterRole (403). */
  canReview = true;
  /** Reviews are answered after this many ms (a slow API server). */
  reviewDelayMs = 0;

  constructor(opts: FakeKubeApiOptions = {}) {
    this.token = opts.token ?? 'test-token';
    this.port = opts.port ?? 0;
    this.tls = opts.tls;
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res);
    const server = this.tls ? createHttpsServer(this.tls, handler) : createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Closes the server and every open watch; `start()` again listens on the same port. */
  async stop(): Promise<void> {
    for (const w of this.watchers) w.res_.destroy();
    this.watchers.clear();
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Ends every open watch the way a server-side timeout does (clean end of the stream). */
  endWatches(): void {
    for (const w of this.watchers) w.res_.end();
    this.watchers.clear();
  }

  /** Forgets history: watches from a version before now get 410 Gone. */
  compact(): void {
    this.oldest = this.rv;
    this.history.length = 0;
  }

  /** Sends a BOOKMARK with the current version to watches that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.watchers) {
      const r = this.resources.get(w.res)!;
      if (w.bookmarks) w.res_.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: r.kind, apiVersion: r.apiVersion, metadata: { resourceVersion: String(this.rv) } } }) + '\n');
    }
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  /**
   * Stores many objects at once (a big cluster), as if created long ago: no history, so a
   * watch from before now is 410 Gone, like compacted history.
   */
  load(res: string, objects: Obj[]): void {
    const r = this.resource(res);
    const store = this.objects(res);
    for (const object of objects) {
      const ns = r.namespaced ? object.metadata.namespace : undefined;
      object.metadata.resourceVersion = String(++this.rv);
      store.set(`${ns ?? ''}/${object.metadata.name}`, object);
    }
    this.compact();
  }

  /** Creates (or replaces: MODIFIED) an object of resource `res`, e.g. `v1/services`. */
  apply(res: string, object: Obj): Obj {
    const r = this.resource(res);
    const ns = r.namespaced ? object.metadata.namespace : undefined;
    if (r.namespaced && !ns) throw new Error(`${res} is namespaced: metadata.namespace is required`);
    const objects = this.objects(res);
    const key = `${ns ?? ''}/${object.metadata.name}`;
    const type: EventType = objects.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = structuredClone(object);
    stored.metadata.resourceVersion = String(++this.rv);
    stored.metadata.uid ??= `uid-${res.replace(/\W/g, '')}-${key.replace(/\W/g, '')}`;
    objects.set(key, stored);
    this.publish({ rv: this.rv, type, res, object: stored });
    return stored;
  }

  delete(res: string, namespace: string | undefined, name: string): void {
    const objects = this.objects(res);
    const key = `${namespace ?? ''}/${name}`;
    const old = objects.get(key);
    if (!old) throw new Error(`no ${res} ${key}`);
    objects.delete(key);
    const gone = structuredClone(old);
    gone.metadata.resourceVersion = String(++this.rv);
    this.publish({ rv: this.rv, type: 'DELETED', res, object: gone });
  }

  /** A token the TokenReview authenticates as `user`. */
  addToken(token: string, user: FakeUser): void {
    this.tokens.set(token, user);
  }

  removeToken(token: string): void {
    this.tokens.delete(token);
  }

  /** What a ClusterRole with nonResourceURLs and its binding would grant. */
  grant(g: FakeGrant): void {
    this.grants.push(g);
  }

  /** Reviews answered so far, by kind. */
  reviews(kind: 'tokenreviews' | 'subjectaccessreviews'): number {
    return this.requests.filter((r) => r.method === 'POST' && r.path.endsWith(`/${kind}`) && r.status === 201).length;
  }

  register(res: string, r: Resource): void {
    this.resources.set(res, r);
  }

  private sorted?: { tag: string; items: Obj[] };
  /** The selection in key order, kept while nothing changes: paging a big list sorts it once. */
  private sortedSelection(selection: string, selected: () => Obj[]): Obj[] {
    const tag = `${this.rv} ${selection}`;
    if (this.sorted?.tag !== tag) {
      const keyed = selected().map((o) => [`${o.metadata.namespace ?? ''}/${o.metadata.name}`, o] as const);
      keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      this.sorted = { tag, items: keyed.map(([, o]) => o) };
    }
    return this.sorted.items;
  }

  private resource(res: string): Resource {
    const r = this.resources.get(res);
    if (!r) throw new Error(`unknown resource ${res}`);
    return r;
  }

  private objects(res: string): Map<string, Obj> {
    let m = this.store.get(res);
    if (!m) this.store.set(res, (m = new Map()));
    return m;
  }

  private publish(c: Change): void {
    this.history.push(c);
    for (const w of this.watchers) {
      if (w.res !== c.res || (w.ns && c.object.metadata.namespace !== w.ns) || !w.match(c.object)) continue;
      w.res_.write(this.eventLine(c.type, c.res, c.object));
    }
  }

  private eventLine(type: string, res: string, object: Obj): string {
    const r = this.resource(res);
    return JSON.stringify({ type, object: { kind: r.kind, apiVersion: r.apiVersion, ...object } }) + '\n';
  }

  /** A review create: the body validated as the API server does, answered 201 with its status filled in. */
  private async review(
    req: IncomingMessage, res: ServerResponse, type: { apiVersion: string; kind: string },
    record: { status: number }, fail: (code: number, reason: string, message: string) => void,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (!this.canReview) {
      const plural = type.kind.toLowerCase() + 's';
      return fail(403, 'Forbidden', `${plural}.${type.apiVersion.split('/')[0]} is forbidden: User "system:serviceaccount:kube-system:kubesonar" cannot create resource "${plural}" in API group "${type.apiVersion.split('/')[0]}" at the cluster scope`);
    }
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return fail(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json`);
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      return fail(400, 'BadRequest', `the object provided is unrecognized (${(err as Error).message})`);
    }
    if (body?.apiVersion !== type.apiVersion || body?.kind !== type.kind) return fail(400, 'BadRequest', `the API version in the data (${body?.apiVersion}) does not match the expected API version (${type.apiVersion}) or kind is not ${type.kind}`);
    const spec = body.spec ?? {};
    let status: Record<string, unknown>;
    if (type.kind === 'TokenReview') {
      if (typeof spec.token !== 'string' || spec.token === '') return fail(400, 'BadRequest', 'token is required for TokenReview in authentication');
      const user = this.tokens.get(spec.token);
      const wanted: string[] = Array.isArray(spec.audiences) && spec.audiences.length ? spec.audiences : [API_AUDIENCE];
      const matched = wanted.filter((a) => (user?.audiences ?? [API_AUDIENCE]).includes(a));
      status = user && matched.length
        ? { authenticated: true, user: { username: user.username, uid: user.uid ?? `uid-${user.username}`, groups: user.groups ?? ['system:authenticated'] }, audiences: matched }
        : { user: {}, error: user ? '[invalid bearer token, token audiences ... is invalid for the target audiences]' : '[invalid bearer token, square/go-jose: error in cryptographic primitive]' };
    } else {
      const n = spec.nonResourceAttributes;
      if ((n === undefined) === (spec.resourceAttributes === undefined)) return fail(422, 'Invalid', `SubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified`);
      if (!spec.user && !(spec.groups?.length)) return fail(422, 'Invalid', 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified');
      const groups: string[] = spec.groups ?? [];
      const grant = n && this.grants.find((g) => ((g.users ?? []).includes(spec.user) || (g.groups ?? []).some((x) => groups.includes(x)))
        && g.verbs.some((v) => v === '*' || v === n.verb)
        && g.nonResourceURLs.some((u) => (u.endsWith('*') ? String(n.path).startsWith(u.slice(0, -1)) : u === n.path)));
      status = grant ? { allowed: true, reason: `RBAC: allowed by ClusterRoleBinding "${grant.role ?? 'test'}" of ClusterRole "${grant.role ?? 'test'}" to User "${spec.user}"` } : { allowed: false };
    }
    if (this.reviewDelayMs) await new Promise((r) => setTimeout(r, this.reviewDelayMs));
    record.status = 201;
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: type.kind, apiVersion: type.apiVersion, metadata: { creationTimestamp: null }, spec, status }));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const record = { method: req.method ?? '', path: url.pathname, query, status: 0 };
    this.requests.push(record);
    const fail = (code: number, reason: string, message: string) => {
      record.status = code;
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return fail(401, 'Unauthorized', 'Unauthorized');
    const review = REVIEWS[url.pathname];
    if (review) {
      if (req.method !== 'POST') return fail(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
      return void this.review(req, res, review, record, fail);
    }
    if (req.method !== 'GET') return fail(405, 'MethodNotAllowed', `${req.method} is not supported by the fake`);

    // /api/v1[/namespaces/{ns}]/{plural}[/{name}] or /apis/{group}/{version}[/namespaces/{ns}]/{plural}[/{name}]
    const m = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    const resName = m ? `${m[1] ?? m[2]}/${m[4]}` : '';
    const r = this.resources.get(resName);
    if (!m || !r) return fail(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    const ns = m[3];
    const name = m[5];
    if (ns && !r.namespaced) return fail(404, 'NotFound', `${resName} is not namespaced`);

    if (name) {
      const o = this.objects(resName).get(`${ns ?? ''}/${name}`);
      if (!o) return fail(404, 'NotFound', `${r.kind.toLowerCase()}s "${name}" not found`);
      record.status = 200;
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ kind: r.kind, apiVersion: r.apiVersion, ...o }));
    }

    const watch = query.watch !== undefined;
    const allowed = watch ? WATCH_PARAMS : LIST_PARAMS;
    for (const k of Object.keys(query)) if (!allowed.has(k)) return fail(400, 'BadRequest', `unknown query parameter ${k}`);
    if (watch && query.watch !== 'true' && query.watch !== '1') return fail(400, 'BadRequest', `watch: invalid value ${query.watch}`);
    for (const k of ['timeoutSeconds', 'limit']) {
      if (query[k] !== undefined && !/^\d+$/.test(query[k])) return fail(400, 'BadRequest', `${k}: must be a non-negative integer, got "${query[k]}"`);
    }
    if (query.resourceVersion !== undefined && !/^\d*$/.test(query.resourceVersion)) return fail(400, 'BadRequest', `resourceVersion: invalid value "${query.resourceVersion}"`);
    let match: (o: Obj) => boolean;
    try {
      const f = fieldMatcher(query.fieldSelector ?? '');
      const l = labelMatcher(query.labelSelector ?? '');
      match = (o) => f(o) && l(o);
    } catch (err) {
      return fail(400, 'BadRequest', (err as Error).message);
    }
    const selected = () => [...this.objects(resName).values()].filter((o) => (!ns || o.metadata.namespace === ns) && match(o));

    if (!watch) {
      // Pages as the real server makes them: `limit` objects in key order and an opaque
      // continue token naming the list's version and where the next page starts; a token
      // older than the compacted history is 410 Expired (the client must list from scratch).
      // Unlike the real server the pages show the objects as they are now, not at the version.
      let listRv = this.rv;
      let start = 0;
      if (query.continue) {
        let token: { rv?: unknown; start?: unknown };
        try {
          token = JSON.parse(Buffer.from(query.continue, 'base64url').toString());
        } catch {
          return fail(400, 'BadRequest', 'continue: not a token this server issued');
        }
        if (typeof token.rv !== 'number' || typeof token.start !== 'number') return fail(400, 'BadRequest', 'continue: not a token this server issued');
        if (token.rv < this.oldest) return fail(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
        [listRv, start] = [token.rv, token.start];
      }
      const limit = query.limit ? Number(query.limit) : 0;
      const all = limit > 0 || start > 0 ? this.sortedSelection(`${resName} ${ns ?? ''} ${query.fieldSelector ?? ''} ${query.labelSelector ?? ''}`, selected) : selected();
      let items = all;
      let more: string | undefined;
      if (limit > 0 || start > 0) {
        items = all.slice(start, limit > 0 ? start + limit : undefined);
        if (limit > 0 && start + limit < all.length) more = Buffer.from(JSON.stringify({ rv: listRv, start: start + limit })).toString('base64url');
      }
      this.listPages++;
      record.status = 200;
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ kind: `${r.kind}List`, apiVersion: r.apiVersion, metadata: { resourceVersion: String(listRv), ...(more ? { continue: more } : {}) }, items }));
    }

    record.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { res: resName, ns, match, res_: res, bookmarks: query.allowWatchBookmarks === 'true' };
    const from = query.resourceVersion ? Number(query.resourceVersion) : undefined;
    if (from === undefined || from === 0) {
      // No version: the real server starts with a synthetic ADDED per existing object.
      for (const o of selected()) res.write(this.eventLine('ADDED', resName, o));
    } else if (from < this.oldest) {
      // Too old: the real server answers 200 and one ERROR event carrying a 410 Status.
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.oldest})`, reason: 'Expired', code: 410 } }) + '\n');
      return;
    } else {
      for (const c of this.history) {
        if (c.rv > from && c.res === resName && (!ns || c.object.metadata.namespace === ns) && match(c.object)) res.write(this.eventLine(c.type, resName, c.object));
      }
    }
    if (this.closeWatchesAtOnce) return void res.end();
    this.watchers.add(w);
    const timeout = query.timeoutSeconds ? setTimeout(() => res.end(), Number(query.timeoutSeconds) * 1000) : undefined;
    res.on('close', () => {
      clearTimeout(timeout);
      this.watchers.delete(w);
    });
  }
}

/** `metadata.name=x,metadata.namespace!=y`: the fields the real server supports for every resource. */
function fieldMatcher(sel: string): (o: Obj) => boolean {
  const terms = sel ? sel.split(',') : [];
  const tests = terms.map((t) => {
    const m = /^(metadata\.name|metadata\.namespace)(==|=|!=)(.*)$/.exec(t);
    if (!m) throw new Error(`"${t}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    const get = (o: Obj) => (m[1] === 'metadata.name' ? o.metadata.name : o.metadata.namespace ?? '');
    return m[2] === '!=' ? (o: Obj) => get(o) !== m[3] : (o: Obj) => get(o) === m[3];
  });
  return (o) => tests.every((f) => f(o));
}

/** Label selectors as the real server reads them: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. */
function labelMatcher(sel: string): (o: Obj) => boolean {
  // Split on commas outside parentheses.
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of sel) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += c;
  }
  if (sel) terms.push(cur);
  const name = /^([a-zA-Z0-9][-a-zA-Z0-9_./]*)$/;
  const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
  const tests = terms.map((raw) => {
    const t = raw.trim();
    const set = /^(\S+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(t);
    if (set && name.test(set[1])) {
      const values = new Set(set[3].split(',').map((v) => v.trim()));
      if (![...values].every((v) => LABEL_VALUE.test(v))) throw new Error(`unable to parse requirement: "${t}"`);
      const k = set[1];
      return set[2] === 'in' ? (o: Obj) => values.has(o.metadata.labels?.[k] ?? '\0') : (o: Obj) => !values.has(o.metadata.labels?.[k] ?? '\0');
    }
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(t);
    if (m && name.test(m[1]) && LABEL_VALUE.test(m[3])) {
      const [, k, op, v] = m;
      return op === '!=' ? (o: Obj) => o.metadata.labels?.[k] !== v : (o: Obj) => o.metadata.labels?.[k] === v;
    }
    if (name.test(t)) return (o: Obj) => o.metadata.labels?.[t] !== undefined;
    if (t.startsWith('!') && name.test(t.slice(1))) return (o: Obj) => o.metadata.labels?.[t.slice(1)] === undefined;
    throw new Error(`unable to parse requirement: "${t}"`);
  });
  return (o) => tests.every((f) => f(o));
}

/** A Service object as the API returns it, for tests. */
export function service(namespace: string, name: string, spec: { clusterIP?: string; ports: Array<{ name?: string; port: number; protocol?: string }> }): Obj {
  return {
    metadata: { name, namespace, labels: { app: name } },
    spec: { type: 'ClusterIP', clusterIP: spec.clusterIP ?? '10.96.0.10', ports: spec.ports.map((p) => ({ protocol: 'TCP', targetPort: p.port, ...p })) },
    status: { loadBalancer: {} },
  };
}
