// configcheck: the findings that hold now as one gauge, so alerts need no log query:
// netexporter_configcheck_abnormal{type="RPFilterKernelParam",subject="net.ipv4.conf.eth0.rp_filter"} 1.
// Node-wide (host scope): findings inside pods name the pod in `subject`.

import type { MetricProbe, Sample } from '../model.js';
import { activeFindings } from './scheduler.js';

export const configcheckProbe: MetricProbe = {
  name: 'configcheck',
  scope: 'host',
  async collect(): Promise<Sample[]> {
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
};
