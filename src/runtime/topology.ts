// The pipeline builder: declarative branches from a source topic through typed operators to a sink topic.
import type { AvroSchemaJson } from '../io/registry/registry.ts';
import type { Operator, OperatorContext, Rec } from './operator.ts';

/** A type-erased chain, so that branches of different record types sit in one topology. */
export interface Branch {
  readonly source: string;
  /** The schema producers are expected to write to the source, registered at start-up so they find it. */
  readonly sourceSchema: AvroSchemaJson | undefined;
  readonly sink: { readonly topic: string; readonly schema: AvroSchemaJson };
  readonly stages: readonly string[];
  run(
    rec: Rec<unknown>,
    ctx: OperatorContext,
  ): Array<{ rec: Rec<unknown> } | { failedStage: string; error: unknown }>;
}

export interface Topology {
  readonly name: string;
  readonly branches: readonly Branch[];
}

/** A chain being built; `T` is the type of the records at its end. */
export class Flow<T> {
  private constructor(
    private readonly source: string,
    private readonly sourceSchema: AvroSchemaJson | undefined,
    private readonly ops: ReadonlyArray<Operator<unknown, unknown>>,
  ) {}

  /** Starts a chain at a source topic; values are decoded with their writer schema, so they start untyped. */
  static from(source: string, sourceSchema?: AvroSchemaJson): Flow<unknown> {
    return new Flow<unknown>(source, sourceSchema, []);
  }

  via<U>(op: Operator<T, U>): Flow<U> {
    return new Flow<U>(this.source, this.sourceSchema, [...this.ops, op as Operator<unknown, unknown>]);
  }

  /** Ends the chain in a topic whose values are written with `schema` (registered at start-up). */
  to(topic: string, schema: AvroSchemaJson): Branch {
    const ops = this.ops;
    return {
      source: this.source,
      sourceSchema: this.sourceSchema,
      sink: { topic, schema },
      stages: ops.map((o) => o.name),
      run(rec, ctx) {
        // Depth-first through the stages; a failure names the stage it happened in.
        let current: Array<Rec<unknown>> = [rec];
        for (const op of ops) {
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
      },
    };
  }
}

export function topology(name: string, branches: readonly Branch[]): Topology {
  const sources = branches.map((b) => b.source);
  const dup = sources.find((s, i) => sources.indexOf(s) !== i);
  if (dup) throw new Error(`topology ${name}: two branches read ${dup}; compose them into one chain`);
  return { name, branches };
}
