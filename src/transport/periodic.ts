// A push loop that never overlaps itself: the next run is scheduled when the previous one
// (retries included) has finished, so a slow receiver delays pushes instead of stacking them.

export class Periodic {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;

  constructor(private readonly intervalMs: number, private readonly task: () => Promise<void>) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(this.intervalMs);
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      const started = Date.now();
      this.running = this.task().catch(() => {}).finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(Math.max(0, this.intervalMs - (Date.now() - started)));
      });
    }, delay);
    // The agent's servers keep the process alive; a push timer alone must not.
    this.timer.unref();
  }

  /** Stops scheduling and waits for a run in progress (abort it first to make that quick). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
