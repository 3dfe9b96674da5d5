// The pipeline builder: declarative branches from a source topic through typed operators to a sink topic, with
// named side outputs (e.g. late records) bound to topics of their own.
import type { AvroSchemaJson } from '../io/registry/registry.ts';
import type { Operator, OperatorContext, RawRecord, Rec, StageContext } from './operator.ts';

export interface SideBinding {
  readonly topic: string;
  readonly schema: AvroSchemaJson;
  /** Builds the side record's value from what the stage emitted and the input record (when there is one). */
  readonly build: (value: unknown, raw: RawRecord | undefined) => unknown;
}

export type StageResult = { rec: Rec<unknown> } | { failedStage: string; error: unknown };

/** A type-erased chain, so that branches of different record types sit in one topology. */
export interface Branch {
  readonly source: string;
  /** The schema producers are expected to write to the source, registered at start-up so they find it. */
  readonly sourceSchema: AvroSchemaJson | undefined;
  readonly sink: { readonly topic: string; readonly schema: AvroSchemaJson };
  readonly sides: ReadonlyMap<string, SideBinding>;
  readonly stages: readonly string[];
  /** Store names of all stages, in stage order. */
  readonly stores: readonly string[];
  run(rec: Rec<unknown>, ctx: OperatorContext): StageResult[];
  /** Wall-clock tick: each stage's onTime output continues through the stages after it. */
  tick(ctx: StageContext): StageResult[];
}

export interface Topology {
  readonly name: string;
  readonly branches: readonly Branch[];
}

type AnyOp = Operator<unknown, unknown>;

/** Runs records through ops[from..]; a failure names the stage it happened in and ends the chain. */
function runFrom(
  ops: readonly AnyOp[],
  from: number,
  input: Array<Rec<unknown>>,
  ctx: OperatorContext,
): StageResult[] {
  let current = input;
  for (let i = from; i < ops.length; i++) {
    const op = ops[i] as AnyOp;
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

  via<U>(op: Operator<T, U>): Flow<U> {
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
    const ops = this.ops;
    const stores = ops.flatMap((o) => o.stores ?? []);
    const dup = stores.find((s, i) => stores.indexOf(s) !== i);
    if (dup) throw new Error(`store name ${dup} is used by two stages of the flow from ${this.source}`);
    return {
      source: this.source,
      sourceSchema: this.sourceSchema,
      sink: { topic, schema },
      sides: this.sides,
      stages: ops.map((o) => o.name),
      stores,
      run: (rec, ctx) => runFrom(ops, 0, [rec], ctx),
      tick(ctx) {
        const results: StageResult[] = [];
        const tickCtx: OperatorContext = {
          ...ctx,
          source: { topic: '', partition: ctx.partition, offset: '-1' },
        };
        ops.forEach((op, i) => {
          if (!op.onTime) return;
          let emitted: readonly Rec<unknown>[];
          try {
            emitted = op.onTime(ctx);
          } catch (error) {
            results.push({ failedStage: op.name, error });
            return;
          }
          results.push(...runFrom(ops, i + 1, [...emitted], tickCtx));
        });
        return results;
      },
    };
  }
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
