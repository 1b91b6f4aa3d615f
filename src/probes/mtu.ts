// mtu: interfaces whose MTU is outside the configured range, or (by default) above the MTU of
// the node's primary interface (the one its default route leaves by): a pod that sends frames
// the node cannot forward loses them, or depends on PMTU discovery that firewalls often break.

import type { Link } from '../netlink/rtnetlink.js';
import { globMatch } from '../util/glob.js';
import { ifnameGlobs, int, oneOf, section, withDefault } from '../util/schema.js';
import { subjectPrefix, type Check, type CheckContext, type Finding } from '../checks/model.js';
import { defaultRoute, gone, hostEntity, linksOf, routesOf } from '../checks/shared.js';
import { defineProbe, event, type ProbeOption } from './probe.js';

/** event_config.checks.mtu as the file writes it. */
interface MtuOptions {
  min: number;
  max: number;
  /** `higher`: an interface whose MTU exceeds the primary's (pods would send what the node cannot carry); `different`: any difference; `off`. */
  compare_primary: 'higher' | 'different' | 'off';
  /** Interface name globs not checked (besides lo). */
  ignore: string[];
}

const DEFAULTS: MtuOptions = { min: 1280, max: 9216, compare_primary: 'higher', ignore: ['docker*', 'kube-ipvs*', 'dummy*', 'ifb*'] };

const MTU_OPTION: ProbeOption = {
  section: 'event_config.checks',
  key: 'mtu',
  schema: {
    ...section('Interface MTU check', {
      min: int(68, 65535, DEFAULTS.min, withDefault('Report interfaces with a lower MTU', DEFAULTS.min)),
      max: int(68, 65535, DEFAULTS.max, withDefault('Report interfaces with a higher MTU; at least min', DEFAULTS.max)),
      compare_primary: oneOf(['higher', 'different', 'off'], DEFAULTS.compare_primary,
        withDefault('Compared with the primary interface: higher reports a bigger MTU than its, different any difference, off nothing', DEFAULTS.compare_primary)),
      ignore: ifnameGlobs(DEFAULTS.ignore, 'Globs of interfaces not checked (besides lo)'),
    }),
    default: DEFAULTS,
  },
  // Either bound may be left to its default; the two in effect must make a range.
  validate(value, path) {
    const given = value as Partial<MtuOptions>;
    const { min, max } = { ...DEFAULTS, ...given };
    if (min <= max) return [];
    const dflt = (v: number | undefined) => (v === undefined ? ', the default' : '');
    return [given.min !== undefined
      ? `${path}.min: must not be above mtu.max (${max}${dflt(given.max)}), got ${min}`
      : `${path}.max: must not be below mtu.min (${min}${dflt(given.min)}), got ${max}`];
  },
};

async function mtus(ctx: CheckContext): Promise<Finding[]> {
  const { min, max, compare_primary: comparePrimary, ignore } = { ...DEFAULTS, ...(ctx.options.probeOptions[MTU_OPTION.key] as Partial<MtuOptions>) };
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
  options: [MTU_OPTION],
});
