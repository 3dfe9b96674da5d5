// The pipeline builder: declarative branches from a source topic through typed operators to a sink topic, with
// named side outputs (e.g. late records) bound to topics of their own.
import type { AvroSchemaJson } from '../io/registry/registry.ts';
import type {
  AsyncOperator,
  OperatorContext,
  RawRecord,
  Rec,
  SourcePosition,
  Stage,
  StageContext,
} from './operator.ts';

export interface SideBinding {
  readonly topic: string;
  readonly schema: AvroSchemaJson;
  /** Builds the side record's value from what the stage emitted and the input record (when there is one). */
  readonly build: (value: unknown, raw: RawRecord | undefined) => unknown;
}

export type StageResult = { rec: Rec<unknown> } | { failedStage: string; error: unknown };

/** A record reaching a sink node, with the position of the input record it came from. */
export interface SinkRecord<T> extends Rec<T> {
  readonly source: SourcePosition;
}

/**
 * A sink node: the end of a flow that writes into something other than a topic (a database, a cache), like a
 * Kafka Streams processor node with a write function. The runner hands it each consumed batch's records after
 * the stages, and commits the input offsets (and dead letters) only once `write` resolved. Rules:
 * - writes are idempotent: after a crash the batch is written again and must change nothing the second time;
 * - a record whose content cannot be written throws a record error (e.g. SINK_REJECTED); the runner narrows the
 *   batch down to the record(s) at fault, dead-letters them with that code, and writes the rest;
 * - an unreachable store throws a retryable dependency error: the batch stays uncommitted and is retried.
 */
export interface SinkNode<T> {
  readonly name: string;
  write(records: readonly SinkRecord<T>[]): Promise<void>;
}

export type BranchSink =
  | { readonly kind: 'topic'; readonly topic: string; readonly schema: AvroSchemaJson }
  | { readonly kind: 'node'; readonly node: SinkNode<unknown> };

/** A type-erased chain, so that branches of different record types sit in one topology. */
export interface Branch {
  readonly source: string;
  /** The schema producers are expected to write to the source, registered at start-up so they find it. */
  readonly sourceSchema: AvroSchemaJson | undefined;
  readonly sink: BranchSink;
  readonly sides: ReadonlyMap<string, SideBinding>;
  readonly stages: readonly string[];
  /** Store names of all stages, in stage order. */
  readonly stores: readonly string[];
  /** The flow has an AsyncOperator: run() returns a promise, and the runner keeps a batch's records in flight together. */
  readonly async: boolean;
  run(rec: Rec<unknown>, ctx: OperatorContext): StageResult[] | Promise<StageResult[]>;
  /** Wall-clock tick: each stage's onTime output, then its onFlush output, continues through the stages after it. */
  tick(ctx: StageContext): StageResult[];
  /** Some stage holds records back until the end of a batch (has onFlush). */
  readonly flushes: boolean;
  /** Some stage acts on wall-clock ticks (has onTime): the runner ticks the flow's partitions. */
  readonly ticks: boolean;
  /** End of a batch: each stage's onFlush output continues through the stages after it. */
  flush(ctx: StageContext): StageResult[];
}

export interface Topology {
  readonly name: string;
  readonly branches: readonly Branch[];
}

type AnyOp = Stage<unknown, unknown>;

const isAsync = (op: AnyOp): op is AsyncOperator<unknown, unknown> => 'async' in op && op.async;

/**
 * Runs records through ops[from..]; a failure names the stage it happened in and ends the chain. Synchronous
 * until the first async stage; from there on it returns a promise.
 */
function runFrom(
  ops: readonly AnyOp[],
  from: number,
  input: Array<Rec<unknown>>,
  ctx: OperatorContext,
): StageResult[] | Promise<StageResult[]> {
  let current = input;
  for (let i = from; i < ops.length; i++) {
    const op = ops[i] as AnyOp;
    if (isAsync(op)) return runAsync(ops, i, current, ctx);
    const next: Array<Rec<unknown>> = [];
    for (const r of current) {
      try {
        next.push(...op.process(r, ctx));
      } catch (error) {
        return [{ failedStage: op.name, error }];
      }
    }
    current = next;
  }
  return current.map((r) => ({ rec: r }));
}

async function runAsync(
  ops: readonly AnyOp[],
  at: number,
  input: Array<Rec<unknown>>,
  ctx: OperatorContext,
): Promise<StageResult[]> {
  const op = ops[at] as AsyncOperator<unknown, unknown>;
  let next: Array<Rec<unknown>>;
  try {
    next = (await Promise.all(input.map((r) => op.process(r, ctx)))).flat();
  } catch (error) {
    return [{ failedStage: op.name, error }];
  }
  return runFrom(ops, at + 1, next, ctx);
}

/** A chain being built; `T` is the type of the records at its end. */
export class Flow<T> {
  private constructor(
    private readonly source: string,
    private readonly sourceSchema: AvroSchemaJson | undefined,
    private readonly ops: readonly AnyOp[],
    private readonly sides: ReadonlyMap<string, SideBinding>,
  ) {}

  /**
   * Starts a chain at a source topic. Values are decoded with their writer schema, so from outside sources they
   * start untyped (validate them first); a topic tagstream itself writes may be read as its type `T`.
   */
  static from<T = unknown>(source: string, sourceSchema?: AvroSchemaJson): Flow<T> {
    return new Flow<T>(source, sourceSchema, [], new Map());
  }

  via<U>(op: Stage<T, U>): Flow<U> {
    return new Flow<U>(this.source, this.sourceSchema, [...this.ops, op as AnyOp], this.sides);
  }

  /** Binds a side output port (stages call ctx.emitSide(port, rec)) to a topic. */
  side(port: string, topic: string, schema: AvroSchemaJson, build: SideBinding['build'] = (v) => v): Flow<T> {
    return new Flow<T>(
      this.source,
      this.sourceSchema,
      this.ops,
      new Map([...this.sides, [port, { topic, schema, build }]]),
    );
  }

  /** Ends the chain in a topic whose values are written with `schema` (registered at start-up). */
  to(topic: string, schema: AvroSchemaJson): Branch {
    return this.end({ kind: 'topic', topic, schema });
  }

  /** Ends the chain in a sink node (a database or cache write), run by the same runner as every other node. */
  sink(node: SinkNode<T>): Branch {
    if (this.ops.some((o) => !isAsync(o) && (o.stores?.length ?? 0) > 0))
      throw new Error(`the flow from ${this.source} ends in sink ${node.name}: sink flows are stateless`);
    return this.end({ kind: 'node', node: node as SinkNode<unknown> });
  }

  private end(sink: BranchSink): Branch {
    const ops = this.ops;
    const stores = ops.flatMap((o) => (isAsync(o) ? [] : (o.stores ?? [])));
    const dup = stores.find((s, i) => stores.indexOf(s) !== i);
    if (dup) throw new Error(`store name ${dup} is used by two stages of the flow from ${this.source}`);
    const async = ops.some(isAsync);
    if (async && stores.length > 0)
      throw new Error(
        `the flow from ${this.source} has an async stage and stateful stages (${stores.join(', ')}): ` +
          'records of a batch are in flight together there; put the stateful stages in a flow of their own',
      );
    return {
      source: this.source,
      sourceSchema: this.sourceSchema,
      sink,
      sides: this.sides,
      stages: ops.map((o) => o.name),
      stores,
      async,
      flushes: ops.some((o) => !isAsync(o) && o.onFlush !== undefined),
      ticks: ops.some((o) => !isAsync(o) && o.onTime !== undefined),
      run: (rec, ctx) => runFrom(ops, 0, [rec], ctx),
      tick: (ctx) => [...runHook(ops, ctx, 'onTime'), ...runHook(ops, ctx, 'onFlush')],
      flush: (ctx) => runHook(ops, ctx, 'onFlush'),
    };
  }
}

/** Calls a hook of every synchronous stage in order; what one emits continues through the stages after it. */
function runHook(ops: readonly AnyOp[], ctx: StageContext, hook: 'onTime' | 'onFlush'): StageResult[] {
  const results: StageResult[] = [];
  const hookCtx: OperatorContext = { ...ctx, source: { topic: '', partition: ctx.partition, offset: '-1' } };
  ops.forEach((op, i) => {
    if (isAsync(op)) return;
    const fn = op[hook];
    if (!fn) return;
    let emitted: readonly Rec<unknown>[];
    try {
      emitted = fn.call(op, ctx);
    } catch (error) {
      results.push({ failedStage: op.name, error });
      return;
    }
    // A stateful flow has no async stage (checked in end()), so this is synchronous.
    results.push(...(runFrom(ops, i + 1, [...emitted], hookCtx) as StageResult[]));
  });
  return results;
}

export function topology(name: string, branches: readonly Branch[]): Topology {
  const sources = branches.map((b) => b.source);
  const dup = sources.find((s, i) => sources.indexOf(s) !== i);
  if (dup) throw new Error(`topology ${name}: two branches read ${dup}; compose them into one chain`);
  const stores = branches.flatMap((b) => b.stores);
  const dupStore = stores.find((s, i) => stores.indexOf(s) !== i);
  if (dupStore) throw new Error(`topology ${name}: store ${dupStore} is used in two branches`);
  return { name, branches };
}
