// Requests gathered over one turn of the event loop and answered together: callers ask one at
// a time and each gets a promise of its own answer, while `flush` receives, at the end of the
// turn (setImmediate), everything asked meanwhile, grouped by key. The collection asks for
// every namespace at about the same time, so one native call (one pool job) serves them all.

export interface Waiter<Q, A> {
  query: Q;
  resolve(answer: A): void;
  reject(err: unknown): void;
}

/** A function that queues `query` under `key` for this turn's `flush`. */
export function turnBatcher<K, Q, A>(flush: (asked: Map<K, Waiter<Q, A>[]>) => void): (key: K, query: Q) => Promise<A> {
  let waiting = new Map<K, Waiter<Q, A>[]>();
  return (key, query) => new Promise<A>((resolve, reject) => {
    if (waiting.size === 0) {
      setImmediate(() => {
        const asked = waiting;
        waiting = new Map();
        flush(asked);
      });
    }
    let waiters = waiting.get(key);
    if (!waiters) waiting.set(key, (waiters = []));
    waiters.push({ query, resolve, reject });
  });
}
