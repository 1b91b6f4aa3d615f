// `kubesonar entities`: what the agent would observe, one line per network namespace.
import { EntityDiscovery } from '../entities/discovery.js';
import { netnsPath, type Entity } from '../model.js';
import { nativeAddon } from '../native/addon.js';
import { links } from '../netlink/rtnetlink.js';

interface EntityRow {
  netns: number;
  pod: string;
  namespace: string;
  uid: string;
  ip: string;
  attribution: string;
  pids: number[];
  interfaces: string[];
}

async function interfacesOf(e: Entity): Promise<string[]> {
  if (nativeAddon().error) return [];
  return (await links(netnsPath(e)).catch(() => [])).map((l) => l.name);
}

export async function entityRows(entities: Entity[]): Promise<EntityRow[]> {
  return Promise.all(entities.map(async (e) => ({
    netns: e.netns,
    pod: e.isHost ? 'hostNetwork' : e.pod?.name ?? '',
    namespace: e.isHost ? 'hostNetwork' : e.pod?.namespace ?? '',
    uid: e.pod?.uid ?? '',
    ip: e.pod?.ip ?? '',
    attribution: e.isHost ? 'host' : e.pod?.source ?? 'none',
    pids: e.pids,
    interfaces: await interfacesOf(e),
  })));
}

export async function listEntities(format: 'table' | 'json'): Promise<string> {
  const discovery = new EntityDiscovery();
  const entities = await discovery.discover();
  const rows = await entityRows(entities);
  const notes = [
    discovery.criError ? `CRI unavailable (${discovery.criError}): pods attributed by cgroup UID only` : '',
    nativeAddon().error ? `interfaces unknown: ${nativeAddon().error}` : '',
  ].filter(Boolean);
  if (format === 'json') return JSON.stringify({ entities: rows, hostNetworkPods: entities[0]?.hostNetworkPods ?? [], notes }, null, 2) + '\n';
  const header = ['NETNS', 'NAMESPACE', 'POD', 'IP', 'ATTRIBUTION', 'PIDS', 'INTERFACES'];
  const table = [header, ...rows.map((r) => [String(r.netns), r.namespace || '-', r.pod || '-', r.ip || '-', r.attribution,
    r.pids.length > 4 ? `${r.pids.slice(0, 4).join(',')},… (${r.pids.length})` : r.pids.join(','), r.interfaces.join(',') || '-'])];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const lines = table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  const hostPods = entities[0]?.hostNetworkPods ?? [];
  if (hostPods.length) lines.push('', `host-network pods: ${hostPods.map((p) => `${p.namespace}/${p.name}`).join(', ')}`);
  return [...lines, ...notes.map((n) => `note: ${n}`), ''].join('\n');
}
