// route: DefaultRoute (the node and every pod namespace need one), PodRoute (the node needs a
// route to every pod IP other than its default route, or replies to the pod leave the node),
// VpcRoute and PolicyRoute (routes and ip rules the configuration says the node must have).

import { rules, RT_TABLE_LOCAL, RT_TABLE_MAIN, RTN_UNICAST, type Route, type Rule } from '../netlink/route.js';
import { cidrContains, parseCidr } from '../util/cidr.js';
import { podLabel, subjectPrefix, type Check, type CheckContext, type ConfigChange, type ExpectedRule, type Finding } from '../checks/model.js';
import { gone, hostEntity, linksOf, podEntities, routesOf } from '../checks/shared.js';
import { defineProbe, event } from './probe.js';

/** A route that forwards by default, in any table but local (policy routing CNIs use their own tables). */
const isDefault = (r: Route): boolean => r.dstLen === 0 && r.type === RTN_UNICAST && r.table !== RT_TABLE_LOCAL;

async function defaultRoutes(ctx: CheckContext): Promise<Finding[]> {
  const findings: Finding[] = [];
  const host = hostEntity(ctx);
  if (!(await routesOf(ctx, host)).some(isDefault)) {
    const node = ctx.options.nodeName || 'node';
    findings.push({ type: 'DefaultRoute', subject: 'node', msg: `default route of node don't exist(${node}).`, attrs: { node } });
  }
  for (const e of podEntities(ctx)) {
    let rs: Route[];
    try {
      rs = await routesOf(ctx, e);
    } catch (err) {
      if (gone(err)) continue;
      throw err;
    }
    if (!rs.some(isDefault)) {
      const pod = podLabel(e);
      findings.push({ type: 'DefaultRoute', subject: `${subjectPrefix(e)}default`, msg: `default route of pod don't exist(${pod}).`, netns: e.netns, attrs: { pod } });
    }
  }
  return findings;
}

const covers = (r: Route, ip: string): boolean => cidrContains(parseCidr(r.dst), ip);

/**
 * The route the main table picks for `ip`: the longest prefix that covers it, whatever its type
 * (Calico's blackhole for a whole IPAM block must not pass for a route to one of its pods).
 */
function lookup(rs: Route[], ip: string): Route | undefined {
  let best: Route | undefined;
  for (const r of rs) if (r.table === RT_TABLE_MAIN && covers(r, ip) && (!best || r.dstLen > best.dstLen || (r.dstLen === best.dstLen && r.metric < best.metric))) best = r;
  return best;
}

async function podRoutes(ctx: CheckContext): Promise<Finding[]> {
  const rs = await routesOf(ctx, hostEntity(ctx));
  const findings: Finding[] = [];
  for (const e of podEntities(ctx)) {
    const ip = e.pod?.ip;
    if (!ip || ip.includes(':')) continue; // IPv4 routes only for now
    // Reaching the pod by the default route means it has no route of its own: replies leave the node.
    const r = lookup(rs, ip);
    if (r && r.dstLen > 0 && r.type === RTN_UNICAST) continue;
    const pod = podLabel(e);
    findings.push({
      type: 'PodRoute', subject: `${subjectPrefix(e)}${ip}`, msg: `lack routes of pods(${pod}).`, netns: e.netns,
      attrs: { pod, pod_ip: ip, route: r ? `${r.dst} type ${r.type}` : 'none' },
    });
  }
  return findings;
}

async function vpcRoutes(ctx: CheckContext): Promise<Finding[]> {
  const host = hostEntity(ctx);
  const [rs, ifs] = await Promise.all([routesOf(ctx, host), linksOf(ctx, host)]);
  const ifname = new Map(ifs.map((l) => [l.index, l.name]));
  const findings: Finding[] = [];
  for (const want of ctx.options.vpcRoutes) {
    const dst = canonical(want.dst);
    const table = want.table ?? RT_TABLE_MAIN;
    const same = rs.filter((r) => r.dst === dst && r.table === table);
    const matches = (r: Route) => (!want.gateway || r.gateway === want.gateway) && (!want.dev || (r.oif !== undefined && ifname.get(r.oif) === want.dev));
    if (same.some(matches)) continue;
    // A route to the same prefix that goes elsewhere blocks the expected one from being added.
    const conflict = same.length > 0;
    findings.push({
      type: 'VpcRoute',
      subject: `${dst}@${table}`,
      msg: conflict ? 'vpc route creates failed because of conflict.' : 'vpc route does not exist for this node.',
      attrs: { dst, table, ...(want.gateway ? { gateway: want.gateway } : {}), ...(want.dev ? { dev: want.dev } : {}), ...(conflict ? { conflict: describeRoute(same[0]!, ifname) } : {}) },
    });
  }
  return findings;
}

function describeRoute(r: Route, ifname: Map<number, string>): string {
  return [r.dst, r.gateway && `via ${r.gateway}`, r.oif !== undefined && `dev ${ifname.get(r.oif) ?? r.oif}`].filter(Boolean).join(' ');
}

/** `10.1.2.3/8` → `10.0.0.0/8`, as the kernel reports a prefix. */
function canonical(text: string): string {
  const c = parseCidr(text);
  if (c.family === 6) return text; // IPv6 VPC routes: compared as written
  const b = c.base;
  return `${[24n, 16n, 8n, 0n].map((s) => (b >> s) & 255n).join('.')}/${c.bits}`;
}

/** `from 10.0.0.0/8 lookup 100`, as `ip rule` writes it. */
export function describeRule(r: ExpectedRule): string {
  return [
    r.priority !== undefined && `${r.priority}:`, `from ${r.from ?? 'all'}`, r.to && `to ${r.to}`, r.iif && `iif ${r.iif}`, r.oif && `oif ${r.oif}`,
    r.fwmark !== undefined && `fwmark 0x${r.fwmark.toString(16)}`, `lookup ${r.table}`,
  ].filter(Boolean).join(' ');
}

const samePrefix = (want: string | undefined, got: string | undefined): boolean =>
  want === undefined ? got === undefined : got !== undefined && canonical(want.includes('/') ? want : `${want}/32`) === got;

function ruleMatches(want: ExpectedRule, r: Rule): boolean {
  return r.table === want.table && samePrefix(want.from, r.src) && samePrefix(want.to, r.dst) &&
    (want.iif === undefined || r.iif === want.iif) && (want.oif === undefined || r.oif === want.oif) &&
    (want.fwmark === undefined || r.fwmark === want.fwmark) && (want.priority === undefined || r.priority === want.priority);
}

async function policyRules(ctx: CheckContext): Promise<Finding[]> {
  if (ctx.options.policyRules.length === 0) return [];
  const have = await rules(ctx.hostNetns, 4);
  return ctx.options.policyRules
    .filter((want) => !have.some((r) => ruleMatches(want, r)))
    .map((want) => {
      const rule = describeRule(want);
      return { type: 'PolicyRoute', subject: rule, msg: `rule "${rule}" is not created.`, attrs: { rule } } satisfies Finding;
    });
}

/** Routes follow links and addresses: any of these changes may make or clear a finding. */
const ROUTING: readonly ConfigChange[] = ['link', 'address', 'route', 'rule'];

export function routeChecks(): Check[] {
  return [
    { name: 'default_route', probe: 'route', rerunOn: ROUTING, run: defaultRoutes },
    { name: 'pod_route', probe: 'route', rerunOn: ROUTING, run: podRoutes },
    { name: 'vpc_route', probe: 'route', rerunOn: ROUTING, run: (ctx) => (ctx.options.vpcRoutes.length ? vpcRoutes(ctx) : Promise.resolve([])) },
    { name: 'policy_route', probe: 'route', rerunOn: ROUTING, run: policyRules },
  ];
}

export default defineProbe({
  name: 'route',
  events: [
    event('VpcRoute', 'WARN', 'The VPC route of this node is missing or conflicts.'),
    event('PodRoute', 'ERROR', 'Pods on this node have no host route to their IP.'),
    event('DefaultRoute', 'ERROR', 'The node or a pod network namespace has no default route.'),
    event('PolicyRoute', 'WARN', 'An expected ip rule is missing.'),
  ],
  checks: () => routeChecks(),
});
