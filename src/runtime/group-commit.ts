// Group commit, as a database does it: the units of work that are in progress together finish in one commit. The
// runner gives each task (src/runtime/kafka-runner.ts) one: the chunks of the task's partitions that a fetch hands
// over together are processed side by side and go out in one Kafka transaction, once none of them is still
// processing, instead of one transaction each. A commit starts at least `intervalMs` after the one before it started
// (Kafka Streams' commit.interval.ms): when records trickle in, the chunks of that interval share one transaction and
// its markers. Written by hand: it is a few lines around the runner's own commit.

/** One unit of work's part in a group commit: submit what it produced, or leave with nothing. */
export interface Turn<R, O> {
  /** Adds the work's records and offsets to the next commit; resolves or rejects with that commit. */
  submit(records: readonly R[], offsets: readonly O[]): Promise<void>;
  /** Leaves without submitting (the work failed or produced nothing); does nothing after submit. */
  leave(): void;
}

interface Pending<R, O> {
  readonly records: R[];
  readonly offsets: O[];
  readonly done: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

export class GroupCommit<R, O> {
  /** Turns entered and neither submitted nor left. */
  private processing = 0;
  private pending: Pending<R, O> | undefined;
  private committing = false;
  private scheduled = false;
  /** When the last commit started (performance.now()). */
  private lastStart = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly commit: (records: R[], offsets: O[]) => Promise<void>,
    private readonly intervalMs = 0,
  ) {}

  /** Work that starts: the next commit waits for it to submit or leave. */
  enter(): Turn<R, O> {
    this.processing++;
    let open = true;
    const close = (): boolean => {
      if (!open) return false;
      open = false;
      this.processing--;
      return true;
    };
    return {
      submit: (records, offsets) => {
        if (!close()) throw new Error('a turn submits once');
        const p = (this.pending ??= pending<R, O>());
        for (const r of records) p.records.push(r);
        for (const o of offsets) p.offsets.push(o);
        this.next();
        return p.done;
      },
      leave: () => {
        if (close()) this.next();
      },
    };
  }

  /**
   * Commits what is pending once nothing is processing and no commit is under way, after the current macrotask (the
   * other chunks of the same fetch, whose handlers are a few promise steps behind, enter first) and no sooner than
   * intervalMs after the last commit started.
   */
  private next(): void {
    if (this.committing || this.processing > 0 || !this.pending || this.scheduled) return;
    this.scheduled = true;
    const go = (): void => {
      this.scheduled = false;
      // A timer may fire a little before its delay by performance.now() (it counts from the event loop's cached
      // time): then wait the rest, so that a commit never starts sooner than intervalMs after the last.
      if (this.untilDue() > 0) this.next();
      else this.flush();
    };
    const wait = this.untilDue();
    if (wait > 0) setTimeout(go, wait);
    else setImmediate(go);
  }

  /** Milliseconds until the next commit may start (intervalMs after the last one started); 0 or less: now. */
  private untilDue(): number {
    return this.lastStart + this.intervalMs - performance.now();
  }

  private flush(): void {
    if (this.committing || this.processing > 0 || !this.pending) return;
    const p = this.pending;
    this.pending = undefined;
    this.committing = true;
    this.lastStart = performance.now();
    this.commit(p.records, p.offsets)
      .then(p.resolve, p.reject)
      .finally(() => {
        this.committing = false;
        this.next();
      });
  }
}

function pending<R, O>(): Pending<R, O> {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Every submitter awaits `done`; mark it handled so a rejection is not reported before they see it.
  done.catch(() => undefined);
  return { records: [], offsets: [], done, resolve, reject };
}
