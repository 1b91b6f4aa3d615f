// Counters summed over parts that come and go: the processes of a pod (io), the qdiscs of
// its devices (qdisc). A plain sum drops when a part leaves, which Prometheus reads as a
// counter reset, and rate() then counts the whole remaining sum as new increase. Keeping the
// last value of every part that left (or restarted: its value went down) keeps it monotonic.

class MonotonicSum {
  private retained = 0;
  private last: ReadonlyMap<string, number> = new Map<string, number>();

  /** Takes `parts` as it is (kept until the next call, not copied): the caller must not change it. */
  total(parts: ReadonlyMap<string, number>): number {
    for (const [id, previous] of this.last) {
      const now = parts.get(id);
      if (now === undefined || now < previous) this.retained += previous;
    }
    this.last = parts;
    let sum = this.retained;
    for (const v of parts.values()) sum += v;
    return sum;
  }
}

/** One MonotonicSum per namespace and metric, forgotten with the namespace. */
export class MonotonicSums {
  private readonly sums = new Map<number, Map<string, MonotonicSum>>();
  private lastLive?: readonly { netns: number }[];

  /** The monotonic total of `parts` (a map made for this call: it is kept, not copied). */
  total(netns: number, metric: string, parts: ReadonlyMap<string, number>): number {
    let ofNetns = this.sums.get(netns);
    if (!ofNetns) this.sums.set(netns, (ofNetns = new Map()));
    let sum = ofNetns.get(metric);
    if (!sum) ofNetns.set(metric, (sum = new MonotonicSum()));
    return sum.total(parts);
  }

  /** Drops the state of namespaces that are gone. */
  retain(liveNetns: ReadonlySet<number>): void {
    for (const netns of this.sums.keys()) if (!liveNetns.has(netns)) this.sums.delete(netns);
  }

  /**
   * retain() for a cycle's entity list; a probe calls it for every entity of the cycle, and
   * the list is the same array throughout, so only the first call of a cycle does the work.
   */
  retainEntities(entities: readonly { netns: number }[]): void {
    if (entities === this.lastLive) return;
    this.lastLive = entities;
    this.retain(new Set(entities.map((e) => e.netns)));
  }
}
