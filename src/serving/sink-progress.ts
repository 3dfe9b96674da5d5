// Serving waits for the history sink. Item scoring reads an item's rentals and damage scans from id_transactions,
// which the history sink writes in a consumer group of its own, from the same clean-scan partitions serving reads.
// Without a wait, serving could score an `out` scan before the sink has stored the item's earlier scans (a faster
// serving group, a backlog, a sink restarting), and `days_since_last_use` or `prior_rentals` would come out of an
// older history than training ever saw. The sink stores its progress per source partition (the highest offset
// stored) in the same SQL transaction as the scans (schemas/sql/007_sink_progress.sql); the scan at offset o is
// scored once that progress has reached o, so every earlier scan of its partition (and so of its item, which the
// scans' key keeps on one partition) is in id_transactions.
//
// A sink that makes no progress for `stallMs` (it is not running, or another instance's sink has died) does not
// stop serving: the batch is scored with the history stored so far, counted and logged once per partition, and the
// partition is not waited on again until its sink moves.
import type { Sql } from '../io/mysql/pool.ts';
import type { Logger } from '../log.ts';
import type { SourcePosition } from '../runtime/operator.ts';

/** The highest stored offset of each of `partitions` of `topic` (partitions the sink never wrote are absent). */
export type ReadProgress = (topic: string, partitions: readonly number[]) => Promise<Map<number, bigint>>;

export interface SinkProgressOptions {
  readonly read: ReadProgress;
  /** Give up waiting on a partition whose sink has not moved for this long (serving.historyWaitMs). */
  readonly stallMs: number;
  /** Pause between two reads of the progress (default 10 ms). */
  readonly pollMs?: number;
  readonly log: Logger;
  /** What the sink is, for the log ("the history sink"). */
  readonly sink: string;
  /** Once per wait that had to read the progress: seconds waited. */
  readonly onWait?: (seconds: number) => void;
  /** Partitions given up on (the sink stalled). */
  readonly onStale?: (partitions: number) => void;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class SinkProgress {
  /** Highest stored offset per partition, as last read. */
  private readonly known = new Map<string, bigint>();
  /** Partitions given up on, with the progress they had then: not waited on until it moves. */
  private readonly stalled = new Map<string, bigint>();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: SinkProgressOptions) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Resolves once the sink has stored every position given (or has stalled on the partitions it has not). */
  async awaitStored(positions: readonly SourcePosition[]): Promise<void> {
    const need = new Map<string, { topic: string; partition: number; offset: bigint }>();
    for (const p of positions) {
      const k = key(p.topic, p.partition);
      const offset = BigInt(p.offset);
      const n = need.get(k);
      if (!n || offset > n.offset) need.set(k, { topic: p.topic, partition: p.partition, offset });
    }
    type Need = [string, { topic: string; partition: number; offset: bigint }];
    const stored = (k: string): bigint => this.known.get(k) ?? -1n;
    const behind = (): Need[] => [...need].filter(([k, n]) => stored(k) < n.offset);
    let waiting = behind();
    if (waiting.length === 0) return;
    const started = this.now();
    let lastMove = started;
    for (;;) {
      const byTopic = new Map<string, number[]>();
      for (const [, n] of waiting) byTopic.set(n.topic, [...(byTopic.get(n.topic) ?? []), n.partition]);
      for (const [topic, partitions] of byTopic) {
        const read = await this.opts.read(topic, partitions);
        for (const partition of partitions) {
          const k = key(topic, partition);
          const at = read.get(partition);
          if (at === undefined || at <= stored(k)) continue;
          this.known.set(k, at);
          this.stalled.delete(k);
          lastMove = this.now();
        }
      }
      waiting = behind();
      // Partitions given up on before, whose sink has not moved since, are not waited on.
      const live = waiting.filter(([k]) => this.stalled.get(k) !== stored(k));
      if (live.length === 0) break;
      if (this.now() - lastMove >= this.opts.stallMs) {
        for (const [k, n] of live) {
          this.stalled.set(k, stored(k));
          this.opts.log.warn(
            {
              topic: n.topic,
              partition: n.partition,
              stored: stored(k) < 0n ? null : stored(k).toString(),
              needed: n.offset.toString(),
            },
            `${this.opts.sink} has stored nothing new from ${n.topic}[${n.partition}] for ${this.opts.stallMs} ms: ` +
              `scoring with the history it has; check that it is running (its consumer lag, its log)`,
          );
        }
        this.opts.onStale?.(live.length);
        break;
      }
      await this.sleep(this.opts.pollMs ?? 10);
    }
    this.opts.onWait?.((this.now() - started) / 1000);
  }
}

/** The history sink's progress as schemas/sql/007_sink_progress.sql stores it. */
export function sqlProgress(sql: Pick<Sql, 'query'>): ReadProgress {
  return async (topic, partitions) => {
    const rows = await sql.query<{
      source_partition: number | string;
      stored_offset: number | string | null;
    }>(
      `SELECT source_partition, stored_offset FROM sink_partition_locks
        WHERE source_topic = ? AND source_partition IN (?)`,
      [topic, [...partitions]],
    );
    const out = new Map<number, bigint>();
    for (const r of rows)
      if (r.stored_offset !== null) out.set(Number(r.source_partition), BigInt(r.stored_offset));
    return out;
  };
}
