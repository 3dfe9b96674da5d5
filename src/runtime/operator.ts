// The operator contract: a typed stage that maps one record to zero or more records, or throws a coded record error.
// Stateful stages declare their stores and get them, per source partition, from the context; the runtime writes
// their changes to a changelog and restores them. Synchronous stages never do network I/O; an AsyncOperator may
// (feature reads, inference), and the runner keeps the records of a batch in flight through it together.
import type { Clock } from './clock.ts';
import type { KeyedStore } from './state.ts';

/** A record as it moves between stages: key bytes untouched, value typed, timestamp in event time (ms). */
export interface Rec<T> {
  readonly key: Buffer | null;
  readonly value: T;
  readonly timestamp: number;
}

/** Where the input record being processed came from (for dead letters and lineage). */
export interface SourcePosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** What every call gets: the clock, this partition's stores, and side outputs (e.g. late records). */
export interface StageContext {
  readonly clock: Clock;
  readonly partition: number;
  store<S>(name: string): KeyedStore<S>;
  /**
   * Sends a record to a named side output of the flow (bypassing later stages), e.g. 'late'; to `partition` of its
   * topic when given (a marker every partition must see), else to the partition of its key.
   */
  emitSide(port: string, rec: Rec<unknown>, partition?: number): void;
  /**
   * Records left in this source partition past what has been handed to the stages, as the consumer last saw it:
   * 0 once the partition is caught up. Undefined where nobody knows (operator tests, in-process backfills).
   */
  readonly inputLag?: number | undefined;
  /** What a stage may report about itself besides records (absent in contexts built by operator tests). */
  readonly stageMetrics?: StageMetrics;
}

/** Reports of a stage about itself. */
export interface StageMetrics {
  /** The stage's event-time watermark on the context's partition, ms since the epoch. */
  watermark(stage: string, partition: number, watermarkMs: number): void;
}

export interface OperatorContext extends StageContext {
  readonly source: SourcePosition;
}

/**
 * A stage. A stage signals a bad record by throwing a TagstreamError whose code is a record error; the runner
 * dead-letters the input with that code and `name` as the stage. Any other error stops the batch uncommitted.
 */
export interface Operator<In, Out> {
  readonly name: string;
  /** Names of the stores this stage uses (unique in the pipeline); each gets a changelog topic. */
  readonly stores?: readonly string[];
  process(rec: Rec<In>, ctx: OperatorContext): readonly Rec<Out>[];
  /**
   * Called on wall-clock ticks for each partition this instance owns (of a stateful flow, or of any flow with a
   * stage that has onTime): close windows of idle partitions and keys, declare an idle input.
   */
  onTime?(ctx: StageContext): readonly Rec<Out>[];
  /**
   * Called once at the end of each batch of a partition (and after each wall-clock tick), before the batch's
   * outputs, changelog and offsets commit: emits what the stage held back during the batch, e.g. the latest update
   * per key where a key changed many times (Kafka Streams' record cache, KIP-63).
   */
  onFlush?(ctx: StageContext): readonly Rec<Out>[];
}

/**
 * A stage that awaits I/O per record (online-store reads, model inference). The runner calls it for every record
 * of a batch without waiting for the previous one, so an implementation can gather concurrent calls into one
 * request (src/runtime/micro-batcher.ts); results keep the input order. Async stages are stateless, and a flow
 * that has one has no stateful stage at all (records of a batch are in flight together, so state would see them
 * in completion order). Errors follow Operator's rules: a record error dead-letters the record, any other error
 * fails the batch uncommitted.
 */
export interface AsyncOperator<In, Out> {
  readonly name: string;
  readonly async: true;
  process(rec: Rec<In>, ctx: OperatorContext): Promise<readonly Rec<Out>[]>;
}

export type Stage<In, Out> = Operator<In, Out> | AsyncOperator<In, Out>;

/** A stateless one-to-one stage from a function. */
export function mapOperator<In, Out>(
  name: string,
  fn: (value: In, rec: Rec<In>, ctx: OperatorContext) => Rec<Out>,
): Operator<In, Out> {
  return { name, process: (rec, ctx) => [fn(rec.value, rec, ctx)] };
}

/** A record as consumed from Kafka: bytes and position. */
export interface RawRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** The Kafka record timestamp (ms). */
  readonly timestamp: number;
}
