// The cluster as the configuration checks see it: informers (list, then watch) on what the
// checks that need the Kubernetes API read, so a run reads a local cache and a change in the
// cluster can trigger a run at once.

import { Informer, type InformerStatus, type KubeClient, type KubeObject } from '../k8s/index.js';
import type { Logger } from '../log.js';
import type { CheckOptions } from './model.js';

/** A Service as the IPVS check needs it (from the Kubernetes API). */
export interface ServiceView {
  namespace: string;
  name: string;
  clusterIPs: string[];
  ports: { protocol: 'TCP' | 'UDP' | 'SCTP'; port: number }[];
  /** Ready endpoints as `ip:targetPort` per service port (`<protocol>/<port>` key). */
  endpoints: Map<string, string[]>;
}

export interface ServiceSource {
  services(): Promise<ServiceView[]>;
}

export interface Service extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
    ports?: { name?: string; port: number; protocol?: string; targetPort?: number | string }[];
  };
}
/** discovery.k8s.io/v1 EndpointSlice: unlike Endpoints, not truncated at 1000 addresses. */
export interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
}
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export interface Pod extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}
export interface Node extends KubeObject {
  spec?: { podCIDR?: string; podCIDRs?: string[] };
}

/** The cluster as the checks see it: informers on what they read. */
export class KubeView implements ServiceSource {
  readonly svcs: Informer<Service>;
  readonly slices: Informer<EndpointSlice>;
  readonly policies: Informer;
  readonly masqConfig: Informer<KubeObject & { data?: Record<string, string> }>;
  readonly proxyPods: Informer<Pod>;
  readonly node: Informer<Node> | undefined;
  private readonly all: Informer<any>[];

  /**
   * `options` fixes what is watched (the node name, where kube-proxy and ip-masq-agent live);
   * `onChange` is called after any change (the scheduler's trigger).
   */
  constructor(client: KubeClient, options: CheckOptions, onChange?: () => void, log?: Logger) {
    const opts = { onChange: onChange && (() => onChange()), log };
    const { kubeProxy, ipMasqAgent, nodeName } = options;
    this.svcs = new Informer<Service>(client, '/api/v1/services', opts);
    this.slices = new Informer<EndpointSlice>(client, '/apis/discovery.k8s.io/v1/endpointslices', { ...opts, labelSelector: SERVICE_NAME_LABEL });
    this.policies = new Informer(client, '/apis/networking.k8s.io/v1/networkpolicies', opts);
    this.masqConfig = new Informer(client, `/api/v1/namespaces/${ipMasqAgent.namespace}/configmaps`, { ...opts, fieldSelector: `metadata.name=${ipMasqAgent.name}` });
    // Pods are selected by label only (spec.nodeName is not a field every API server indexes); the node is filtered here.
    this.proxyPods = new Informer<Pod>(client, `/api/v1/namespaces/${kubeProxy.namespace}/pods`, { ...opts, labelSelector: kubeProxy.labelSelector });
    this.node = nodeName ? new Informer<Node>(client, '/api/v1/nodes', { ...opts, fieldSelector: `metadata.name=${nodeName}` }) : undefined;
    this.all = [this.svcs, this.slices, this.policies, this.masqConfig, this.proxyPods, ...(this.node ? [this.node] : [])];
  }

  start(): this {
    for (const i of this.all) i.start();
    return this;
  }

  /** Each informer's state (synced, lists, 410s, closed watches, the current failure), for /status. */
  status(): InformerStatus[] {
    return this.all.map((i) => i.status());
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((i) => i.stop()));
  }

  /** Throws until every informer has listed once: until then a missing object proves nothing. */
  ready(): void {
    const pending = this.all.filter((i) => !i.hasSynced).map((i) => i.path);
    if (pending.length) throw new Error(`Kubernetes API not synced yet: ${pending.join(', ')}`);
  }

  waitForSync(timeoutMs: number): Promise<boolean> {
    return Promise.all(this.all.map((i) => i.waitForSync(timeoutMs))).then((r) => r.every(Boolean));
  }

  /** Services with their ready endpoints per port, for the IPVS comparison. */
  async services(): Promise<ServiceView[]> {
    this.ready();
    const slices = new Map<string, EndpointSlice[]>();
    for (const sl of this.slices.objects()) {
      const k = `${sl.metadata.namespace}/${sl.metadata.labels?.[SERVICE_NAME_LABEL]}`;
      slices.set(k, [...(slices.get(k) ?? []), sl]);
    }
    const views: ServiceView[] = [];
    for (const s of this.svcs.objects()) {
      const spec = s.spec ?? {};
      const ips = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
      if (ips.length === 0 || ips[0] === 'None' || spec.type === 'ExternalName') continue;
      const ports = (spec.ports ?? []).map((p) => ({ protocol: (p.protocol ?? 'TCP') as 'TCP' | 'UDP' | 'SCTP', port: p.port, name: p.name ?? '' }));
      const endpoints = new Map<string, string[]>();
      for (const p of ports) {
        const targets: string[] = [];
        for (const sl of slices.get(`${s.metadata.namespace}/${s.metadata.name}`) ?? []) {
          if (sl.addressType === 'FQDN') continue;
          // Slices name their ports after the service's (an unnamed single port matches the unnamed one).
          const port = sl.ports?.find((q) => (q.name ?? '') === p.name && (q.protocol ?? 'TCP') === p.protocol);
          if (port?.port === undefined) continue;
          for (const ep of sl.endpoints ?? []) {
            if (ep.conditions?.ready === false) continue; // unset means ready (API semantics)
            for (const ip of ep.addresses) targets.push(ip.includes(':') ? `[${ip}]:${port.port}` : `${ip}:${port.port}`);
          }
        }
        endpoints.set(`${p.protocol}/${p.port}`, [...new Set(targets)]);
      }
      views.push({ namespace: s.metadata.namespace ?? '', name: s.metadata.name, clusterIPs: ips, ports, endpoints });
    }
    return views;
  }
}

/** `unsupported` of the checks that need the API: why they cannot run without a view. */
export const needsApi = (view: KubeView | undefined) => async (): Promise<string | undefined> =>
  (view ? undefined : 'no Kubernetes API (not in a cluster, or no client configured)');
