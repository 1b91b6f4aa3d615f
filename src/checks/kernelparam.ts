// kernelparam: sysctls that break pod networking when set otherwise. rp_filter and proxy_arp
// are per interface and per namespace (the host side and the pod side of every veth), read
// with RTM_GETNETCONF inside each namespace; tcp_syncookies, tcp_sack and
// nf_conntrack_tcp_be_liberal are read for the node from /proc/sys.

import { readFile } from 'node:fs/promises';
import type { EventType } from '../catalogue/events.js';
import { netconf, NETCONFA_IFINDEX_ALL } from '../netlink/route.js';
import { entityNetns, globMatch, subjectPrefix, type Check, type CheckContext, type Finding } from './model.js';
import { gone, linksOf } from './shared.js';

function paramFinding(type: EventType, sysctl: string, current: number, expect: number, prefix = '', netns?: number, iface?: string): Finding {
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

/** The node's value of a sysctl; undefined when the kernel has no such file (nf_conntrack not loaded). */
async function sysctl(name: string): Promise<number | undefined> {
  try {
    return Number((await readFile(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8')).trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function nodeParams(ctx: CheckContext): Promise<Finding[]> {
  const { tcpSyncookies, tcpSack, conntrackTcpBeLiberal } = ctx.options.kernelParams;
  const wanted: [EventType, string, number | undefined][] = [
    ['TCPSyncookiesKernelParam', 'net.ipv4.tcp_syncookies', tcpSyncookies],
    ['TCPSackKernelParam', 'net.ipv4.tcp_sack', tcpSack],
    ['LiberalKernelParam', 'net.netfilter.nf_conntrack_tcp_be_liberal', conntrackTcpBeLiberal],
  ];
  const findings: Finding[] = [];
  for (const [type, name, expect] of wanted) {
    if (expect === undefined) continue;
    const current = await sysctl(name);
    if (current !== undefined && current !== expect) findings.push(paramFinding(type, name, current, expect));
  }
  return findings;
}

export function kernelParamChecks(): Check[] {
  return [
    { name: 'interface_sysctls', probe: 'kernelparam', run: interfaceParams },
    { name: 'node_sysctls', probe: 'kernelparam', run: nodeParams },
  ];
}
