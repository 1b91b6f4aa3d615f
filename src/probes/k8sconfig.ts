// k8sconfig: cluster configuration that changes how pod traffic behaves, from the Kubernetes API
// (the informers of KubeView): NetworkPolicies exist, Services with a Local traffic policy,
// an ip-masq-agent config that masquerades VPC traffic, and CIDRs that overlap. CIDRConflict
// also runs without the API, on the configured CIDRs.
import { parse as parseYaml } from 'yaml';
import { needsApi, type KubeView } from '../checks/kubeview.js';
import type { CheckContext, Finding } from '../checks/model.js';
import type { KubeObject } from '../k8s/index.js';
import { parseCidr, type Cidr } from '../util/cidr.js';
import { defineProbe, event } from './probe.js';

const NAME = 'k8sconfig';

/** Services listed in one message at most; the rest are counted (`count`) and shown as `...`. */
const MAX_LISTED = 10;

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

export default defineProbe({
  name: NAME,
  events: [
    event('NetworkPolicy', 'INFO', 'NetworkPolicies exist in the cluster.'),
    event('LocalTrafficPolicy', 'INFO', 'Services use externalTrafficPolicy or internalTrafficPolicy Local.'),
    event('IPMasqAgentConf', 'WARN', 'The ip-masq-agent nonMasqueradeCIDRs lacks the VPC CIDR.'),
    event('CIDRConflict', 'ERROR', 'VPC, service, pod or docker CIDRs overlap.'),
  ],
  readsKubeApi: true,
  checks: ({ kube: view }) => [
    { name: 'network_policy', probe: NAME, unsupported: needsApi(view), run: async () => networkPolicy(view!) },
    { name: 'local_traffic_policy', probe: NAME, unsupported: needsApi(view), run: async () => localTrafficPolicy(view!) },
    { name: 'ip_masq_agent', probe: NAME, unsupported: needsApi(view), run: async (ctx) => ipMasqAgent(view!, ctx) },
    { name: 'cidr_conflict', probe: NAME, run: async (ctx) => cidrConflict(view, ctx) },
  ],
});
