// Kubernetes list and watch answers through the real client (src/k8s/client.ts) from a loopback
// backend writing raw bytes. Contracts: list() resolves with a list (items an array, metadata
// an object, kind a string) or throws a KubeApiError; watch() yields events of a known type
// whose object is an object, and ends, or throws a KubeApiError (or the SyntaxError of a line
// that is not JSON, which the client documents passing on).
import { KubeApiError, KubeClient } from '../../src/k8s/client.js';
import { RawBackend } from '../backend.js';
import { check, showText, type Target } from '../harness.js';
import { mutateJson, mutateText } from '../mutate.js';
import type { Rng } from '../prng.js';

const pod = (name: string, rv: string, ip: string) => ({
  metadata: { name, namespace: 'default', uid: `0c1f2b5e-8a4d-4c3e-9f1a-${rv.padStart(12, '0')}`, resourceVersion: rv, labels: { app: 'web' }, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { nodeName: 'node-1', hostNetwork: false, containers: [{ name: 'c', image: 'nginx' }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: '10.0.0.1' },
});

const LIST = { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1200' }, items: [pod('web-1', '1100', '10.244.0.5'), pod('web-2', '1150', '10.244.0.6')] };
const WATCH = [
  { type: 'ADDED', object: { kind: 'Pod', apiVersion: 'v1', ...pod('web-3', '1201', '10.244.0.7') } },
  { type: 'MODIFIED', object: { kind: 'Pod', apiVersion: 'v1', ...pod('web-3', '1202', '10.244.0.7') } },
  { type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '1210' } } },
  { type: 'DELETED', object: { kind: 'Pod', apiVersion: 'v1', ...pod('web-1', '1211', '10.244.0.5') } },
];
const GONE = { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 1200 (1300)', reason: 'Expired', code: 410 } };
const STATUS = (code: number, reason: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `pods is ${reason.toLowerCase()}`, reason, code });
const LAST_PAGE = JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1200' }, items: [] });

/** A raw answer with status and body, framed by Content-Length, one chunk per line, or the close. */
function answer(rng: Rng, status: number, body: string): Buffer {
  const head = [`HTTP/1.1 ${status} X`, 'Content-Type: application/json'];
  const b = Buffer.from(body);
  const framing = rng.int(3);
  if (framing === 0) return Buffer.concat([Buffer.from(`${[...head, `Content-Length: ${b.length}`].join('\r\n')}\r\n\r\n`), b]);
  if (framing === 1) {
    const chunks = body.split(/(?<=\n)/).filter(Boolean).map((c) => Buffer.from(c));
    const coded = chunks.flatMap((c) => [Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]);
    return Buffer.concat([Buffer.from(`${[...head, 'Transfer-Encoding: chunked'].join('\r\n')}\r\n\r\n`), ...coded, Buffer.from('0\r\n\r\n')]);
  }
  return Buffer.concat([Buffer.from(`${[...head, 'Connection: close'].join('\r\n')}\r\n\r\n`), b]);
}

function statusOf(rng: Rng): number {
  return rng.chance(0.85) ? 200 : rng.pick([201, 401, 403, 404, 410, 429, 500, 503]);
}

/** The body of a list answer: the list with values changed, its text mutated, or a Status. */
function listBody(rng: Rng, status: number): string {
  if (status !== 200 && rng.chance(0.7)) return JSON.stringify(STATUS(status, 'Forbidden'));
  const r = rng.int(3);
  if (r === 0) return mutateText(rng, JSON.stringify(LIST), [JSON.stringify(WATCH[0])]);
  return JSON.stringify(mutateJson(rng, LIST)) ?? '';
}

/** The lines of a watch answer: events with values changed, lines mutated, an ERROR (410) at the end sometimes. */
function watchBody(rng: Rng): string {
  const events: unknown[] = WATCH.slice(0, rng.range(0, WATCH.length));
  if (rng.chance(0.2)) events.push(GONE);
  const lines = events.map((e) => (rng.chance(0.3) ? JSON.stringify(mutateJson(rng, e)) ?? '' : JSON.stringify(e)));
  const text = `${lines.join('\n')}\n`;
  return rng.chance(0.3) ? mutateText(rng, text, lines) : text;
}

const TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);

function k8sTarget(kind: 'list' | 'watch'): Target<Buffer> {
  const backend = new RawBackend();
  let client: KubeClient | undefined;
  return {
    name: `k8s.${kind}`,
    hangMs: 4000,
    async open() {
      await backend.start();
      client = new KubeClient({ server: `http://127.0.0.1:${backend.port}`, timeoutMs: 1500, requestTimeoutMs: 3000, token: 'fuzz' });
    },
    async close() {
      await client?.close();
      await backend.stop();
    },
    make(rng) {
      const status = statusOf(rng);
      return answer(rng, status, kind === 'list' ? listBody(rng, status) : status === 200 ? watchBody(rng) : JSON.stringify(STATUS(status, 'Gone')));
    },
    async feed(raw) {
      // A `continue` the mutation left in the list is followed: the next page is the last.
      backend.answer = (head) => (/[?&]continue=/.test(head) ? answer({ int: () => 0 } as unknown as Rng, 200, LAST_PAGE) : raw);
      try {
        if (kind === 'list') {
          const list = await client!.list('/api/v1/pods');
          check(Array.isArray(list.items), 'items is not an array');
          check(list.metadata !== null && typeof list.metadata === 'object', 'metadata is not an object');
          check(typeof list.kind === 'string', 'kind is not text');
          return;
        }
        for await (const ev of client!.watch('/api/v1/pods', '1200', { timeoutSeconds: 1 })) {
          check(TYPES.has(ev.type), `an event of type ${JSON.stringify(ev.type)}`);
          check(ev.object !== null && typeof ev.object === 'object' && !Array.isArray(ev.object), `an event whose object is ${JSON.stringify(ev.object)}`);
        }
      } catch (err) {
        if (err instanceof KubeApiError) {
          check(!err.message.includes('\n'), `an error that is not one line: ${err.message}`);
          // "unreachable" is for no answer; an answer the client could not read is not that.
          check(!/unreachable/.test(err.message) || err.status === 0, 'unreachable with a status');
          return;
        }
        if (kind === 'watch' && err instanceof SyntaxError) return;
        throw err;
      }
    },
    show: (b, max) => showText(b.toString('latin1'), max),
    save: (b) => b.toString('latin1'),
  };
}

export const k8sTargets = (): Target<Buffer>[] => [k8sTarget('list'), k8sTarget('watch')];
