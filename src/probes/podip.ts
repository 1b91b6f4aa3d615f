// podip: pod IP usage of the node, from the host-local IPAM state that the CNI plugins keep
// (<dataDir>/<network>/<ip> files, one per allocation) and the ranges in the CNI config.
// Residuals are allocations whose pod no longer runs (leaked IPs that starve the node).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { NotApplicable, type ProbeContext } from '../model.js';
import { cidrContains, cidrSize, ipToBigInt, parseCidr, type Cidr } from '../util/cidr.js';
import { defineProbe, gauge, type ProbeOption } from './probe.js';

interface HostLocalRange { subnet: string; rangeStart?: string; rangeEnd?: string; gateway?: string }
interface HostLocalNetwork { name: string; dataDir: string; ranges: HostLocalRange[] }

/** host-local networks declared in the CNI config directory (.conf and .conflist). */
export async function hostLocalNetworks(confDir: string, defaultDataDir: string): Promise<HostLocalNetwork[]> {
  const files = (await readdir(confDir)).filter((f) => /\.(conf|conflist|json)$/.test(f)).sort();
  const nets: HostLocalNetwork[] = [];
  for (const file of files) {
    let conf: any;
    try {
      conf = JSON.parse(await readFile(join(confDir, file), 'utf8'));
    } catch {
      continue; // not ours to judge; the CNI runtime reports broken files
    }
    for (const plugin of conf.plugins ?? [conf]) {
      const ipam = plugin?.ipam;
      if (ipam?.type !== 'host-local') continue;
      const ranges: HostLocalRange[] = ipam.ranges ? ipam.ranges.flat() : ipam.subnet ? [ipam] : [];
      nets.push({ name: conf.name, dataDir: join(ipam.dataDir ?? defaultDataDir, conf.name), ranges });
    }
  }
  return nets;
}

/** Addresses host-local can hand out: rangeStart..rangeEnd (default: subnet minus network and broadcast), minus the gateway. */
export function rangeCapacity(r: HostLocalRange): number {
  const cidr = parseCidr(r.subnet);
  const size = cidrSize(cidr);
  const first = r.rangeStart ? ipToBigInt(r.rangeStart).value : cidr.base + 1n;
  const last = r.rangeEnd ? ipToBigInt(r.rangeEnd).value : cidr.base + size - (cidr.family === 4 ? 2n : 1n);
  const gateway = r.gateway ? ipToBigInt(r.gateway).value : cidr.base + 1n;
  const count = last - first + 1n - (gateway >= first && gateway <= last ? 1n : 0n);
  return Number(count > 0n ? count : 0n);
}

async function allocatedIPs(dataDir: string): Promise<string[]> {
  try {
    return (await readdir(dataDir)).filter((n) => isIP(n) !== 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []; // nothing allocated yet
    throw e;
  }
}

function podIPs(ctx: ProbeContext): string[] {
  return ctx.entities.flatMap((e) => (e.pod?.ip && !e.isHost ? [e.pod.ip] : []));
}

const POD_CIDRS: ProbeOption = {
  section: 'metric_config',
  key: 'pod_cidrs',
  schema: { type: 'array', items: { type: 'string', format: 'cidr' }, default: [], description: 'Pod CIDRs of the node for the podip probe; empty: read from the CNI config' },
};
/** Where the CNI state is; the agent may point elsewhere (its cniConfDir/cniDataDir options). */
const CNI_CONF_DIR = 'cni_conf_dir';
const CNI_DATA_DIR = 'cni_data_dir';

export default defineProbe({
  name: 'podip',
  scope: 'host',
  metrics: [
    gauge('maxentries', 'IPAM ranges', 'Pod IPs the node can allocate (size of the host-local IPAM ranges).', '{address}'),
    gauge('entries', 'IPAM allocations', 'Pod IPs allocated on the node.', '{address}'),
    gauge('redisuals', 'IPAM allocations without a running sandbox', 'Allocated pod IPs whose sandbox no longer runs (leaked). KCE spelling kept.', '{address}'),
    gauge('notinpodcidrs', 'pod IPs outside pod_cidrs', 'Pods on the node whose IP is outside the node pod CIDRs.', '{pod}'),
  ],
  options: [POD_CIDRS],
  async collect(_host, ctx) {
    const cniConfDir = (ctx.options[CNI_CONF_DIR] as string | undefined) ?? '/etc/cni/net.d';
    const cniDataDir = (ctx.options[CNI_DATA_DIR] as string | undefined) ?? '/var/lib/cni/networks';
    const podCIDRs = ctx.options[POD_CIDRS.key] as string[];
    // Nodes whose CNI keeps no host-local IPAM state: nothing to measure, and nothing broken.
    if (!(await stat(cniConfDir).catch(() => undefined))) throw new NotApplicable(`no CNI config directory ${cniConfDir}: pod IP usage is measured from host-local IPAM`);
    const nets = await hostLocalNetworks(cniConfDir, cniDataDir);
    if (nets.length === 0) throw new NotApplicable(`no host-local IPAM network in ${cniConfDir}: pod IP usage is not measurable with this CNI`);
    // Without the runtime, pod IPs are unknown and every allocation would look leaked.
    if (ctx.runtimeError) throw new Error(`pod IPs unknown without the container runtime (${ctx.runtimeError})`);
    const allocated = (await Promise.all(nets.map((n) => allocatedIPs(n.dataDir)))).flat();
    const live = new Set(podIPs(ctx));
    const cidrs: Cidr[] = (podCIDRs.length ? podCIDRs : nets.flatMap((n) => n.ranges.map((r) => r.subnet))).map(parseCidr);
    return [
      { metric: 'maxentries', value: nets.flatMap((n) => n.ranges).reduce((n, r) => n + rangeCapacity(r), 0) },
      { metric: 'entries', value: allocated.length },
      { metric: 'redisuals', value: allocated.filter((ip) => !live.has(ip)).length },
      { metric: 'notinpodcidrs', value: [...live].filter((ip) => !cidrs.some((c) => cidrContains(c, ip))).length },
    ];
  },
});
