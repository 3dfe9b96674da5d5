// Turns one consumed record into the records to produce: decode, run the branch, encode; bad input becomes a
// dead letter with its reason. Keeps the branches' state per partition and hands out its changelog entries.
// Shared by the Kafka runner and the in-process test driver, so both behave alike. Reports what it sees to the
// PipelineMetrics: records in/out, dead letters, late records, state sizes and the stages' watermarks.
import { loadSchema } from '../schemas/catalog.ts';
import type { DeadLetter } from '../schemas/types.ts';
import { TagstreamError, isTagstreamError, toTagstreamError } from '../errors.ts';
import type { AvroSerde } from '../io/registry/registry.ts';
import type { Clock } from './clock.ts';
import type { PipelineMetrics } from './metrics.ts';
import type { OperatorContext, RawRecord, Rec, StageContext } from './operator.ts';
import { PartitionStores, changelogTopic, decodeState, encodeState } from './state.ts';
import type { Branch, SideBinding, StageResult, Topology } from './topology.ts';

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
  readonly dlqPrefix: string;
  readonly clock: Clock;
  readonly metrics: PipelineMetrics;
  /** Prefix of changelog topics (Kafka Streams' application.id); the consumer group id in practice. */
  readonly applicationId: string;
}

interface BoundBranch {
  readonly branch: Branch;
  readonly encode: (value: unknown) => Buffer;
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
}

/** The window a record sent to a 'late' side output missed: its `window` field (LateInfo), when it has one. */
function lateWindow(value: unknown): string {
  const w = (value as { window?: unknown } | null)?.window;
  return typeof w === 'string' ? w : 'unknown';
}

export class RecordProcessor {
  private readonly byChangelog = new Map<string, { bound: BoundBranch; store: string }>();

  private constructor(
    readonly topology: Topology,
    private readonly serde: AvroSerde,
    private readonly bound: ReadonlyMap<string, BoundBranch>,
    private readonly options: ProcessorOptions,
  ) {
    for (const b of bound.values())
      for (const [store, topic] of b.changelogs) this.byChangelog.set(topic, { bound: b, store });
  }

  /** Registers every sink, side and dead-letter schema (BACKWARD compatibility) and binds the encoders. */
  static async create(
    topology: Topology,
    serde: AvroSerde,
    options: ProcessorOptions,
  ): Promise<RecordProcessor> {
    const bound = new Map<string, BoundBranch>();
    for (const branch of topology.branches) {
      const dlqTopic = `${options.dlqPrefix}${branch.source}`;
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
        encode: await serde.encoderFor<unknown>(branch.sink.topic, branch.sink.schema),
        sides,
        dlqTopic,
        encodeDlq: await serde.encoderFor<DeadLetter>(dlqTopic, loadSchema('deadLetter')),
        state: new PartitionStores(branch.stores),
        changelogs: new Map(branch.stores.map((s) => [s, changelogTopic(options.applicationId, s)])),
        watermarkStages: new Map(),
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
      b.branch.sink.topic,
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

  isStateful(source: string): boolean {
    return (this.bound.get(source)?.branch.stores.length ?? 0) > 0;
  }

  private branchOf(topic: string): BoundBranch {
    const b = this.bound.get(topic);
    if (!b) throw new TagstreamError('INTERNAL', `no branch reads ${topic}`);
    return b;
  }

  private context(
    b: BoundBranch,
    partition: number,
    sideOut: OutRecord[],
    raw: RawRecord | undefined,
  ): StageContext {
    const { metrics } = this.options;
    return {
      clock: this.options.clock,
      partition,
      store: <S>(name: string) => b.state.store<S>(partition, name),
      emitSide: (port: string, rec: Rec<unknown>) => {
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
        });
      },
      stageMetrics: {
        watermark: (stage, p, ms) => {
          let stages = b.watermarkStages.get(p);
          if (!stages) b.watermarkStages.set(p, (stages = new Set()));
          stages.add(stage);
          metrics.watermark?.(stage, p, ms);
        },
      },
    };
  }

  /**
   * Processes one record. Record errors (bad bytes, failed rules) come back as a dead letter; anything else
   * (the registry is down, a bug) is thrown so that the caller does not commit and the record is retried.
   */
  async process(raw: RawRecord): Promise<OutRecord[]> {
    const b = this.branchOf(raw.topic);
    this.options.metrics.recordsIn(raw.topic, 1);
    let value: unknown;
    try {
      value = await this.serde.decode(raw.value);
    } catch (e) {
      return [this.deadLetter(b, raw, 'decode', e)];
    }
    const sideOut: OutRecord[] = [];
    const ctx: OperatorContext = {
      ...this.context(b, raw.partition, sideOut, raw),
      source: { topic: raw.topic, partition: raw.partition, offset: raw.offset },
    };
    const results = await b.branch.run({ key: raw.key, value, timestamp: raw.timestamp }, ctx);
    return this.collect(b, results, sideOut, raw);
  }

  /** A wall-clock tick for one partition of a source: closes what idle time closes. */
  tick(source: string, partition: number): OutRecord[] {
    const b = this.branchOf(source);
    const sideOut: OutRecord[] = [];
    const results = b.branch.tick(this.context(b, partition, sideOut, undefined));
    return this.collect(b, results, sideOut, undefined);
  }

  private collect(
    b: BoundBranch,
    results: StageResult[],
    sideOut: OutRecord[],
    raw: RawRecord | undefined,
  ): OutRecord[] {
    const out: OutRecord[] = [];
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
        return [this.deadLetter(b, raw, `encode:${b.branch.sink.topic}`, err)];
      }
      out.push({ topic: b.branch.sink.topic, key: r.rec.key, value: bytes, timestamp: r.rec.timestamp });
    }
    this.options.metrics.recordsOut(b.branch.sink.topic, out.length);
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
      this.options.metrics.stageFailed(stage, isTagstreamError(error) ? error.code : 'INTERNAL');
      throw toTagstreamError(error);
    }
    const now = this.options.clock.now();
    this.options.metrics.deadLettered(raw.topic, stage, error.code);
    const envelope: DeadLetter = {
      key: raw.key,
      value: raw.value,
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
    return { topic: b.dlqTopic, key: raw.key, value: b.encodeDlq(envelope), timestamp: now };
  }
}
