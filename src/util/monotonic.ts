// Counters summed over parts that come and go: the processes of a pod (io), the qdiscs of
// its devices (qdisc). A plain sum drops when a part leaves, which Prometheus reads as a
// counter reset, and rate() then counts the whole remaining sum as new increase. Keeping the
// last value of every part that left (or restarted: its value went down) keeps it monotonic.

class MonotonicSum {
  private retained = 0;
  private last = new Map<string, number>();

  total(parts: ReadonlyMap<string, number>): number {
    for (const [id, previous] of this.last) {
      const now = parts.get(id);
      if (now === undefined || now < previous) this.retained += previous;
    }
    this.last = new Map(parts);
    let sum = this.retained;
    for (const v of parts.values()) sum += v;
    return sum;
  }
}

/** One MonotonicSum per namespace and metric, forgotten with the namespace. */
export class MonotonicSums {
  private readonly sums = new Map<string, MonotonicSum>();

  total(netns: number, metric: string, parts: ReadonlyMap<string, number>): number {
    const key = `${netns}/${metric}`;
    let sum = this.sums.get(key);
    if (!sum) this.sums.set(key, (sum = new MonotonicSum()));
    return sum.total(parts);
  }

  /** Drops the state of namespaces that are gone. */
  retain(liveNetns: ReadonlySet<number>): void {
    for (const key of this.sums.keys()) if (!liveNetns.has(Number(key.split('/')[0]))) this.sums.delete(key);
  }
}
