// Read-only CRI v1 client: which pod sandboxes are ready, and where their network
// namespaces are. Works with containerd (>= 1.6) and CRI-O (>= 1.23), which both serve
// runtime.v1.RuntimeService on a unix socket.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { mapLimited } from '../util/map-limited.js';
import { packageRoot } from '../util/package-root.js';

/** Checked in order when neither the option nor RUNTIME_SOCK names a socket. */
export const DEFAULT_RUNTIME_SOCKETS = [
  '/run/containerd/containerd.sock',
  '/var/run/containerd/containerd.sock',
  '/run/crio/crio.sock',
  '/var/run/crio/crio.sock',
  '/run/k3s/containerd/containerd.sock',
];

export const DEFAULT_CRI_TIMEOUT_MS = 3000;

/** What the agent needs to know about one ready pod sandbox. */
export interface CriSandbox {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  /** Primary pod IP; absent for host-network pods and runtimes that do not report it. */
  ip?: string;
  /** The pod shares the node's network namespace (NamespaceMode NODE). */
  hostNetwork: boolean;
  /** Pid of the sandbox (pause/infra) process, from the verbose status. */
  pid?: number;
  /** Network namespace path from the sandbox's OCI runtime spec (e.g. /var/run/netns/cni-...). */
  netnsPath?: string;
}

/** Socket path: explicit option, else RUNTIME_SOCK, else the first well-known socket that exists. */
export function resolveRuntimeSocket(
  option?: string,
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => boolean = existsSync,
): string | undefined {
  if (option) return option;
  if (env.RUNTIME_SOCK) return env.RUNTIME_SOCK;
  return DEFAULT_RUNTIME_SOCKETS.find((p) => exists(p));
}

/**
 * Path of cri-api.proto. tsc does not copy it to dist/, so look next to this module first
 * (running from src/) and then in src/entities/ under the package root (running from dist/).
 */
export function criProtoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'cri-api.proto');
  if (existsSync(beside)) return beside;
  const inSrc = join(packageRoot(), 'src', 'entities', 'cri-api.proto');
  if (existsSync(inSrc)) return inSrc;
  throw new Error(`cri-api.proto not found next to ${here} nor in ${inSrc}`);
}

let serviceCtor: grpc.ServiceClientConstructor | undefined;

/** The generated RuntimeService client constructor (shared with the test harness). */
export function runtimeServiceClient(): grpc.ServiceClientConstructor {
  if (!serviceCtor) {
    const def = protoLoader.loadSync(criProtoPath(), {
      keepCase: false, // camelCase fields: podSandboxId, namespaceOptions
      longs: String,
      enums: String, // 'SANDBOX_READY', 'NODE'
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } };
    };
    serviceCtor = pkg.runtime.v1.RuntimeService;
  }
  return serviceCtor;
}

/** A gRPC target for a unix socket path. */
export function unixTarget(socket: string): string {
  return socket.startsWith('unix:') ? socket : `unix://${socket}`;
}

export const GRPC_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // Large nodes list hundreds of sandboxes; containerd allows 16 MiB messages too.
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  // The socket is local: retry connecting soon after the runtime comes back.
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 5000,
};

/** Error of a CRI call, with a message that says which runtime and what went wrong. */
export class CriError extends Error {
  constructor(
    message: string,
    readonly code?: grpc.status,
  ) {
    super(message);
    this.name = 'CriError';
  }
}

type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;
type Unary = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<unknown>) => void;

/** Unary-call plumbing shared by the production and the test clients. */
export class CriConnection {
  readonly socket: string;
  readonly timeoutMs: number;
  protected readonly client: grpc.Client;

  constructor(socket: string, timeoutMs = DEFAULT_CRI_TIMEOUT_MS) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    const Ctor = runtimeServiceClient();
    this.client = new Ctor(unixTarget(socket), grpc.credentials.createInsecure(), GRPC_CHANNEL_OPTIONS);
  }

  /** One call with a deadline: a runtime that is down or stuck fails it, never hangs it. */
  protected call<T>(method: string, req: object, timeoutMs = this.timeoutMs): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[method];
    return new Promise<T>((resolve, reject) => {
      fn.call(this.client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(this.explain(method, err, timeoutMs));
        else resolve(res as T);
      });
    });
  }

  private explain(method: string, err: grpc.ServiceError, timeoutMs: number): CriError {
    const where = `CRI runtime at ${this.socket}`;
    switch (err.code) {
      case grpc.status.UNAVAILABLE: {
        // grpc-js wraps the socket error in connection-management prose; keep the errno.
        const errno = /connect (E[A-Z]+)/.exec(err.details)?.[1];
        const why = errno ? `connect ${errno}` : err.details;
        return new CriError(`${where} is unreachable (${method}): ${why}; is the runtime running and its socket mounted?`, err.code);
      }
      case grpc.status.DEADLINE_EXCEEDED:
        return new CriError(`${where} did not answer ${method} within ${timeoutMs} ms`, err.code);
      case grpc.status.UNIMPLEMENTED:
        return new CriError(
          `${where} does not serve runtime.v1.RuntimeService/${method} ` +
            `(CRI v1 needs containerd >= 1.6 or CRI-O >= 1.23): ${err.details}`,
          err.code,
        );
      default:
        return new CriError(`${where}: ${method} failed: ${grpc.status[err.code]}: ${err.details}`, err.code);
    }
  }

  close(): void {
    this.client.close();
  }
}

interface Metadata {
  name: string;
  uid: string;
  namespace: string;
}
interface PodSandbox {
  id: string;
  metadata: Metadata | null;
  labels: Record<string, string>;
}
interface PodSandboxStatusResponse {
  status: {
    id: string;
    metadata: Metadata | null;
    labels: Record<string, string>;
    network: { ip: string } | null;
    linux: { namespaces: { options: { network: string } | null } | null } | null;
  } | null;
  info: Record<string, string>;
}

/** Labels the kubelet adds to every sandbox; they duplicate name/namespace/uid. */
const KUBELET_LABELS = ['io.kubernetes.pod.name', 'io.kubernetes.pod.namespace', 'io.kubernetes.pod.uid'];

/**
 * The sandbox pid and network namespace path from the verbose `info` map. Both containerd
 * and CRI-O put one JSON document under the key "info": containerd with `pid` and
 * `runtimeSpec` (among others), CRI-O with `pid` and `runtimeSpec`, or only `runtimeSpec`
 * when it runs pods without an infra container (then there is no pid).
 */
export function parseSandboxInfo(info: Record<string, string> | undefined): { pid?: number; netnsPath?: string } {
  const raw = info?.info;
  if (!raw) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    return {};
  }
  // A runtime's document, not ours: any part may be missing or of another type.
  if (doc === null || typeof doc !== 'object') return {};
  const d = doc as { pid?: unknown; runtimeSpec?: { linux?: { namespaces?: unknown } } };
  const out: { pid?: number; netnsPath?: string } = {};
  if (typeof d.pid === 'number' && Number.isSafeInteger(d.pid) && d.pid > 0) out.pid = d.pid;
  const namespaces = d.runtimeSpec?.linux?.namespaces;
  const ns = Array.isArray(namespaces) ? (namespaces as { type?: unknown; path?: unknown }[]).find((n) => n?.type === 'network') : undefined;
  if (typeof ns?.path === 'string' && ns.path) out.netnsPath = ns.path;
  return out;
}

/** How many PodSandboxStatus calls are in flight at once. */
const STATUS_CONCURRENCY = 8;

export class CriClient extends CriConnection {
  async version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.call('Version', { version: 'v1' });
  }

  /** All READY sandboxes with their network identity. Sandboxes removed meanwhile are skipped. */
  async listReadySandboxes(): Promise<CriSandbox[]> {
    const list = await this.call<{ items: PodSandbox[] }>('ListPodSandbox', {
      filter: { state: { state: 'SANDBOX_READY' } },
    });
    const out = await mapLimited(list.items ?? [], STATUS_CONCURRENCY, (item) => this.sandbox(item));
    return out.filter((s): s is CriSandbox => s !== undefined);
  }

  private async sandbox(item: PodSandbox): Promise<CriSandbox | undefined> {
    let res: PodSandboxStatusResponse;
    try {
      res = await this.call('PodSandboxStatus', { podSandboxId: item.id, verbose: true });
    } catch (err) {
      if (err instanceof CriError && err.code === grpc.status.NOT_FOUND) return undefined;
      throw err;
    }
    const st = res.status;
    const meta = st?.metadata ?? item.metadata;
    if (!meta) return undefined;
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(st?.labels ?? item.labels ?? {})) {
      if (!KUBELET_LABELS.includes(k)) labels[k] = v;
    }
    const sandbox: CriSandbox = {
      id: item.id,
      name: meta.name,
      namespace: meta.namespace,
      uid: meta.uid,
      labels,
      hostNetwork: st?.linux?.namespaces?.options?.network === 'NODE',
      ...parseSandboxInfo(res.info),
    };
    if (st?.network?.ip) sandbox.ip = st.network.ip;
    return sandbox;
  }
}
