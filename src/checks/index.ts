// The configuration checks, by family, and what the agent needs to run them.
import type { Check } from './model.js';
import { ipvsCheck, type ServiceSource } from './ipvs.js';
import { kernelParamChecks } from './kernelparam.js';
import { mtuChecks } from './mtu.js';
import { nodeConfigChecks } from './nodeconfig.js';
import { routeChecks } from './route.js';

export { CheckScheduler, activeFindings, type CheckStatus, type SchedulerOptions } from './scheduler.js';
export { checkOptions, DEFAULT_CHECK_OPTIONS, type CheckOptions, type Finding } from './model.js';
export { configcheckProbe } from './metric.js';

export interface ChecksDeps {
  /** Services and endpoints from the Kubernetes API for the IPVS comparison (later). */
  services?: ServiceSource;
  /** Kernel log device (tests may point elsewhere). */
  kmsgPath?: string;
}

/** Every check that needs no Kubernetes API, plus IPVS (compared with services when given). Checks hold state: one set per scheduler. */
export function createChecks(deps: ChecksDeps = {}): Check[] {
  return [...kernelParamChecks(), ...routeChecks(), ...nodeConfigChecks(deps.kmsgPath), ...mtuChecks(), ipvsCheck(deps.services)];
}
