// The configuration keys of the checks as they would stand in the agent's YAML, under
// `event_config.checks` (snake_case, seconds), and their mapping onto CheckOptions. The
// config module owns validation; this only lays what is given over the defaults.

import { checkOptions, type CheckOptions, type ExpectedRoute, type ExpectedRule } from './model.js';

export interface ChecksConfig {
  interval?: number;
  reminder_interval?: number;
  emit_cleared?: boolean;
  kernel_params?: {
    /** Expected values; null turns that check off. */
    rp_filter?: number | null;
    proxy_arp?: number | null;
    tcp_syncookies?: number | null;
    tcp_sack?: number | null;
    nf_conntrack_tcp_be_liberal?: number | null;
    interfaces?: string[];
  };
  mtu?: { min?: number; max?: number; compare_primary?: 'higher' | 'different' | 'off'; ignore?: string[] };
  kernel_log?: { patterns?: string[]; hold?: number; poll?: number };
  iptables?: { max_rules?: number; forward_drop?: boolean };
  vpc_routes?: ExpectedRoute[];
  policy_rules?: ExpectedRule[];
  cidrs?: { vpc?: string[]; service?: string[]; pod?: string[]; docker?: string[] };
  kube_proxy?: { healthz_url?: string; namespace?: string; label_selector?: string };
  ip_masq_agent?: { namespace?: string; name?: string };
}

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
