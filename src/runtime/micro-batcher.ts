// Micro-batching for per-event work that is cheaper in batches (ONNX inference, online-store reads): callers
// submit one item and await its result; items are handed to `run` together when `maxBatch` have gathered or
// `maxWaitMs` have passed since the first of them, whichever comes first.
export interface MicroBatcherOptions {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
}

interface Pending<I, O> {
  readonly item: I;
  readonly resolve: (o: O) => void;
  readonly reject: (e: unknown) => void;
}

export class MicroBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Batches handed to `run` so far, and their sizes (for metrics). */
  batches = 0;
  lastBatchSize = 0;

  constructor(
    private readonly run: (items: readonly I[]) => Promise<readonly O[]>,
    private readonly options: MicroBatcherOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.options.maxBatch) this.flush();
      else if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), this.options.maxWaitMs);
    });
  }

  /** Hands what is queued to `run` now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0, this.options.maxBatch);
    if (batch.length === 0) return;
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.options.maxWaitMs);
    this.batches++;
    this.lastBatchSize = batch.length;
    this.run(batch.map((p) => p.item)).then(
      (results) => {
        if (results.length !== batch.length) {
          const e = new Error(`batch of ${batch.length} returned ${results.length} results`);
          batch.forEach((p) => p.reject(e));
          return;
        }
        batch.forEach((p, i) => p.resolve(results[i] as O));
      },
      (e: unknown) => batch.forEach((p) => p.reject(e)),
    );
  }
}
