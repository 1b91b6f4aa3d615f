// CRI answers through the real client (src/entities/cri.ts) from a gRPC server on a unix
// socket that sends fuzzed protobuf bytes as they are: ListPodSandbox, then PodSandboxStatus
// (verbose, whose `info` JSON the client reads for the pid and netns path). Contract: ready
// sandboxes with text names and labels, a positive whole pid and a text netns path when
// given, or a CriError (an answer that does not decode is the runtime's error, as grpc-js
// reports it); nothing else.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriClient, CriError, runtimeServiceClient } from '../../src/entities/cri.js';
import { check, showHex, type Target } from '../harness.js';
import { mutateBytes, mutateJson, mutateText } from '../mutate.js';
import { seedOf, type Rng } from '../prng.js';

interface CriAnswers {
  list: Buffer;
  /** PodSandboxStatus answers; a sandbox id picks one by its hash. A number: that gRPC error status. */
  statuses: (Buffer | number)[];
}

type Method = grpc.MethodDefinition<object, object>;

const sandbox = (i: number) => ({
  id: `${i}`.repeat(64).slice(0, 64),
  metadata: { name: `web-${i}`, uid: `0c1f2b5e-8a4d-4c3e-9f1a-00000000000${i}`, namespace: 'default', attempt: 0 },
  state: 'SANDBOX_READY',
  createdAt: '1767225600000000000',
  labels: { app: 'web', 'io.kubernetes.pod.name': `web-${i}`, 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': `uid-${i}` },
  annotations: {},
  runtimeHandler: '',
});

/** containerd's verbose info document (trimmed to what differs between runtimes). */
const info = (i: number, host: boolean) => ({
  pid: 4200 + i,
  processStatus: 'running',
  netNamespaceClosed: false,
  runtimeSpec: { ociVersion: '1.1.0', linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, ...(host ? [] : [{ type: 'network', path: `/var/run/netns/cni-${i}` }])] } },
});

const status = (i: number, host: boolean) => ({
  status: {
    id: sandbox(i).id, metadata: sandbox(i).metadata, state: 'SANDBOX_READY', createdAt: '1767225600000000000',
    network: { ip: host ? '' : `10.244.0.${i + 4}`, additionalIps: [] },
    linux: { namespaces: { options: { network: host ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' } } },
    labels: sandbox(i).labels, annotations: {}, runtimeHandler: '',
  },
  info: { info: JSON.stringify(info(i, host)) },
});

export function criTarget(): Target<CriAnswers> {
  const methods = runtimeServiceClient().service as unknown as Record<string, Method>;
  const listDef = methods.ListPodSandbox!;
  const statusDef = methods.PodSandboxStatus!;
  let server: grpc.Server | undefined;
  let client: CriClient | undefined;
  let dir = '';
  let current: CriAnswers = { list: Buffer.alloc(0), statuses: [] };
  let seeds: { list: object; statuses: object[] } = { list: {}, statuses: [] };
  const encode = (def: Method, v: object): Buffer | undefined => {
    try {
      return def.responseSerialize(v);
    } catch {
      return undefined; // a value protobuf cannot encode: the mutation is discarded
    }
  };
  return {
    name: 'cri',
    hangMs: 4000,
    async open() {
      seeds = { list: { items: [sandbox(1), sandbox(2), sandbox(3)] }, statuses: [status(1, false), status(2, true), status(3, false)] };
      dir = mkdtempSync(join(tmpdir(), 'kubesonar-fuzz-cri-'));
      const socket = join(dir, 'cri.sock');
      server = new grpc.Server();
      // The same method definitions, but answers go out as the bytes the case holds.
      const raw = (def: Method) => ({ ...def, responseSerialize: (b: Buffer) => b });
      server.addService({ ListPodSandbox: raw(listDef), PodSandboxStatus: raw(statusDef) } as unknown as grpc.ServiceDefinition, {
        ListPodSandbox: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, current.list),
        PodSandboxStatus: (call: grpc.ServerUnaryCall<{ podSandboxId: string }, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
          const pick = current.statuses[seedOf(call.request.podSandboxId) % Math.max(1, current.statuses.length)] ?? Buffer.alloc(0);
          if (typeof pick === 'number') cb({ code: pick, details: 'fuzz' }, null);
          else cb(null, pick);
        },
      });
      await new Promise<void>((resolve, reject) => server!.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
      client = new CriClient(socket, 2000);
    },
    async close() {
      client?.close();
      await new Promise<void>((resolve) => server?.tryShutdown(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
    make(rng: Rng) {
      const list = rng.chance(0.3) ? encode(listDef, mutateJson(rng, seeds.list) as object) : undefined;
      const statuses: (Buffer | number)[] = seeds.statuses.map((s) => {
        if (rng.chance(0.05)) return rng.pick([grpc.status.NOT_FOUND, grpc.status.INTERNAL, grpc.status.UNIMPLEMENTED]);
        const r = rng.int(4);
        if (r === 0) return encode(statusDef, mutateJson(rng, s) as object) ?? statusDef.responseSerialize(s);
        if (r === 1) {
          // the info document changed: the part the client parses itself
          const doc = JSON.parse((s as { info: { info: string } }).info.info) as object;
          const text = rng.chance(0.5) ? JSON.stringify(mutateJson(rng, doc)) ?? '' : mutateText(rng, JSON.stringify(doc));
          return statusDef.responseSerialize({ ...s, info: { info: text } });
        }
        return statusDef.responseSerialize(s);
      });
      const listBytes = list ?? listDef.responseSerialize(seeds.list);
      const corpus = statuses.filter((x): x is Buffer => Buffer.isBuffer(x));
      return {
        list: rng.chance(0.3) ? mutateBytes(rng, listBytes, corpus) : listBytes,
        statuses: statuses.map((x) => (Buffer.isBuffer(x) && rng.chance(0.3) ? mutateBytes(rng, x, corpus) : x)),
      };
    },
    async feed(answers) {
      current = answers;
      let sandboxes;
      try {
        sandboxes = await client!.listReadySandboxes();
      } catch (err) {
        if (err instanceof CriError) {
          check(!err.message.includes('\n'), `an error that is not one line: ${err.message}`);
          return;
        }
        throw err;
      }
      for (const s of sandboxes) {
        for (const k of ['id', 'name', 'namespace', 'uid'] as const) check(typeof s[k] === 'string', `${k} is ${JSON.stringify(s[k])}`);
        check(typeof s.hostNetwork === 'boolean', 'hostNetwork is not a boolean');
        for (const [k, v] of Object.entries(s.labels)) check(typeof v === 'string', `label ${k} is ${JSON.stringify(v)}`);
        check(s.pid === undefined || (Number.isSafeInteger(s.pid) && s.pid > 0), `pid ${s.pid}`);
        check(s.netnsPath === undefined || typeof s.netnsPath === 'string', `netnsPath ${JSON.stringify(s.netnsPath)}`);
        check(s.ip === undefined || typeof s.ip === 'string', `ip ${JSON.stringify(s.ip)}`);
      }
    },
    show: (a, max) => `list=${showHex(a.list, max)} statuses=${a.statuses.map((x) => (typeof x === 'number' ? `grpc:${x}` : showHex(x, max))).join(',')}`,
    save: (a) => ({ list: a.list.toString('hex'), statuses: a.statuses.map((x) => (typeof x === 'number' ? x : x.toString('hex'))) }),
  };
}
