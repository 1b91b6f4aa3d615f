// The mapping of the agent's `event_config.checks` section (snake_case, seconds) onto
// CheckOptions. The config module owns the section: its type (ChecksConfig, re-exported here)
// and its validation; this only lays what is given over the defaults.

import type { ChecksConfig } from '../config/defaults.js';
import { checkOptions, type CheckOptions } from './model.js';

export type { ChecksConfig };

const opt = <T>(v: T | undefined, key: string): Record<string, T> => (v === undefined ? {} : { [key]: v });
const expect = (v: number | null | undefined, key: string): Record<string, number | undefined> =>
  v === undefined ? {} : { [key]: v === null ? undefined : v };

/** CheckOptions from the config section; `nodeName` is the agent's. */
export function checkOptionsFromConfig(c: ChecksConfig = {}, nodeName?: string): CheckOptions {
  const kp = c.kernel_params ?? {};
  return checkOptions({
    ...opt(c.interval, 'intervalSeconds'),
    ...opt(c.reminder_interval, 'reminderIntervalSeconds'),
    ...opt(c.emit_cleared, 'emitCleared'),
    ...opt(nodeName, 'nodeName'),
    kernelParams: {
      ...expect(kp.rp_filter, 'rpFilter'),
      ...expect(kp.proxy_arp, 'proxyArp'),
      ...expect(kp.tcp_syncookies, 'tcpSyncookies'),
      ...expect(kp.tcp_sack, 'tcpSack'),
      ...expect(kp.nf_conntrack_tcp_be_liberal, 'conntrackTcpBeLiberal'),
      ...opt(kp.interfaces, 'interfaces'),
    },
    mtu: { ...opt(c.mtu?.min, 'min'), ...opt(c.mtu?.max, 'max'), ...opt(c.mtu?.compare_primary, 'comparePrimary'), ...opt(c.mtu?.ignore, 'ignore') },
    kernelLog: { ...opt(c.kernel_log?.patterns, 'patterns'), ...opt(c.kernel_log?.hold, 'holdSeconds'), ...opt(c.kernel_log?.poll, 'pollSeconds') },
    iptables: { ...opt(c.iptables?.max_rules, 'maxRules'), ...opt(c.iptables?.forward_drop, 'forwardDrop') },
    ...opt(c.vpc_routes, 'vpcRoutes'),
    ...opt(c.policy_rules, 'policyRules'),
    cidrs: { ...c.cidrs },
    kubeProxy: { ...opt(c.kube_proxy?.healthz_url, 'healthzUrl'), ...opt(c.kube_proxy?.namespace, 'namespace'), ...opt(c.kube_proxy?.label_selector, 'labelSelector') },
    ipMasqAgent: { ...c.ip_masq_agent },
  });
}
