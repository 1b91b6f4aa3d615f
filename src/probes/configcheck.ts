// configcheck: the findings of the configuration checks that hold now as one gauge, so alerts
// need no log query:
// netexporter_configcheck_abnormal{type="RPFilterKernelParam",subject="net.ipv4.conf.eth0.rp_filter"} 1.
// Node-wide (host scope): findings inside pods name the pod in `subject`.
import { activeFindings } from '../checks/scheduler.js';
import type { Sample } from '../model.js';
import { defineProbe, gauge } from './probe.js';

export default defineProbe({
  name: 'configcheck',
  scope: 'host',
  metrics: [
    gauge('abnormal', 'configuration checks', 'A configuration check finding that holds now (type: the event type, subject: what it is about).', '1', { labels: ['type', 'subject'], ack: 'inspector_node_configcheck_abnormal' }),
  ],
  async collect() {
    const seen = new Set<string>();
    const samples: Sample[] = [];
    for (const f of activeFindings()) {
      const k = `${f.type}\u0000${f.subject}`;
      if (seen.has(k)) continue; // two schedulers (never in the agent) must not duplicate series
      seen.add(k);
      samples.push({ metric: 'abnormal', value: 1, labels: { type: f.type, subject: f.subject } });
    }
    return samples;
  },
});
