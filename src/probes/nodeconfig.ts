// nodeconfig: KernelLog (kernel log lines that name a network problem), IPtablesAbnormal
// (FORWARD policy DROP, too many rules) and IRQBalance (irqbalance moves NIC interrupts).

import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { KmsgReader } from '../checks/kmsg.js';
import type { Check, CheckContext, Finding } from '../checks/model.js';
import { defineProbe, event } from './probe.js';

const pexec = promisify(execFile);

/** Lines per KernelLog event: enough to show the problem, bounded under a flood. */
const MAX_LINES = 5;

/**
 * One finding per pattern that matched within `holdSeconds`. Its state is the pattern, so a
 * flood of matching lines is one event (then reminders) rather than one per line; the
 * message shows the latest lines, KCE-style as a list, and `count` how many matched.
 */
export function kernelLogCheck(path = '/dev/kmsg'): Check {
  const reader = new KmsgReader(path);
  const seen = new Map<string, { lines: string[]; count: number; last: number }>();
  return {
    name: 'kernel_log',
    probe: 'nodeconfig',
    fast: true,
    // Without the device (a pod without /dev/kmsg mounted) or the right (CAP_SYSLOG under
    // dmesg_restrict) the check is unsupported, with the reason, not an error every 2 s.
    async unsupported() {
      try {
        reader.open();
        return undefined;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return `cannot read ${path}: ${e.code ?? e.message}`;
      }
    },
    async run(ctx: CheckContext): Promise<Finding[]> {
      const { patterns, holdSeconds } = ctx.options.kernelLog;
      const lower = patterns.map((p) => p.toLowerCase());
      for (const rec of reader.read()) {
        const text = rec.text.toLowerCase();
        const i = lower.findIndex((p) => text.includes(p));
        if (i < 0) continue;
        const s = seen.get(patterns[i]!) ?? { lines: [], count: 0, last: 0 };
        s.lines = [...s.lines, rec.text].slice(-MAX_LINES);
        s.count++;
        s.last = ctx.now;
        seen.set(patterns[i]!, s);
      }
      const findings: Finding[] = [];
      for (const [pattern, s] of seen) {
        if (!patterns.includes(pattern) || ctx.now - s.last > holdSeconds * 1000) {
          seen.delete(pattern);
          continue;
        }
        findings.push({
          type: 'KernelLog',
          subject: pattern,
          state: pattern,
          msg: `[${s.lines.map((l) => `'${l.replace(/'/g, "\\'")}'`).join(', ')}]`,
          attrs: { pattern, count: s.count },
        });
      }
      return findings;
    },
    close: () => reader.close(),
  };
}

/** FORWARD policy and rule count of `iptables-save` output. */
export function parseIptablesSave(text: string): { forwardPolicy?: string; rules: number } {
  let table = '';
  let forwardPolicy: string | undefined;
  let rules = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith('-A ')) rules++;
    else if (table === 'filter' && line.startsWith(':FORWARD ')) forwardPolicy = line.split(/\s+/)[1];
  }
  return { ...(forwardPolicy ? { forwardPolicy } : {}), rules };
}

async function iptables(ctx: CheckContext): Promise<Finding[]> {
  const { maxRules, forwardDrop } = ctx.options.iptables;
  // iptables-save speaks whichever backend (nft or legacy) the node's kube-proxy uses; it runs
  // in the agent's namespace, the node's under hostNetwork.
  const { stdout } = await pexec('iptables-save', [], { maxBuffer: 256 << 20, timeout: 30_000 });
  const { forwardPolicy, rules } = parseIptablesSave(stdout);
  const findings: Finding[] = [];
  if (forwardDrop && forwardPolicy === 'DROP') {
    findings.push({ type: 'IPtablesAbnormal', subject: 'forward_policy', msg: 'FORWARD drop default.', attrs: { chain: 'FORWARD', policy: 'DROP' } });
  }
  if (maxRules > 0 && rules > maxRules) {
    findings.push({
      type: 'IPtablesAbnormal',
      subject: 'rule_count',
      // The state is the fact, not the count: rule churn must not re-emit every cycle.
      state: 'over',
      msg: `iptables has ${rules} rules, more than ${maxRules}.`,
      attrs: { rules, max_rules: maxRules },
    });
  }
  return findings;
}

/** Pids whose command name is `name` (/proc/<pid>/comm). */
export async function pidsNamed(name: string): Promise<number[]> {
  const pids: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const comm = await readFile(`/proc/${d}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === name) pids.push(Number(d));
  }
  return pids;
}

async function irqbalance(): Promise<Finding[]> {
  const pids = await pidsNamed('irqbalance');
  if (pids.length === 0) return [];
  return [{
    type: 'IRQBalance',
    subject: 'irqbalance',
    msg: 'system irqbalance service is running, please stop it and pin the NIC queue interrupts.',
    attrs: { pid: pids[0]! },
  }];
}

/** Where `cmd` is on PATH, if anywhere. */
async function onPath(cmd: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (await access(`${dir}/${cmd}`, constants.X_OK).then(() => true, () => false)) return `${dir}/${cmd}`;
  }
  return undefined;
}

export function nodeConfigChecks(kmsgPath?: string): Check[] {
  return [
    kernelLogCheck(kmsgPath),
    {
      name: 'iptables',
      probe: 'nodeconfig',
      unsupported: async () => ((await onPath('iptables-save')) ? undefined : 'iptables-save is not installed'),
      run: iptables,
    },
    { name: 'irqbalance', probe: 'nodeconfig', run: irqbalance },
  ];
}

export default defineProbe({
  name: 'nodeconfig',
  events: [
    event('KernelLog', 'WARN', 'The kernel log has a line matching a network problem pattern.'),
    event('IPtablesAbnormal', 'WARN', 'The FORWARD chain policy is DROP, or a chain has more rules than the threshold.'),
    event('IRQBalance', 'INFO', 'irqbalance is running.'),
  ],
  checks: ({ kmsgPath }) => nodeConfigChecks(kmsgPath),
});
