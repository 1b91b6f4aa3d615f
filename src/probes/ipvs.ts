// ipvs: IPVSRulesAbnormal. Without the Kubernetes API: virtual servers of the node that have no
// real server (every connection to them fails). With a service source (the API client):
// ClusterIP ports without a virtual server, and virtual servers whose real servers differ
// from the ready endpoints.

import { genlFamilyId, ipvsServices, serviceName, type IpvsService } from '../netlink/ipvs.js';
import type { ServiceSource, ServiceView } from '../checks/kubeview.js';
import type { Check, CheckContext, Finding } from '../checks/model.js';
import { hostEntity, linksOf } from '../checks/shared.js';
import { defineProbe, event } from './probe.js';

const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** Findings for services whose IPVS state does not match them; pure, for tests. */
export function compareServices(svcs: ServiceView[], vss: IpvsService[]): Finding[] {
  const byName = new Map(vss.map((v) => [serviceName(v), v]));
  const findings: Finding[] = [];
  for (const s of svcs) {
    const problems: string[] = [];
    for (const ip of s.clusterIPs) {
      if (!ip || ip === 'None') continue;
      for (const p of s.ports) {
        const vs = byName.get(serviceName({ protocol: p.protocol, address: ip, port: p.port, fwmark: 0, family: ip.includes(':') ? 6 : 4 }));
        if (!vs) {
          problems.push(`no virtual server ${p.protocol} ${hostPort(ip, p.port)}`);
          continue;
        }
        const want = [...(s.endpoints.get(`${p.protocol}/${p.port}`) ?? [])].sort();
        const have = vs.dests.filter((d) => d.weight > 0).map((d) => hostPort(d.address, d.port)).sort();
        if (want.join(',') !== have.join(',')) problems.push(`${serviceName(vs)} real servers ${have.join(',') || 'none'}, endpoints ${want.join(',') || 'none'}`);
      }
    }
    if (problems.length === 0) continue;
    const svc = `${s.name}/${s.namespace}`;
    findings.push({
      type: 'IPVSRulesAbnormal',
      subject: `svc:${s.namespace}/${s.name}`,
      msg: `svc(${svc}) ipvs rules are abnormal, please check it.`,
      attrs: { service: svc, detail: problems.join('; ') },
    });
  }
  return findings;
}

/** Virtual servers without any real server (no API needed). */
export function emptyVirtualServers(vss: IpvsService[]): Finding[] {
  return vss.filter((v) => v.dests.length === 0).map((v) => ({
    type: 'IPVSRulesAbnormal',
    subject: `vs:${serviceName(v)}`,
    msg: `virtual server(${serviceName(v)}) has no real server, ipvs rules are abnormal, please check it.`,
    attrs: { virtual_server: serviceName(v) },
  }));
}

export function ipvsCheck(source?: ServiceSource): Check {
  return {
    name: 'ipvs',
    probe: 'ipvs',
    // Asked every run (one small netlink request): ip_vs may be loaded later, by kube-proxy.
    async unsupported(ctx) {
      try {
        await genlFamilyId(ctx.hostNetns, 'IPVS');
        return undefined;
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return 'IPVS is not in this kernel (no generic netlink family IPVS: ip_vs not loaded)';
        throw err;
      }
    },
    async run(ctx: CheckContext) {
      const vss = await ipvsServices(ctx.hostNetns);
      if (!source) return emptyVirtualServers(vss);
      // kube-proxy in IPVS mode binds every ClusterIP to its dummy kube-ipvs0; without it the
      // node's services are iptables rules and the absence of virtual servers is normal.
      if (!(await linksOf(ctx, hostEntity(ctx))).some((l) => l.name === 'kube-ipvs0')) return [];
      // With the API, services are compared with their endpoints (a service without endpoints
      // rightly has a virtual server without real servers); virtual servers that no service
      // explains are kube-proxy's business (NodePorts, stale ones it sweeps).
      return compareServices(await source.services(), vss);
    },
  };
}

export default defineProbe({
  name: 'ipvs',
  events: [event('IPVSRulesAbnormal', 'ERROR', 'A Service ClusterIP has no IPVS virtual server, or its real servers differ from the endpoints.')],
  readsKubeApi: true,
  checks: ({ services, kube }) => [ipvsCheck(services ?? kube)],
});
