// Hears the configuration changes the checks judge as the kernel announces them, so a finding
// appears within seconds of the change rather than at the next interval (60 s by default).
// The interval and the hourly reminder stay: this only adds runs, and only of the probes whose
// inputs changed.
//
// Decisions:
// - One route-netlink socket in the node's namespace with NETLINK_LISTEN_ALL_NSID hears the
//   node and every pod. A socket per pod namespace would pin each namespace until the next
//   discovery noticed the pod had gone; this one pins none.
// - Hearing other namespaces takes CAP_NET_BROADCAST (the chart grants it); without it the
//   socket hears the node's changes only, and status() says pods' wait for the interval.
// - A pod namespace is heard only once it has an id in the node's; CNIs that name the veth's
//   peer give it one, and `track()` gives one to any other namespace the checks see (what
//   `ip netns set NAME auto` does: a number, nothing else changes).
// - Notifications only say "something of this kind changed somewhere": the checks that declare
//   that kind (Check.rerunOn) run again over every namespace, coalesced by the scheduler's trigger, so a burst (a pod's
//   veth, its addresses and routes) is one run.
// - Sysctls that have no notification (tcp_syncookies, tcp_sack, conntrack's be_liberal) are
//   not this module's: the node's are read on the fast cadence (three small files every 2 s),
//   a pod's on the interval.

import { listenRoute, RTM, RTNLGRP, assignNsid, type RouteListener } from '../netlink/notify.js';
import type { Message } from '../netlink/message.js';
import type { Entity } from '../model.js';
import type { Check, ConfigChange } from './model.js';

/** What each notification type announces. */
const CHANGE_BY_TYPE = new Map<number, ConfigChange>([
  [RTM.NEWNETCONF, 'netconf'],
  [RTM.DELNETCONF, 'netconf'],
  [RTM.NEWLINK, 'link'],
  [RTM.DELLINK, 'link'],
  [RTM.NEWADDR, 'address'],
  [RTM.DELADDR, 'address'],
  [RTM.NEWROUTE, 'route'],
  [RTM.DELROUTE, 'route'],
  [RTM.NEWRULE, 'rule'],
  [RTM.DELRULE, 'rule'],
]);

/** Every kind of change: what a lost notification (overrun) stands for. */
const ALL_CHANGES = [...new Set(CHANGE_BY_TYPE.values())];

/** The kinds of change that `msgs` announce, in no particular order. */
export function changesOf(msgs: readonly Message[]): ConfigChange[] {
  return [...new Set(msgs.flatMap((m) => CHANGE_BY_TYPE.get(m.type) ?? []))];
}

/** The probes with a check that reads what `changes` announce (Check.rerunOn). */
export function probesFollowing(checks: readonly Check[], changes: readonly ConfigChange[]): string[] {
  return [...new Set(checks.filter((c) => c.rerunOn?.some((k) => changes.includes(k))).map((c) => c.probe))];
}

export interface ChangeStatus {
  /** `listening`: changes trigger runs; `off`: only the interval (detail says why). */
  state: 'listening' | 'off';
  /** Whose changes are heard: the node's and every pod's, or (without CAP_NET_BROADCAST) the node's only. */
  scope?: 'node and pods' | 'node only';
  detail?: string;
  /** Notifications that triggered runs since the start, and times the kernel dropped some. */
  notifications: number;
  lost: number;
}

export class ChangeWatcher {
  private listener: RouteListener | undefined;
  private status_: ChangeStatus = { state: 'off', detail: 'not started', notifications: 0, lost: 0 };
  /** Pod namespaces (inode) already given an id or found to have one. */
  private named = new Set<number>();

  constructor(
    private readonly hostNetns: string | null,
    private readonly onChange: (changes: readonly ConfigChange[]) => void,
  ) {}

  /** Starts listening; never throws: where it cannot, status() says why and the interval does the work. */
  start(): this {
    const listen = (allNsid: boolean) => listenRoute(this.hostNetns, Object.values(RTNLGRP), allNsid, (msgs) => this.heard(msgs), (reason) => {
      this.status_.lost++;
      this.onChange(ALL_CHANGES);
      this.status_.detail = `the kernel dropped notifications (${reason}); every check that follows changes reran`;
    });
    try {
      try {
        this.listener = listen(true);
        this.status_ = { ...this.status_, state: 'listening', scope: 'node and pods' };
        delete this.status_.detail;
      } catch (err) {
        if ((err as { code?: string }).code !== 'EPERM') throw err;
        this.listener = listen(false);
        this.status_ = { ...this.status_, state: 'listening', scope: 'node only', detail: "no CAP_NET_BROADCAST: pods' changes wait for the interval" };
      }
    } catch (err) {
      this.status_ = { ...this.status_, state: 'off', detail: `${(err as Error).message}; findings wait for the interval` };
    }
    return this;
  }

  /**
   * Makes sure every pod namespace of `entities` is heard (gives it an id in the node's
   * namespace); forgets the ones that went. Cheap: one request per namespace, once.
   */
  async track(entities: readonly Entity[]): Promise<void> {
    if (!this.listener || this.status_.scope !== 'node and pods') return;
    const present = new Set<number>();
    for (const e of entities) {
      if (e.isHost || e.pids.length === 0) continue;
      present.add(e.netns);
      if (this.named.has(e.netns)) continue;
      try {
        await assignNsid(this.hostNetns, e.pids[0]!);
        this.named.add(e.netns);
      } catch {
        // The pod went meanwhile (ESRCH) or the kernel refused: its changes wait for the interval.
      }
    }
    for (const n of this.named) if (!present.has(n)) this.named.delete(n);
  }

  status(): ChangeStatus {
    return { ...this.status_ };
  }

  close(): void {
    this.listener?.close();
    this.listener = undefined;
    this.status_ = { ...this.status_, state: 'off', detail: 'stopped' };
  }

  private heard(msgs: readonly Message[]): void {
    const changes = changesOf(msgs);
    if (changes.length === 0) return;
    this.status_.notifications++;
    this.onChange(changes);
  }
}
