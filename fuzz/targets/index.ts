// Every fuzz target, in the order the run prints them.
import type { Target } from '../harness.js';
import { bpfContractTarget, bpfRecordsTarget } from './bpf.js';
import { configTarget } from './config.js';
import { criTarget } from './cri.js';
import { retryAfterTarget, sinkResponseTargets } from './http.js';
import { k8sTargets } from './k8s.js';
import { netlinkTargets } from './netlink.js';
import { procfsTargets } from './procfs.js';

export function allTargets(): Target<any>[] {
  return [configTarget(), ...procfsTargets(), ...netlinkTargets(), bpfRecordsTarget(), bpfContractTarget(), retryAfterTarget(), ...sinkResponseTargets(), ...k8sTargets(), criTarget()];
}
