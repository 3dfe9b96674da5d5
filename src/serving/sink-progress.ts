// Serving waits for the sinks it reads through: the history sink, and the feature-store sink (below). Item scoring reads an item's rentals and damage scans from id_transactions,
// which the history sink writes in a consumer group of its own, from the same clean-scan partitions serving reads.
// Without a wait, serving could score an `out` scan before the sink has stored the item's earlier scans (a faster
// serving group, a backlog, a sink restarting), and `days_since_last_use` or `prior_rentals` would come out of an
// older history than training ever saw. The sink stores its progress per source partition (the highest offset
// stored) in the same SQL transaction as the scans (schemas/sql/007_sink_progress.sql); the scan at offset o is
// scored once that progress has reached o, so every earlier scan of its partition (and so of its item, which the
// scans' key keeps on one partition) is in id_transactions.
//
// The feature-store sink: scoring reads class features (stock levels, the sliding 7-day counts) from the online store,
// which the feature-store sink fills from the class windows' rows, two consumer groups downstream of the clean topics
// serving reads. Those rows are followed on each feature topic's partition q by progress rows: per clean partition p,
// the highest offset whose class events q has turned into rows (src/features/progress-rows.ts). The sink writes them
// into the online store after the rows; an event of class c from p at offset o is scored once the progress of p on
// both feature topics' partition q of c has reached o (onlineProgress; the progress "topic" names the feature
// topic, its partition and the clean topic: featureProgressTopic).
//
// A sink that makes no progress for `stallMs` (it is not running, or another instance's sink has died) does not
// stop serving: the batch is scored with what is stored so far, counted and logged once per partition, and the
// partition is not waited on again until its sink moves. A wait that the job's stop interrupts (`stopping`) throws
// STOPPING instead: the sinks stop beside serving and may never store what it waits for, and the batch, left
// uncommitted, is scored at the next start with what it should have had.
import type { Sql } from '../io/mysql/pool.ts';
import { TagstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SourcePosition } from '../runtime/operator.ts';
import type { FeatureRef } from '../features/keys.ts';
import { progressEntity } from '../features/progress-rows.ts';
import type { OnlineValue } from '../store/online.ts';

/** The highest stored offset of each of `partitions` of `topic` (partitions the sink never wrote are absent). */
export type ReadProgress = (topic: string, partitions: readonly number[]) => Promise<Map<number, bigint>>;

export interface SinkProgressOptions {
  readonly read: ReadProgress;
  /** Give up waiting on a partition whose sink has not moved for this long (serving.sinkWaitMs). */
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
  /** True once the job is stopping: a wait still behind then throws STOPPING (retryable) instead of going on. */
  readonly stopping?: () => boolean;
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
      const reads = await Promise.all(
        [...byTopic].map(async ([topic, partitions]) => ({
          topic,
          partitions,
          read: await this.opts.read(topic, partitions),
        })),
      );
      for (const { topic, partitions, read } of reads) {
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
              `scoring with what it has stored; check that it is running (its consumer lag, its log)`,
          );
        }
        this.opts.onStale?.(live.length);
        break;
      }
      if (this.opts.stopping?.())
        throw new TagstreamError(
          'STOPPING',
          `the job is stopping before ${this.opts.sink} stored what this batch needs; it is scored at the next start`,
          { retryable: true },
        );
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

const SEP = '\u0001';

/**
 * The progress "topic" of clean topic `source` as the feature-store sink stores it through partition `partition` of
 * feature topic `featureTopic` (onlineProgress reads it; SinkProgress's partitions are the clean topic's).
 */
export const featureProgressTopic = (featureTopic: string, partition: number, source: string): string =>
  `${progressEntity(featureTopic, partition)}${SEP}${source}`;

/** The feature-store sink's progress as it stores it in the online store (src/features/progress-rows.ts). */
export function onlineProgress(online: {
  read(entityIds: readonly string[], refs: readonly FeatureRef[]): Promise<(OnlineValue | null)[][]>;
}): ReadProgress {
  return async (topic, partitions) => {
    const at = topic.lastIndexOf(SEP);
    const [values] = await online.read(
      [topic.slice(0, at)],
      partitions.map((p) => ({ name: `${topic.slice(at + 1)}:${p}` })),
    );
    const out = new Map<number, bigint>();
    partitions.forEach((p, i) => {
      const v = values?.[i];
      if (v) out.set(p, BigInt(v.timestamp));
    });
    return out;
  };
}
