// An in-process driver for unit tests, like Kafka Streams' TopologyTestDriver: pipe records into input topics,
// move a fake clock, read output topics, restart from the changelog. Same RecordProcessor as on Kafka, an
// in-memory schema registry, no broker.
import { AvroSerde, memoryRegistry, type AvroSchemaJson } from '../io/registry/registry.ts';
import { FakeClock } from './clock.ts';
import { noopMetrics, type PipelineMetrics } from './metrics.ts';
import { RecordProcessor, type InputLimits, type OutRecord, type ProcessorOptions } from './processor.ts';
import type { Topology } from './topology.ts';

export interface DriverOptions {
  readonly startTime?: number;
  readonly pipelineVersion?: string;
  readonly dlqPrefix?: string;
  readonly metrics?: PipelineMetrics;
  readonly applicationId?: string;
  readonly limits?: InputLimits;
}

export class TestDriver {
  readonly registry = memoryRegistry();
  readonly serde = new AvroSerde(this.registry);
  private readonly outputs = new Map<string, OutRecord[]>();
  /** Every changelog record written, in order, as a broker would keep it. */
  private readonly changelog: OutRecord[] = [];
  private readonly offsets = new Map<string, number>();
  /** Partitions records were piped into, per source topic (the ones a wall-clock tick visits). */
  private readonly partitionsFed = new Map<string, Set<number>>();
  private processor!: RecordProcessor;
  private options!: ProcessorOptions;

  private constructor(
    readonly clock: FakeClock,
    private readonly topology: Topology,
  ) {}

  static async create(topology: Topology, options: DriverOptions = {}): Promise<TestDriver> {
    const driver = new TestDriver(new FakeClock(options.startTime ?? Date.UTC(2026, 5, 1)), topology);
    driver.options = {
      pipelineVersion: options.pipelineVersion ?? 'test',
      dlqTopic: (source) => `${options.dlqPrefix ?? 'dlq.'}${source}`,
      applicationId: options.applicationId ?? 'test-app',
      clock: driver.clock,
      metrics: options.metrics ?? noopMetrics,
      ...(options.limits === undefined ? {} : { limits: options.limits }),
    };
    driver.processor = await RecordProcessor.create(topology, driver.serde, driver.options);
    return driver;
  }

  /** Encodes a value as a producer would: registered under `<topic>-value`, Confluent wire format. */
  async encode(topic: string, schema: AvroSchemaJson, value: unknown): Promise<Buffer> {
    return (await this.serde.encoderFor<unknown>(topic, schema))(value);
  }

  /**
   * Records written to a topic that the topology also reads (clean.*, the class-events repartition topic) are
   * fed back in, like Kafka Streams' driver does with internal topics: to the partition they were addressed to
   * (a progress marker), else to partition 0.
   */
  private async emit(out: readonly OutRecord[]): Promise<void> {
    const sources = new Set(this.processor.sourceTopics);
    for (const r of out) {
      this.outputs.set(r.topic, [...(this.outputs.get(r.topic) ?? []), r]);
      if (sources.has(r.topic) && r.value !== null)
        await this.pipeRaw(r.topic, r.value, {
          timestamp: r.timestamp,
          ...(r.key ? { key: r.key.toString() } : {}),
          ...(r.partition === undefined ? {} : { partition: r.partition }),
        });
    }
  }

  /** Commits like the runner does after each record: state changes go to the changelog. */
  private commit(source: string, partition: number): void {
    this.changelog.push(...this.processor.takeChangelog(source, partition));
  }

  /** Feeds raw bytes into a source topic (default partition 0, next offset). */
  async pipeRaw(
    topic: string,
    value: Buffer | null,
    opts: { key?: string; timestamp?: number; partition?: number } = {},
  ): Promise<void> {
    const offset = this.offsets.get(topic) ?? 0;
    this.offsets.set(topic, offset + 1);
    const partition = opts.partition ?? 0;
    this.fed(topic, partition);
    const out = await this.processor.process({
      topic,
      partition,
      offset: String(offset),
      key: opts.key === undefined ? null : Buffer.from(opts.key),
      value,
      timestamp: opts.timestamp ?? this.clock.now(),
    });
    this.commit(topic, partition);
    await this.emit(out);
  }

  /** Encodes and feeds a value. */
  async pipe(
    topic: string,
    schema: AvroSchemaJson,
    value: unknown,
    opts: { key?: string; timestamp?: number; partition?: number } = {},
  ): Promise<void> {
    await this.pipeRaw(topic, await this.encode(topic, schema, value), opts);
  }

  /**
   * Feeds several values as one consumed batch, as the runner hands a fetch to the processor: a flow with an async
   * stage gets them in flight together (so micro-batching stages see them as one batch), a flow ending in a sink
   * node writes them as one batch; other flows get them one by one. When processing throws (a dependency failed),
   * nothing is emitted or committed and the offsets are not used up: piping the same values again retries the
   * batch at the same offsets, as the runner does.
   */
  async pipeBatch(
    topic: string,
    schema: AvroSchemaJson,
    values: ReadonlyArray<{ value: unknown; key?: string; timestamp?: number }>,
    partition = 0,
  ): Promise<void> {
    const raws = [];
    for (const v of values) raws.push({ ...v, value: await this.encode(topic, schema, v.value) });
    await this.pipeRawBatch(topic, raws, partition);
  }

  /** pipeBatch for raw bytes (garbage, foreign encodings). */
  async pipeRawBatch(
    topic: string,
    values: ReadonlyArray<{ value: Buffer | null; key?: string; timestamp?: number }>,
    partition = 0,
  ): Promise<void> {
    if (!this.processor.isBatched(topic)) {
      for (const v of values) await this.pipeRaw(topic, v.value, { ...v, partition });
      return;
    }
    const first = this.offsets.get(topic) ?? 0;
    this.fed(topic, partition);
    const raws = values.map((v, i) => ({
      topic,
      partition,
      offset: String(first + i),
      key: v.key === undefined ? null : Buffer.from(v.key),
      value: v.value,
      timestamp: v.timestamp ?? this.clock.now(),
    }));
    const out = await this.processor.processBatch(raws);
    this.offsets.set(topic, first + raws.length);
    await this.emit(out);
  }

  /** The next offset of a source topic: what a runner would have committed after the records piped so far. */
  committed(topic: string): number {
    return this.offsets.get(topic) ?? 0;
  }

  private fed(topic: string, partition: number): void {
    let ps = this.partitionsFed.get(topic);
    if (!ps) this.partitionsFed.set(topic, (ps = new Set()));
    ps.add(partition);
  }

  /**
   * Moves the wall clock and runs the wall-clock tick of every partition with state (idle windows close) and of
   * every partition fed of a flow that ticks, in the order of the topology's sources.
   */
  async advanceWallClock(ms: number): Promise<void> {
    this.clock.advance(ms);
    for (const source of this.processor.sourceTopics) {
      if (!this.processor.ticks(source)) continue;
      const partitions = this.processor.isStateful(source)
        ? this.processor.statePartitions(source)
        : [...(this.partitionsFed.get(source) ?? [])];
      for (const p of partitions) {
        const out = this.processor.tick(source, p);
        this.commit(source, p);
        await this.emit(out);
      }
    }
  }

  /** Simulates a crash and restart: a new processor whose state comes only from the changelog. */
  async restart(): Promise<void> {
    this.processor = await RecordProcessor.create(this.topology, this.serde, this.options);
    for (const r of this.changelog) this.processor.restore(r.topic, r.partition ?? 0, r.key, r.value);
  }

  /** Takes (and clears) what was written to a topic, decoded. */
  async read<T>(topic: string): Promise<Array<{ key: string | null; value: T; timestamp: number }>> {
    const recs = this.outputs.get(topic) ?? [];
    this.outputs.delete(topic);
    return Promise.all(
      recs.map(async (r) => ({
        key: r.key?.toString() ?? null,
        value: (await this.serde.decode(r.value)) as T,
        timestamp: r.timestamp,
      })),
    );
  }

  topicsWritten(): string[] {
    return [...this.outputs.keys()];
  }

  changelogSize(): number {
    return this.changelog.length;
  }
}
