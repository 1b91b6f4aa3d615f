// configcheck: the findings of the configuration checks that hold now as one gauge, so alerts
// need no log query:
// netexporter_configcheck_abnormal{type="RPFilterKernelParam",subject="net.ipv4.conf.eth0.rp_filter"} 1.
// Node-wide (host scope): a finding inside a pod also carries the pod's k8s_namespace, k8s_pod
// and netns, so that it joins the pod's other series.
import { activeFindings } from '../checks/scheduler.js';
import type { Sample } from '../model.js';
import { defineProbe, gauge } from './probe.js';

export default defineProbe({
  name: 'configcheck',
  scope: 'host',
  metrics: [
    gauge('abnormal', 'configuration checks', 'A configuration check finding that holds now (type: the event type, subject: what it is about).', '1', { labels: ['type', 'subject'], ack: 'inspector_node_configcheck_abnormal' }),
  ],
  async collect(_host, ctx) {
    const seen = new Set<string>();
    const samples: Sample[] = [];
    const pods = new Map(ctx.entities.flatMap((e) => (e.pod && !e.isHost ? [[e.netns, e.pod] as const] : [])));
    for (const f of activeFindings()) {
      const k = `${f.type}\u0000${f.subject}`;
      if (seen.has(k)) continue; // two schedulers (never in the agent) must not duplicate series
      seen.add(k);
      const labels: Record<string, string> = { type: f.type, subject: f.subject };
      const pod = f.netns === undefined ? undefined : pods.get(f.netns);
      if (f.netns !== undefined) labels.netns = `ns${f.netns}`;
      if (pod) Object.assign(labels, { 'k8s.namespace.name': pod.namespace, 'k8s.pod.name': pod.name });
      samples.push({ metric: 'abnormal', value: 1, labels });
    }
    return samples;
  },
});
