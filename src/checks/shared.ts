// Reads several checks need in one run, shared through the run's cache.
import type { Entity } from '../model.js';
import { links, type Link } from '../netlink/rtnetlink.js';
import { routes, RT_TABLE_MAIN, RTN_UNICAST, type Route } from '../netlink/route.js';
import { entityNetns, type CheckContext } from './model.js';

export function linksOf(ctx: CheckContext, e: Entity): Promise<Link[]> {
  return ctx.shared(`links:${e.netns}`, () => links(entityNetns(e, ctx)));
}

export function routesOf(ctx: CheckContext, e: Entity): Promise<Route[]> {
  return ctx.shared(`routes4:${e.netns}`, () => routes(entityNetns(e, ctx), 4));
}

export function hostEntity(ctx: CheckContext): Entity {
  const host = ctx.entities.find((e) => e.isHost);
  // The agent always discovers the host; a bare context (tests of one check) gets a stand-in.
  return host ?? { netns: 0, isHost: true, pids: [process.pid] };
}

/** Namespaces that belong to pods (not the host, not unattributed `ip netns` ones). */
export function podEntities(ctx: CheckContext): Entity[] {
  return ctx.entities.filter((e) => !e.isHost && e.pod && e.pids.length > 0);
}

/** The default IPv4 route the kernel would pick in the main table (lowest metric), if any. */
export function defaultRoute(rs: Route[]): Route | undefined {
  return rs
    .filter((r) => r.dstLen === 0 && r.type === RTN_UNICAST && r.table === RT_TABLE_MAIN)
    .sort((a, b) => a.metric - b.metric)[0];
}

/** Errors that mean the namespace vanished under us (its pod went): skip it, do not fail the check. */
export function gone(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ENOENT' || code === 'ESRCH';
}
