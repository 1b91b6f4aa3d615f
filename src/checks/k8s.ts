// Checks that need the Kubernetes API: k8sconfig (NetworkPolicy, LocalTrafficPolicy,
// IPMasqAgentConf, CIDRConflict), kubeproxy (KubeProxyAbnormal) and the services side of the
// IPVS check. The objects come from informers (list, then watch), so a run reads a local cache
// and a change in the cluster can trigger a run at once.

import { parse as parseYaml } from 'yaml';
import { Informer, type KubeClient, type KubeObject } from '../k8s/index.js';
import { parseCidr, type Cidr } from '../netutil/cidr.js';
import type { ServiceSource, ServiceView } from './ipvs.js';
import type { Check, CheckContext, CheckOptions, Finding } from './model.js';

/** Services listed in one message at most; the rest are counted (`count`) and shown as `...`. */
const MAX_LISTED = 10;

interface Service extends KubeObject {
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
interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
}
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
interface Pod extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}
interface Node extends KubeObject {
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
  constructor(client: KubeClient, options: CheckOptions, onChange?: () => void) {
    const opts = { onChange: onChange && (() => onChange()) };
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

const listed = (names: string[]): string => names.slice(0, MAX_LISTED).join(',') + (names.length > MAX_LISTED ? ',...' : '');
const svcName = (s: KubeObject): string => `${s.metadata.name}/${s.metadata.namespace}`;

function networkPolicy(view: KubeView): Finding[] {
  view.ready();
  const n = view.policies.objects().length;
  if (n === 0) return [];
  return [{ type: 'NetworkPolicy', subject: 'networkpolicy', state: 'present', msg: 'network policy is configured,please use it carefully.', attrs: { count: n } }];
}

function localTrafficPolicy(view: KubeView): Finding[] {
  view.ready();
  const svcs = view.svcs.objects().sort((a, b) => svcName(a).localeCompare(svcName(b)));
  const ext = svcs.filter((s) => s.spec?.externalTrafficPolicy === 'Local').map(svcName);
  const int = svcs.filter((s) => s.spec?.internalTrafficPolicy === 'Local').map(svcName);
  if (ext.length === 0 && int.length === 0) return [];
  const parts = [
    ext.length && `externalTrafficPolicy of svc(${listed(ext)}) is Local`,
    int.length && `internalTrafficPolicy of svc(${listed(int)}) is Local`,
  ].filter(Boolean);
  return [{
    type: 'LocalTrafficPolicy',
    subject: 'services',
    msg: `${parts.join(', ')}, please check it.`,
    attrs: { external_local: ext.length, internal_local: int.length },
  }];
}

const overlaps = (a: Cidr, b: Cidr): boolean => {
  if (a.family !== b.family) return false;
  const width = a.family === 4 ? 32 : 128;
  const bits = BigInt(width - Math.min(a.bits, b.bits));
  return a.base >> bits === b.base >> bits;
};

/** Whether `outer` contains all of `inner`. */
const contains = (outer: Cidr, inner: Cidr): boolean => outer.bits <= inner.bits && overlaps(outer, inner);

function ipMasqAgent(view: KubeView, ctx: CheckContext): Finding[] {
  view.ready();
  const vpc = ctx.options.cidrs.vpc;
  const cm = view.masqConfig.objects()[0];
  if (!cm || vpc.length === 0) return [];
  let nonMasq: string[] = [];
  try {
    // ip-masq-agent reads YAML (JSON is YAML) from the `config` key.
    const conf = parseYaml(cm.data?.config ?? '') as { nonMasqueradeCIDRs?: string[] } | null;
    nonMasq = conf?.nonMasqueradeCIDRs ?? [];
  } catch (err) {
    return [{ type: 'IPMasqAgentConf', subject: 'config', msg: `ip-masq-agent config cannot be parsed: ${(err as Error).message.split('\n')[0]}`, attrs: {} }];
  }
  const parsed = nonMasq.flatMap((c) => { try { return [parseCidr(c)]; } catch { return []; } });
  const missing = vpc.filter((v) => !parsed.some((n) => contains(n, parseCidr(v))));
  if (missing.length === 0) return [];
  return [{
    type: 'IPMasqAgentConf',
    subject: 'nonMasqueradeCIDRs',
    msg: 'NonMasqueradeCIDRs does not contain vpc cidr, it will reduce pod network performance.',
    attrs: { vpc_cidr: missing.join(','), non_masquerade_cidrs: nonMasq.join(',') },
  }];
}

/** The node's pod CIDRs from its Node object, when the API is there and synced. */
function nodePodCidrs(view: KubeView | undefined): string[] {
  const node = view?.node?.objects()[0];
  return node?.spec?.podCIDRs ?? (node?.spec?.podCIDR ? [node.spec.podCIDR] : []);
}

function cidrConflict(view: KubeView | undefined, ctx: CheckContext): Finding[] {
  const c = ctx.options.cidrs;
  const groups: [string, string[]][] = [
    ['vpc', c.vpc], ['svc', c.service], ['pod', [...new Set([...c.pod, ...nodePodCidrs(view)])]], ['docker', c.docker],
  ];
  const all = groups.flatMap(([kind, cidrs]) => cidrs.map((text) => ({ kind, text, cidr: parseCidr(text) })));
  const conflicts: string[] = [];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const [a, b] = [all[i]!, all[j]!];
      // Within a kind overlaps are the admin's business (several pod ranges); across kinds they break routing.
      if (a.kind !== b.kind && overlaps(a.cidr, b.cidr)) conflicts.push(`${a.kind} ${a.text} ~ ${b.kind} ${b.text}`);
    }
  }
  if (conflicts.length === 0) return [];
  const list = groups.filter(([, cs]) => cs.length).map(([kind, cs]) => `${kind} cidr ${cs.join(',')}`).join(', ');
  return [{ type: 'CIDRConflict', subject: 'cidrs', msg: `cidr conflicts:${list}.`, attrs: { conflicts: conflicts.join('; ') } }];
}

async function kubeProxy(view: KubeView, ctx: CheckContext): Promise<Finding[]> {
  view.ready();
  const { nodeName, kubeProxy: kp } = ctx.options;
  const pods = view.proxyPods.objects().filter((p) => p.spec?.nodeName === nodeName);
  // No kube-proxy pod on this node: the cluster runs without it (a CNI replaces it) or as a
  // static binary; nothing to judge from the API, and the health endpoint is then not ours to probe.
  if (pods.length === 0) return [];
  const reasons: string[] = [];
  for (const p of pods) {
    const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (p.status?.phase !== 'Running') reasons.push(`pod ${p.metadata.name} is ${p.status?.phase ?? 'Unknown'}`);
    else if (!ready) reasons.push(`pod ${p.metadata.name} is not ready`);
  }
  if (kp.healthzUrl) {
    try {
      const res = await fetch(kp.healthzUrl, { signal: AbortSignal.timeout(3000) });
      await res.arrayBuffer();
      if (res.status !== 200) reasons.push(`${kp.healthzUrl} answered ${res.status}`);
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      reasons.push(`${kp.healthzUrl} failed: ${e.cause?.code ?? e.name}`);
    }
  }
  if (reasons.length === 0) return [];
  return [{
    type: 'KubeProxyAbnormal',
    subject: 'kube-proxy',
    msg: 'kube-proxy looks abnormal, please check it.',
    // The reason changes the state: a pod that goes from not ready to failing health is news.
    state: reasons.join('; '),
    attrs: { reason: reasons.join('; '), pod: pods.map((p) => p.metadata.name).join(',') },
  }];
}

/** The k8sconfig and kubeproxy checks; without a view (no API) only CIDRConflict runs, on the configured CIDRs. */
export function k8sChecks(view?: KubeView): Check[] {
  const noApi = async () => (view ? undefined : 'no Kubernetes API (not in a cluster, or no client configured)');
  return [
    { name: 'network_policy', probe: 'k8sconfig', unsupported: noApi, run: async () => networkPolicy(view!) },
    { name: 'local_traffic_policy', probe: 'k8sconfig', unsupported: noApi, run: async () => localTrafficPolicy(view!) },
    { name: 'ip_masq_agent', probe: 'k8sconfig', unsupported: noApi, run: async (ctx) => ipMasqAgent(view!, ctx) },
    { name: 'cidr_conflict', probe: 'k8sconfig', run: async (ctx) => cidrConflict(view, ctx) },
    { name: 'kube_proxy', probe: 'kubeproxy', unsupported: noApi, run: (ctx) => kubeProxy(view!, ctx) },
  ];
}
