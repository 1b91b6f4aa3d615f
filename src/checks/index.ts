// The configuration checks, by family, and what the agent needs to run them.
//
// Wiring (the agent):
//   const options = checkOptionsFromConfig(config.event_config.checks, nodeName);
//   let scheduler: CheckScheduler | undefined;
//   const kube = client && new KubeView(client, options, () => scheduler?.trigger(KUBE_PROBES)).start();
//   scheduler = new CheckScheduler({
//     checks: createChecks({ kube }), publisher: eventPipeline, options,
//     entities: () => discovery.discover(), enabled: new Set(event_config.probes),
//   });
//   scheduler.start();                       // runs now, then every options.intervalSeconds
//   scheduler.trigger();                      // entities changed (new pods): run soon
//   scheduler.update(newOptions, newEnabled); // hot reload
//   scheduler.status();                       // for /status: per check ok/error/unsupported/disabled
//   await scheduler.stop(); await kube?.stop();
// The `configcheck` metric probe exports the findings of every started scheduler.
import type { Check } from './model.js';
import { ipvsCheck, type ServiceSource } from './ipvs.js';
import { k8sChecks, type KubeView } from './k8s.js';
import { kernelParamChecks } from './kernelparam.js';
import { mtuChecks } from './mtu.js';
import { nodeConfigChecks } from './nodeconfig.js';
import { routeChecks } from './route.js';

export { CheckScheduler, activeFindings, type CheckStatus, type SchedulerOptions } from './scheduler.js';
export { checkOptions, DEFAULT_CHECK_OPTIONS, type CheckOptions, type Finding } from './model.js';
export { configcheckProbe } from './metric.js';
export { checkOptionsFromConfig, type ChecksConfig } from './config.js';

export { KubeView } from './k8s.js';

/** Event probes whose checks read the Kubernetes API: what a KubeView change should re-run. */
export const KUBE_PROBES = ['k8sconfig', 'kubeproxy', 'ipvs'] as const;

export interface ChecksDeps {
  /** The cluster (informers): k8sconfig and kubeproxy checks, and services for the IPVS comparison. */
  kube?: KubeView;
  /** Services for the IPVS comparison without a whole KubeView (tests). */
  services?: ServiceSource;
  /** Kernel log device (tests may point elsewhere). */
  kmsgPath?: string;
}

/**
 * Every check. Without `kube` the Kubernetes checks report themselves unsupported (CIDRConflict
 * still compares the configured CIDRs) and IPVS only looks for virtual servers without real
 * servers. Checks hold state (the kmsg reader): one set per scheduler.
 */
export function createChecks(deps: ChecksDeps = {}): Check[] {
  return [
    ...kernelParamChecks(), ...routeChecks(), ...nodeConfigChecks(deps.kmsgPath), ...mtuChecks(),
    ipvsCheck(deps.services ?? deps.kube), ...k8sChecks(deps.kube),
  ];
}
