// Turns one consumed record into the records to produce: decode, run the branch, encode; bad input becomes a
// dead letter with its reason. Keeps the branches' state per partition and hands out its changelog entries.
// Shared by the Kafka runner and the in-process test driver, so both behave alike. Reports what it sees to the
// PipelineMetrics: records in/out, dead letters, late records, state sizes and the stages' watermarks.
import { loadSchema } from '../schemas/catalog.ts';
import type { DeadLetter } from '../schemas/types.ts';
import { TagstreamError, isTagstreamError, recordError, toTagstreamError } from '../errors.ts';
import { NOT_YET, type AvroSerde } from '../io/registry/registry.ts';
import type { Clock } from './clock.ts';
import type { PipelineMetrics } from './metrics.ts';
import type {
  OperatorContext,
  RawRecord,
  Rec,
  SourcePosition,
  StageContext,
  StageMetrics,
} from './operator.ts';
import { PartitionStores, changelogTopic, decodeState, encodeState } from './state.ts';
import type { Branch, SideBinding, SinkNode, SinkRecord, StageResult, Topology } from './topology.ts';

/** A record on its way to a sink node, with the input it came from (for a dead letter). */
interface SinkItem {
  readonly raw: RawRecord;
  readonly rec: SinkRecord<unknown>;
}

export type { RawRecord };

export interface OutRecord {
  readonly topic: string;
  readonly key: Buffer | null;
  /** null only for changelog tombstones. */
  readonly value: Buffer | null;
  readonly timestamp: number;
  /** Set for changelog records: the partition of the source they belong to. */
  readonly partition?: number;
}

export interface ProcessorOptions {
  readonly pipelineVersion: string;
  /** The dead-letter topic of a source (config/topics.ts dlqTopic: `<ns>.dlq.<source>`). */
  readonly dlqTopic: (source: string) => string;
  readonly clock: Clock;
  readonly metrics: PipelineMetrics;
  /** Prefix of changelog topics (Kafka Streams' application.id); the consumer group id in practice. */
  readonly applicationId: string;
  /** Bounded inputs (default INPUT_LIMITS): larger values and keys are dead-lettered before they are decoded. */
  readonly limits?: InputLimits;
}

export interface InputLimits {
  /** Bytes of a record's value (pipeline.maxRecordBytes). */
  readonly maxRecordBytes: number;
  /** Bytes of a record's key (pipeline.maxKeyBytes). */
  readonly maxKeyBytes: number;
}

export const INPUT_LIMITS: InputLimits = { maxRecordBytes: 65_536, maxKeyBytes: 256 };

/** Bytes of an oversized key or value a dead letter keeps (its start), so the dead letter itself stays small. */
const KEPT_BYTES = 1_024;

interface BoundBranch {
  readonly branch: Branch;
  /** The sink topic's encoder; undefined for a flow that ends in a sink node. */
  readonly encode: ((value: unknown) => Buffer) | undefined;
  readonly sides: ReadonlyMap<
    string,
    { topic: string; encode: (v: unknown) => Buffer; build: SideBinding['build'] }
  >;
  readonly dlqTopic: string;
  readonly encodeDlq: (value: DeadLetter) => Buffer;
  readonly state: PartitionStores;
  /** store name -> changelog topic */
  readonly changelogs: ReadonlyMap<string, string>;
  /** Stages that reported a watermark, per partition (their series go when the partition's state does). */
  readonly watermarkStages: Map<number, Set<string>>;
  /** What every context of a partition shares, made once per partition rather than once per record. */
  readonly partitionParts: Map<number, PartitionParts>;
}

/** The parts of a stage context that depend on the flow and partition only, not on the record. */
interface PartitionParts {
  readonly store: StageContext['store'];
  readonly stageMetrics: StageMetrics;
}

/** The window a record sent to a 'late' side output missed: its `window` field (LateInfo), when it has one. */
function lateWindow(value: unknown): string {
  const w = (value as { window?: unknown } | null)?.window;
  return typeof w === 'string' ? w : 'unknown';
}

export class RecordProcessor {
  private readonly byChangelog = new Map<string, { bound: BoundBranch; store: string }>();
  private readonly limits: InputLimits;

  private constructor(
    readonly topology: Topology,
    private readonly serde: AvroSerde,
    private readonly bound: ReadonlyMap<string, BoundBranch>,
    private readonly options: ProcessorOptions,
  ) {
    for (const b of bound.values())
      for (const [store, topic] of b.changelogs) this.byChangelog.set(topic, { bound: b, store });
    this.limits = options.limits ?? INPUT_LIMITS;
  }

  /** Registers every sink, side and dead-letter schema (BACKWARD compatibility) and binds the encoders. */
  static async create(
    topology: Topology,
    serde: AvroSerde,
    options: ProcessorOptions,
  ): Promise<RecordProcessor> {
    const bound = new Map<string, BoundBranch>();
    for (const branch of topology.branches) {
      const dlqTopic = options.dlqTopic(branch.source);
      if (branch.sourceSchema) await serde.register(branch.source, branch.sourceSchema);
      const sides = new Map<
        string,
        { topic: string; encode: (v: unknown) => Buffer; build: SideBinding['build'] }
      >();
      for (const [port, s] of branch.sides)
        sides.set(port, {
          topic: s.topic,
          encode: await serde.encoderFor<unknown>(s.topic, s.schema),
          build: s.build,
        });
      bound.set(branch.source, {
        branch,
        encode:
          branch.sink.kind === 'topic'
            ? await serde.encoderFor<unknown>(branch.sink.topic, branch.sink.schema)
            : undefined,
        sides,
        dlqTopic,
        encodeDlq: await serde.encoderFor<DeadLetter>(dlqTopic, loadSchema('deadLetter')),
        state: new PartitionStores(branch.stores),
        changelogs: new Map(branch.stores.map((s) => [s, changelogTopic(options.applicationId, s)])),
        watermarkStages: new Map(),
        partitionParts: new Map(),
      });
    }
    return new RecordProcessor(topology, serde, bound, options);
  }

  get sourceTopics(): string[] {
    return [...this.bound.keys()];
  }

  /** Every topic this processor may write, changelogs excluded. */
  get outputTopics(): string[] {
    return [...this.bound.values()].flatMap((b) => [
      ...(b.branch.sink.kind === 'topic' ? [b.branch.sink.topic] : []),
      b.dlqTopic,
      ...[...b.sides.values()].map((s) => s.topic),
    ]);
  }

  /** Changelog topics with the source whose partitions they mirror. */
  get changelogTopics(): Array<{ topic: string; source: string }> {
    return [...this.bound.values()].flatMap((b) =>
      [...b.changelogs.values()].map((topic) => ({ topic, source: b.branch.source })),
    );
  }

  /** The flow from `source` has an async stage: a batch's records may be processed concurrently. */
  isAsync(source: string): boolean {
    return this.bound.get(source)?.branch.async ?? false;
  }

  /** The flow from `source` takes a consumed batch as a whole: it has an async stage or ends in a sink node. */
  isBatched(source: string): boolean {
    const b = this.bound.get(source)?.branch;
    return b !== undefined && (b.async || b.sink.kind === 'node');
  }

  isStateful(source: string): boolean {
    return (this.bound.get(source)?.branch.stores.length ?? 0) > 0;
  }

  private branchOf(topic: string): BoundBranch {
    const b = this.bound.get(topic);
    if (!b) throw new TagstreamError('INTERNAL', `no branch reads ${topic}`);
    return b;
  }

  private partitionParts(b: BoundBranch, partition: number): PartitionParts {
    let parts = b.partitionParts.get(partition);
    if (parts) return parts;
    const { metrics } = this.options;
    parts = {
      store: <S>(name: string) => b.state.store<S>(partition, name),
      stageMetrics: {
        watermark: (stage, p, ms) => {
          let stages = b.watermarkStages.get(p);
          if (!stages) b.watermarkStages.set(p, (stages = new Set()));
          stages.add(stage);
          metrics.watermark?.(stage, p, ms);
        },
      },
    };
    b.partitionParts.set(partition, parts);
    return parts;
  }

  private context(
    b: BoundBranch,
    partition: number,
    sideOut: OutRecord[],
    raw: RawRecord | undefined,
    inputLag?: number,
    source?: SourcePosition,
  ): StageContext & { readonly source: SourcePosition | undefined } {
    const { metrics } = this.options;
    const { store, stageMetrics } = this.partitionParts(b, partition);
    return {
      clock: this.options.clock,
      partition,
      inputLag,
      source,
      store,
      emitSide: (port: string, rec: Rec<unknown>, to?: number) => {
        const side = b.sides.get(port);
        if (!side)
          throw new TagstreamError(
            'INTERNAL',
            `side output ${port} is not bound in the flow from ${b.branch.source}`,
          );
        if (port === 'late') metrics.lateRecord?.(b.branch.source, lateWindow(rec.value));
        sideOut.push({
          topic: side.topic,
          key: rec.key,
          value: side.encode(side.build(rec.value, raw)),
          timestamp: rec.timestamp,
          ...(to === undefined ? {} : { partition: to }),
        });
      },
      stageMetrics,
    };
  }

  /**
   * Processes one record. Record errors (bad bytes, failed rules) come back as a dead letter; anything else
   * (the registry is down, a bug) is thrown so that the caller does not commit and the record is retried.
   */
  async process(raw: RawRecord): Promise<OutRecord[]> {
    const b = this.branchOf(raw.topic);
    if (b.branch.sink.kind === 'node') return this.processBatch([raw]);
    return [...(await this.processOne(b, raw)), ...this.flush(b, raw.partition)];
  }

  /**
   * One record of a topic flow, without the end-of-batch flush. Without waiting when it can: the serde knows the
   * record's schema (AvroSerde.decodeNow) and the flow has no async stage.
   */
  private processOne(b: BoundBranch, raw: RawRecord): OutRecord[] | Promise<OutRecord[]> {
    this.options.metrics.recordsIn(raw.topic, 1);
    return this.withValue(
      raw,
      (v) => this.runOne(b, raw, v),
      (e) => [this.deadLetter(b, raw, 'decode', e)],
    );
  }

  /**
   * A record's value handed to `run`: decoded on the spot when the serde knows its schema (AvroSerde.decodeNow), else
   * once the registry has answered. A decoding failure goes to `dead` instead.
   */
  private withValue<R>(
    raw: RawRecord,
    run: (value: unknown) => R | Promise<R>,
    dead: (e: unknown) => R,
  ): R | Promise<R> {
    let value: unknown;
    try {
      value = this.decodeNow(raw);
    } catch (e) {
      return dead(e);
    }
    if (value === NOT_YET) return this.serde.decode(raw.value, raw.topic).then(run, dead);
    return run(value);
  }

  private runOne(b: BoundBranch, raw: RawRecord, value: unknown): OutRecord[] | Promise<OutRecord[]> {
    const sideOut: OutRecord[] = [];
    const ctx = this.context(b, raw.partition, sideOut, raw, undefined, {
      topic: raw.topic,
      partition: raw.partition,
      offset: raw.offset,
    }) as OperatorContext;
    const results = b.branch.run({ key: raw.key, value, timestamp: raw.timestamp }, ctx);
    return results instanceof Promise
      ? results.then((r) => this.collect(b, r, sideOut, raw))
      : this.collect(b, results, sideOut, raw);
  }

  /**
   * A consumed record's value once its key and value are within the input limits: decoded now, or NOT_YET when the
   * serde has to ask the registry first (then serde.decode).
   */
  private decodeNow(raw: RawRecord): unknown {
    const { maxRecordBytes, maxKeyBytes } = this.limits;
    if (raw.key !== null && raw.key.length > maxKeyBytes)
      throw recordError(
        'KEY_TOO_LONG',
        `the key is ${raw.key.length} bytes, over pipeline.maxKeyBytes (${maxKeyBytes}); the dead letter keeps its first ${KEPT_BYTES}`,
      );
    if (raw.value !== null && raw.value.length > maxRecordBytes)
      throw recordError(
        'RECORD_TOO_LARGE',
        `the value is ${raw.value.length} bytes, over pipeline.maxRecordBytes (${maxRecordBytes}); the dead letter keeps its first ${KEPT_BYTES}`,
      );
    return this.serde.decodeNow(raw.value, raw.topic);
  }

  /** End of a batch of one partition: what stages held back (their onFlush) goes out with the batch. */
  private flush(b: BoundBranch, partition: number, inputLag?: number): OutRecord[] {
    if (!b.branch.flushes) return [];
    const sideOut: OutRecord[] = [];
    const results = b.branch.flush(this.context(b, partition, sideOut, undefined, inputLag));
    return this.collect(b, results, sideOut, undefined);
  }

  /**
   * Processes the records of one consumed batch (one source partition, in offset order). A flow with an async
   * stage gets them in flight together (micro-batching); a flow ending in a sink node writes them as one batch;
   * other flows take them one by one, and their stages flush once at the end (updates collapse per key).
   * Throws, like process(), only what must leave the batch uncommitted. `inputLag`: the records left in the
   * partition after these (StageContext.inputLag), when the caller knows.
   */
  async processBatch(raws: readonly RawRecord[], inputLag?: number): Promise<OutRecord[]> {
    const first = raws[0];
    if (first === undefined) return [];
    const b = this.branchOf(first.topic);
    const { sink } = b.branch;
    if (sink.kind === 'node') return this.processToNode(b, sink.node, raws);
    // In flight together; `async` turns a failure thrown on the spot into a rejection that Promise.all handles.
    if (b.branch.async) return (await Promise.all(raws.map(async (r) => this.processOne(b, r)))).flat();
    const out: OutRecord[] = [];
    for (const r of raws) {
      const one = this.processOne(b, r);
      for (const o of one instanceof Promise ? await one : one) out.push(o);
    }
    for (const o of this.flush(b, first.partition, inputLag)) out.push(o);
    return out;
  }

  private async processToNode(
    b: BoundBranch,
    node: SinkNode<unknown>,
    raws: readonly RawRecord[],
  ): Promise<OutRecord[]> {
    this.options.metrics.recordsIn(b.branch.source, raws.length);
    // Per input record, in input order: its dead letter or side outputs, and what it sends to the node.
    const early: OutRecord[][] = raws.map(() => []);
    const items: SinkItem[][] = raws.map(() => []);
    // A record's stage results: its dead letter, or what it sends to the node (its side outputs are in `mine`).
    const take = (raw: RawRecord, i: number, source: SourcePosition, results: StageResult[]): void => {
      const mine = early[i] as OutRecord[];
      for (const r of results) {
        if ('failedStage' in r) {
          mine.length = 0;
          mine.push(this.deadLetter(b, raw, r.failedStage, r.error));
          return;
        }
      }
      for (const r of results)
        if ('rec' in r) (items[i] as SinkItem[]).push({ raw, rec: { ...r.rec, source } });
      for (const s of mine) this.options.metrics.recordsOut(s.topic, 1);
    };
    const run = (raw: RawRecord, i: number, value: unknown): void | Promise<void> => {
      const source = { topic: raw.topic, partition: raw.partition, offset: raw.offset };
      const ctx = this.context(
        b,
        raw.partition,
        early[i] as OutRecord[],
        raw,
        undefined,
        source,
      ) as OperatorContext;
      const results = b.branch.run({ key: raw.key, value, timestamp: raw.timestamp }, ctx);
      return results instanceof Promise
        ? results.then((r) => take(raw, i, source, r))
        : take(raw, i, source, results);
    };
    const dead = (raw: RawRecord, i: number, e: unknown): void =>
      void (early[i] as OutRecord[]).push(this.deadLetter(b, raw, 'decode', e));
    // Records whose schema the serde knows are decoded and run now; the others wait for the registry together. A
    // failure thrown on the spot joins the others as a rejection, so that none of them is left unhandled.
    const waiting: Promise<void>[] = [];
    for (let i = 0; i < raws.length; i++) {
      const raw = raws[i] as RawRecord;
      try {
        const done = this.withValue(
          raw,
          (v) => run(raw, i, v),
          (e) => dead(raw, i, e),
        );
        if (done) waiting.push(done);
      } catch (e) {
        waiting.push(Promise.reject(e));
      }
    }
    await Promise.all(waiting);
    const out = early.flat();
    await this.writeIsolating(b, node, items.flat(), out, new Set());
    return out;
  }

  /**
   * Writes items through a sink node. When the node rejects the content of the batch (a record error), the batch
   * is halved until the records at fault stand alone; those are dead-lettered and the rest is written. Writes are
   * idempotent, so writing a half again after a failed whole is safe.
   */
  private async writeIsolating(
    b: BoundBranch,
    node: SinkNode<unknown>,
    items: readonly SinkItem[],
    out: OutRecord[],
    dead: Set<string>,
  ): Promise<void> {
    if (items.length === 0) return;
    try {
      await node.write(items.map((i) => i.rec));
      this.options.metrics.recordsOut(node.name, items.length);
    } catch (e) {
      if (!isTagstreamError(e) || !e.isRecordError) throw e;
      const only = items.length === 1 ? items[0] : undefined;
      if (only) {
        if (dead.has(only.raw.offset)) return;
        dead.add(only.raw.offset);
        out.push(this.deadLetter(b, only.raw, `sink:${node.name}`, e));
        return;
      }
      const mid = items.length >> 1;
      await this.writeIsolating(b, node, items.slice(0, mid), out, dead);
      await this.writeIsolating(b, node, items.slice(mid), out, dead);
    }
  }

  /** The flow from `source` is ticked by the wall clock: it has state (windows to close) or a stage with onTime. */
  ticks(source: string): boolean {
    const b = this.bound.get(source)?.branch;
    return b !== undefined && (b.ticks || b.stores.length > 0);
  }

  /** A wall-clock tick for one partition of a source: closes what idle time closes. */
  tick(source: string, partition: number, inputLag?: number): OutRecord[] {
    const b = this.branchOf(source);
    const sideOut: OutRecord[] = [];
    const results = b.branch.tick(this.context(b, partition, sideOut, undefined, inputLag));
    return this.collect(b, results, sideOut, undefined);
  }

  private collect(
    b: BoundBranch,
    results: StageResult[],
    sideOut: OutRecord[],
    raw: RawRecord | undefined,
  ): OutRecord[] {
    const out: OutRecord[] = [];
    const { sink } = b.branch;
    // Only topic flows get here: process() and tick() hand flows that end in a sink node to processBatch.
    if (sink.kind !== 'topic' || b.encode === undefined)
      throw new TagstreamError('INTERNAL', `the flow from ${b.branch.source} does not end in a topic`);
    for (const r of results) {
      if ('failedStage' in r) {
        if (!raw) throw toTagstreamError(r.error);
        return [this.deadLetter(b, raw, r.failedStage, r.error)];
      }
      let bytes: Buffer;
      try {
        bytes = b.encode(r.rec.value);
      } catch (e) {
        const err = new TagstreamError('ENCODE_FAILED', toTagstreamError(e).message);
        if (!raw) throw err;
        return [this.deadLetter(b, raw, `encode:${sink.topic}`, err)];
      }
      out.push({ topic: sink.topic, key: r.rec.key, value: bytes, timestamp: r.rec.timestamp });
    }
    this.options.metrics.recordsOut(sink.topic, out.length);
    for (const s of sideOut) this.options.metrics.recordsOut(s.topic, 1);
    return [...out, ...sideOut];
  }

  /** State changes of one partition since the last call, as changelog records (to commit with the outputs). */
  takeChangelog(source: string, partition: number): OutRecord[] {
    const b = this.branchOf(source);
    const now = this.options.clock.now();
    return b.state.takeChanges(partition).map(({ store, key, value }) => ({
      topic: b.changelogs.get(store) as string,
      partition,
      key: Buffer.from(key),
      value: encodeState(value),
      timestamp: now,
    }));
  }

  /** Forgets a partition's in-memory state: after a failed batch, it is restored again from the changelog. */
  dropState(source: string, partition: number): void {
    const b = this.branchOf(source);
    b.state.drop(partition);
    for (const stage of b.watermarkStages.get(partition) ?? [])
      this.options.metrics.watermark?.(stage, partition, null);
    b.watermarkStages.delete(partition);
  }

  /** Reports the entries each store of a source's flow holds now, over the partitions in memory. */
  reportStateSizes(source: string): void {
    const { metrics } = this.options;
    if (!metrics.stateEntries) return;
    for (const [store, n] of this.branchOf(source).state.sizes()) metrics.stateEntries(store, n);
  }

  /** Partitions of a source with state in memory. */
  statePartitions(source: string): number[] {
    return this.branchOf(source).state.partitions();
  }

  /** Applies one changelog record during a restore. */
  restore(changelog: string, partition: number, key: Buffer | null, value: Buffer | null): void {
    const entry = this.byChangelog.get(changelog);
    if (!entry || key === null) return;
    entry.bound.state.store(partition, entry.store).restore(key.toString(), decodeState(value));
  }

  private deadLetter(b: BoundBranch, raw: RawRecord, stage: string, error: unknown): OutRecord {
    if (!isTagstreamError(error) || !error.isRecordError) {
      // A stop is not a failure (STOPPING: work given up because the job stops, src/serving/sink-progress.ts).
      const code = isTagstreamError(error) ? error.code : 'INTERNAL';
      if (code !== 'STOPPING') this.options.metrics.stageFailed(stage, code);
      throw toTagstreamError(error);
    }
    const now = this.options.clock.now();
    this.options.metrics.deadLettered(raw.topic, stage, error.code);
    // An oversized key or value is cut to its start: the dead letter must fit where the record did not, and its key
    // is hashed for a partition (a record over the limits is never replayed as it is).
    const { maxRecordBytes, maxKeyBytes } = this.limits;
    const keyFits = raw.key === null || raw.key.length <= maxKeyBytes;
    const cut = (bytes: Buffer | null, limit: number): Buffer | null =>
      bytes === null || bytes.length <= limit ? bytes : bytes.subarray(0, KEPT_BYTES);
    const envelope: DeadLetter = {
      key: cut(raw.key, maxKeyBytes),
      value: cut(raw.value, maxRecordBytes),
      topic: raw.topic,
      partition: raw.partition,
      offset: Number(raw.offset),
      error_code: error.code,
      error_message: error.message,
      failed_at: now,
      pipeline: this.topology.name,
      pipeline_version: this.options.pipelineVersion,
      stage,
    };
    return { topic: b.dlqTopic, key: keyFits ? raw.key : null, value: b.encodeDlq(envelope), timestamp: now };
  }
}
