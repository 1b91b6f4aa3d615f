// List and watch answers that `npm run fuzz` found the client mishandling, kept as they were
// found (test/fixtures/fuzz/, the raw HTTP bytes) and written back by a raw loopback server.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { KubeApiError, KubeClient } from '../../src/k8s/client.js';
import { fixture } from '../helpers/paths.js';

const answer = (file: string): Buffer => Buffer.from(JSON.parse(readFileSync(fixture('fuzz', file), 'utf8')).input as string, 'latin1');

let server: Server;
let current: Buffer = Buffer.alloc(0);
let client: KubeClient;

before(async () => {
  server = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.once('data', () => sock.end(current));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new KubeClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 2000, token: 't' });
});
after(async () => {
  await client.close();
  server.close();
});

/** The error `run` rejects with, answered `file`. */
async function errorFor(file: string, run: () => Promise<unknown>): Promise<KubeApiError> {
  current = answer(file);
  const err = await run().then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof KubeApiError, `a KubeApiError, got ${String(err)}`);
  assert.doesNotMatch(err.message, /\n/);
  return err;
}

const list = () => client.list('/api/v1/pods');
const watchAll = async () => {
  for await (const ev of client.watch('/api/v1/pods', '1200', { timeoutSeconds: 1 })) void ev;
};

test('a list page whose kind is not text, or missing, is "not a list", not a TypeError (fuzz cases 13, 20)', async () => {
  assert.match((await errorFor('k8s.list-seed1-case13.json', list)).message, /^GET \/api\/v1\/pods: not a list: no kind$/);
  assert.match((await errorFor('k8s.list-seed1-case20.json', list)).message, /not a list: no kind$/);
});

test('a list page whose metadata is a string is not a list (fuzz case 15)', async () => {
  const err = await errorFor('k8s.list-seed1-case15.json', list);
  assert.equal(err.message, 'GET /api/v1/pods: not a list: no metadata');
  assert.equal(err.reason, 'BadResponse');
});

test('an error body or a JSON error over several lines is told in one line (fuzz cases 174, 477)', async () => {
  const notFound = await errorFor('k8s.list-seed1-case174.json', list);
  assert.equal(notFound.status, 404);
  assert.match(notFound.message, /^GET \/api\/v1\/pods: HTTP 404: - \{"kind":"PodList"/);
  assert.match((await errorFor('k8s.list-seed1-case477.json', list)).message, /^GET \/api\/v1\/pods: not JSON: /);
});

test('watch lines of an unknown type, without a type, or whose object is no object end the watch with a clear error (fuzz cases 0, 4, 11)', async () => {
  const unknown = await errorFor('k8s.watch-seed1-case0.json', watchAll);
  assert.match(unknown.message, /^watch \/api\/v1\/pods: not a watch event: "\{\\"type\\":\\"]\\"/);
  assert.equal(unknown.reason, 'BadResponse');
  assert.match((await errorFor('k8s.watch-seed1-case4.json', watchAll)).message, /not a watch event/);
  assert.equal((await errorFor('k8s.watch-seed1-case11.json', watchAll)).message, 'watch /api/v1/pods: not a watch event: "{\\"object\\":77600}"');
});
