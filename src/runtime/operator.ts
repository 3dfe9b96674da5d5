// The operator contract: a typed stage that maps one record to zero or more records, or throws a coded record error.
import type { Clock } from './clock.ts';

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

export interface OperatorContext {
  readonly clock: Clock;
  readonly source: SourcePosition;
}

/**
 * A stage. Stateless stages are plain functions of the record; stateful ones keep state the runtime hands them.
 * A stage signals a bad record by throwing a TagstreamError whose code is a record error; the runner dead-letters
 * the input with that code and `name` as the stage. Any other error stops the pipeline without committing.
 */
export interface Operator<In, Out> {
  readonly name: string;
  process(rec: Rec<In>, ctx: OperatorContext): readonly Rec<Out>[];
}

/** A stateless one-to-one stage from a function. */
export function mapOperator<In, Out>(
  name: string,
  fn: (value: In, rec: Rec<In>, ctx: OperatorContext) => Rec<Out>,
): Operator<In, Out> {
  return { name, process: (rec, ctx) => [fn(rec.value, rec, ctx)] };
}
