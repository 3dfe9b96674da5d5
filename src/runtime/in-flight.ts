// Counts records produced but not yet acknowledged; callers wait (with their partition paused) while it is full.
export class InFlightLimiter {
  private count = 0;
  private waiters: Array<() => void> = [];

  constructor(readonly max: number) {}

  get inFlight(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.max;
  }

  add(n: number): void {
    this.count += n;
  }

  release(n: number): void {
    this.count = Math.max(0, this.count - n);
    if (!this.full) {
      const ws = this.waiters;
      this.waiters = [];
      ws.forEach((w) => w());
    }
  }

  /** Resolves once there is room again. */
  room(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
