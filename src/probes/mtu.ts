// mtu: interfaces whose MTU is outside the configured range, or (by default) above the MTU of
// the node's primary interface (the one its default route leaves by): a pod that sends frames
// the node cannot forward loses them, or depends on PMTU discovery that firewalls often break.

import type { Link } from '../netlink/rtnetlink.js';
import { globMatch } from '../util/glob.js';
import { subjectPrefix, type Check, type CheckContext, type Finding } from '../checks/model.js';
import { defaultRoute, gone, hostEntity, linksOf, routesOf } from '../checks/shared.js';
import { defineProbe, event } from './probe.js';

async function mtus(ctx: CheckContext): Promise<Finding[]> {
  const { min, max, comparePrimary, ignore } = ctx.options.mtu;
  const host = hostEntity(ctx);
  const hostLinks = await linksOf(ctx, host);
  const via = defaultRoute(await routesOf(ctx, host))?.oif;
  const primary = hostLinks.find((l) => l.index === via);

  const findings: Finding[] = [];
  for (const e of ctx.entities) {
    let ifs: Link[];
    try {
      ifs = e.isHost ? hostLinks : await linksOf(ctx, e);
    } catch (err) {
      if (gone(err)) continue;
      throw err;
    }
    for (const l of ifs) {
      if (l.name === 'lo' || ignore.some((p) => globMatch(p, l.name))) continue;
      let reason: string | undefined;
      if (l.mtu < min || l.mtu > max) reason = `outside ${min}..${max}`;
      else if (primary && l !== primary && comparePrimary !== 'off') {
        const differs = comparePrimary === 'higher' ? l.mtu > primary.mtu : l.mtu !== primary.mtu;
        if (differs) reason = `${comparePrimary === 'higher' ? 'above' : 'differs from'} ${primary.name} mtu ${primary.mtu}`;
      }
      if (!reason) continue;
      findings.push({
        type: 'MTUAbnormal',
        subject: `${subjectPrefix(e)}${l.name}`,
        msg: `${l.name} mtu is ${l.mtu} which is abnormal, please check.`,
        ...(e.isHost ? {} : { netns: e.netns }),
        attrs: { interface: l.name, mtu: l.mtu, reason },
      });
    }
  }
  return findings;
}

export function mtuChecks(): Check[] {
  return [{ name: 'mtu', probe: 'mtu', rerunOn: ['link'], run: mtus }];
}

export default defineProbe({
  name: 'mtu',
  events: [event('MTUAbnormal', 'WARN', 'An interface MTU is outside the expected range or differs from the primary interface.')],
  checks: () => mtuChecks(),
});
