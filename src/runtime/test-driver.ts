// An in-process driver for unit tests, like Kafka Streams' TopologyTestDriver: pipe records into input topics,
// move a fake clock, read output topics. Same RecordProcessor as on Kafka, an in-memory schema registry, no broker.
import { AvroSerde, memoryRegistry, valueSubject, type AvroSchemaJson } from '../io/registry/registry.ts';
import { FakeClock } from './clock.ts';
import { noopMetrics, type PipelineMetrics } from './metrics.ts';
import { RecordProcessor, type OutRecord } from './processor.ts';
import type { Topology } from './topology.ts';

export interface DriverOptions {
  readonly startTime?: number;
  readonly pipelineVersion?: string;
  readonly dlqPrefix?: string;
  readonly metrics?: PipelineMetrics;
}

export class TestDriver {
  readonly registry = memoryRegistry();
  readonly serde = new AvroSerde(this.registry);
  private readonly outputs = new Map<string, OutRecord[]>();
  private readonly offsets = new Map<string, number>();

  private constructor(
    readonly clock: FakeClock,
    private processor: RecordProcessor | undefined,
  ) {}

  static async create(topology: Topology, options: DriverOptions = {}): Promise<TestDriver> {
    const driver = new TestDriver(new FakeClock(options.startTime ?? Date.UTC(2026, 5, 1)), undefined);
    driver.processor = await RecordProcessor.create(topology, driver.serde, {
      pipelineVersion: options.pipelineVersion ?? 'test',
      dlqPrefix: options.dlqPrefix ?? 'dlq.',
      clock: driver.clock,
      metrics: options.metrics ?? noopMetrics,
    });
    return driver;
  }

  /** Encodes a value as a producer would: registered under `<topic>-value`, Confluent wire format. */
  async encode(topic: string, schema: AvroSchemaJson, value: unknown): Promise<Buffer> {
    return (await this.serde.encoderFor<unknown>(topic, schema))(value);
  }

  /** Feeds raw bytes into a source topic (partition 0, next offset). */
  async pipeRaw(
    topic: string,
    value: Buffer | null,
    opts: { key?: string; timestamp?: number } = {},
  ): Promise<void> {
    const offset = this.offsets.get(topic) ?? 0;
    this.offsets.set(topic, offset + 1);
    const out = await (this.processor as RecordProcessor).process({
      topic,
      partition: 0,
      offset: String(offset),
      key: opts.key === undefined ? null : Buffer.from(opts.key),
      value,
      timestamp: opts.timestamp ?? this.clock.now(),
    });
    for (const r of out) this.outputs.set(r.topic, [...(this.outputs.get(r.topic) ?? []), r]);
  }

  /** Encodes and feeds a value. */
  async pipe(
    topic: string,
    schema: AvroSchemaJson,
    value: unknown,
    opts: { key?: string; timestamp?: number } = {},
  ): Promise<void> {
    await this.pipeRaw(topic, await this.encode(topic, schema, value), opts);
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

  subjectOf(topic: string): string {
    return valueSubject(topic);
  }
}
