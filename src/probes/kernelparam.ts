// kernelparam: sysctls that break pod networking when set otherwise. rp_filter and proxy_arp
// are per interface and per namespace (the host side and the pod side of every veth), read
// with RTM_GETNETCONF inside each namespace; tcp_syncookies, tcp_sack and
// nf_conntrack_tcp_be_liberal are per namespace too: the node's from /proc/sys, each pod's
// from inside its namespace through the native addon.

import type { Entity } from '../model.js';
import { netconf, NETCONFA_IFINDEX_ALL } from '../netlink/route.js';
import { globMatch } from '../util/glob.js';
import { entityNetns, subjectPrefix, type Check, type CheckContext, type Finding } from '../checks/model.js';
import { gone, linksOf, podEntities } from '../checks/shared.js';
import { netnsReader, readSysctls } from '../checks/sysctl.js';
import { defineProbe, event } from './probe.js';

function paramFinding(type: string, sysctl: string, current: number, expect: number, prefix = '', netns?: number, iface?: string): Finding {
  return {
    type,
    subject: `${prefix}${sysctl}`,
    msg: `${sysctl}:current_value=${current},expect_value=${expect}`,
    ...(netns !== undefined ? { netns } : {}),
    attrs: { sysctl, current_value: current, expect_value: expect, ...(iface ? { interface: iface } : {}) },
  };
}

async function interfaceParams(ctx: CheckContext): Promise<Finding[]> {
  const { rpFilter, proxyArp, interfaces } = ctx.options.kernelParams;
  if (rpFilter === undefined && proxyArp === undefined) return [];
  const findings: Finding[] = [];
  for (const e of ctx.entities) {
    let confs, ifs;
    try {
      [confs, ifs] = await Promise.all([netconf(entityNetns(e, ctx)), linksOf(ctx, e)]);
    } catch (err) {
      if (!e.isHost && gone(err)) continue;
      throw err;
    }
    const names = new Map(ifs.map((l) => [l.index, l.name]));
    for (const c of confs) {
      const name = c.ifindex === NETCONFA_IFINDEX_ALL ? 'all' : names.get(c.ifindex);
      if (!name || name === 'lo' || !interfaces.some((p) => globMatch(p, name))) continue;
      const netns = e.isHost ? undefined : e.netns;
      const prefix = subjectPrefix(e);
      if (rpFilter !== undefined && c.rpFilter !== undefined && c.rpFilter !== rpFilter) {
        findings.push(paramFinding('RPFilterKernelParam', `net.ipv4.conf.${name}.rp_filter`, c.rpFilter, rpFilter, prefix, netns, name));
      }
      if (proxyArp !== undefined && c.proxyNeigh !== undefined && c.proxyNeigh !== proxyArp) {
        findings.push(paramFinding('ProxyARPKernelParam', `net.ipv4.conf.${name}.proxy_arp`, c.proxyNeigh, proxyArp, prefix, netns, name));
      }
    }
  }
  return findings;
}

function wantedParams(ctx: CheckContext): [string, string, number][] {
  const { tcpSyncookies, tcpSack, conntrackTcpBeLiberal } = ctx.options.kernelParams;
  const wanted: [string, string, number | undefined][] = [
    ['TCPSyncookiesKernelParam', 'net.ipv4.tcp_syncookies', tcpSyncookies],
    ['TCPSackKernelParam', 'net.ipv4.tcp_sack', tcpSack],
    ['LiberalKernelParam', 'net.netfilter.nf_conntrack_tcp_be_liberal', conntrackTcpBeLiberal],
  ];
  return wanted.filter((w): w is [string, string, number] => w[2] !== undefined);
}

/** Per-namespace sysctls of `e` that differ from the expected values. */
async function namespaceParams(ctx: CheckContext, e: Entity): Promise<Finding[]> {
  // Conntrack in a pod's namespace matters only to the rare pod that runs its own netfilter:
  // be_liberal (0 by default) is judged on the node alone, or every pod would report it.
  const wanted = wantedParams(ctx).filter(([type]) => e.isHost || type !== 'LiberalKernelParam');
  if (wanted.length === 0) return [];
  const values = await readSysctls(e.isHost ? null : entityNetns(e, ctx), wanted.map((w) => w[1]));
  return wanted.flatMap(([type, name, expect], i) => {
    const current = values[i];
    if (current === undefined || current === expect) return [];
    return [paramFinding(type, name, current, expect, subjectPrefix(e), e.isHost ? undefined : e.netns)];
  });
}

/** The node's own values, read where the agent runs (its namespace is the node's). */
async function nodeParams(ctx: CheckContext): Promise<Finding[]> {
  return namespaceParams(ctx, { netns: 0, isHost: true, pids: [process.pid] });
}

/**
 * Each pod's values: tcp_syncookies, tcp_sack and the conntrack sysctls are per namespace, and
 * a pod may set them (safe sysctls) or start from kernel defaults that differ from the node's.
 */
async function podParams(ctx: CheckContext): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const e of podEntities(ctx)) {
    try {
      findings.push(...(await namespaceParams(ctx, e)));
    } catch (err) {
      if (!gone(err)) throw err;
    }
  }
  return findings;
}

export function kernelParamChecks(): Check[] {
  return [
    { name: 'interface_sysctls', probe: 'kernelparam', rerunOn: ['netconf', 'link'], run: interfaceParams },
    // Sysctls have no change notification: the node's three are cheap to read on the fast
    // cadence (kernelLog.pollSeconds), so a change there shows within seconds too.
    { name: 'node_sysctls', probe: 'kernelparam', fast: true, run: nodeParams },
    { name: 'pod_sysctls', probe: 'kernelparam', rerunOn: ['netconf', 'link'], unsupported: async () => netnsReader().error, run: podParams },
  ];
}

export default defineProbe({
  name: 'kernelparam',
  events: [
    event('RPFilterKernelParam', 'WARN', 'rp_filter of an interface differs from the expected value.'),
    event('TCPSyncookiesKernelParam', 'WARN', 'net.ipv4.tcp_syncookies differs from the expected value.'),
    event('LiberalKernelParam', 'WARN', 'net.netfilter.nf_conntrack_tcp_be_liberal differs from the expected value.'),
    event('TCPSackKernelParam', 'WARN', 'net.ipv4.tcp_sack differs from the expected value.'),
    event('ProxyARPKernelParam', 'WARN', 'proxy_arp of an interface differs from the expected value.'),
  ],
  checks: () => kernelParamChecks(),
});
