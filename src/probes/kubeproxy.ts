// kubeproxy: the kube-proxy pod of this node is running and ready (from the Kubernetes API), and
// its health endpoint answers 200.
import { needsApi, type KubeView } from '../checks/kubeview.js';
import type { CheckContext, Finding } from '../checks/model.js';
import { defineProbe, event } from './probe.js';

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

export default defineProbe({
  name: 'kubeproxy',
  events: [event('KubeProxyAbnormal', 'ERROR', 'The kube-proxy pod of this node is not running or ready, or its health check fails.')],
  readsKubeApi: true,
  checks: ({ kube: view }) => [{ name: 'kube_proxy', probe: 'kubeproxy', unsupported: needsApi(view), run: (ctx) => kubeProxy(view!, ctx) }],
});
