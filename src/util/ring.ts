// A FIFO of items, each with three numbers beside it (for the event pipeline: when it was
// queued, its estimated bytes, its spool sequence), in a ring that grows by doubling and
// shrinks when mostly empty. The numbers live in typed arrays (outside the JS heap) and the
// item slots in one array reused in place: queueing an event allocates nothing, and a long
// queue is not copied again and again by the garbage collector as growing arrays would be.

const MIN_CAPACITY = 1024;

export class Ring<T> {
  private items: (T | undefined)[];
  private at: Float64Array;
  private sizes: Float64Array;
  private seqs: Float64Array;
  /** Index of the oldest item; `count` items follow it, wrapping around. */
  private head = 0;
  private count = 0;

  constructor(private readonly minCapacity = MIN_CAPACITY) {
    if (minCapacity < 1 || (minCapacity & (minCapacity - 1)) !== 0) throw new Error(`ring capacity ${minCapacity} is not a power of two`);
    this.items = new Array<T | undefined>(minCapacity).fill(undefined);
    this.at = new Float64Array(minCapacity);
    this.sizes = new Float64Array(minCapacity);
    this.seqs = new Float64Array(minCapacity);
  }

  get length(): number {
    return this.count;
  }

  push(item: T, at: number, size: number, seq: number): void {
    if (this.count === this.items.length) this.resize(this.items.length * 2);
    const i = (this.head + this.count) & (this.items.length - 1);
    this.items[i] = item;
    this.at[i] = at;
    this.sizes[i] = size;
    this.seqs[i] = seq;
    this.count++;
  }

  /** The k-th item from the oldest (k < length). */
  item(k: number): T {
    return this.items[(this.head + k) & (this.items.length - 1)]!;
  }
  atOf(k: number): number {
    return this.at[(this.head + k) & (this.items.length - 1)]!;
  }
  sizeOf(k: number): number {
    return this.sizes[(this.head + k) & (this.items.length - 1)]!;
  }
  seqOf(k: number): number {
    return this.seqs[(this.head + k) & (this.items.length - 1)]!;
  }

  /** Removes the oldest `n` items (n <= length); returns them, oldest first. */
  shift(n: number): T[] {
    const out = new Array<T>(n);
    const mask = this.items.length - 1;
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) & mask;
      out[k] = this.items[i]!;
      this.items[i] = undefined; // collectable now
    }
    this.head = (this.head + n) & mask;
    this.count -= n;
    this.shrink();
    return out;
  }

  /** Removes the oldest item (length > 0). */
  drop(): void {
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.count--;
    this.shrink();
  }

  /** Gives a ring at most a quarter full back half its slots (not below the minimum). */
  private shrink(): void {
    const cap = this.items.length;
    if (cap > this.minCapacity && this.count < cap / 4) this.resize(cap / 2);
  }

  /** Copies the queue to rings of `capacity` slots (a power of two, at least `count`), oldest first at 0. */
  private resize(capacity: number): void {
    const items = new Array<T | undefined>(capacity).fill(undefined);
    const at = new Float64Array(capacity);
    const sizes = new Float64Array(capacity);
    const seqs = new Float64Array(capacity);
    const mask = this.items.length - 1;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & mask;
      items[k] = this.items[i];
      at[k] = this.at[i]!;
      sizes[k] = this.sizes[i]!;
      seqs[k] = this.seqs[i]!;
    }
    this.items = items;
    this.at = at;
    this.sizes = sizes;
    this.seqs = seqs;
    this.head = 0;
  }
}
