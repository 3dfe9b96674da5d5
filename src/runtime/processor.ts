// Turns one consumed record into the records to produce: decode, run the branch, encode; bad input becomes a
// dead letter with its reason. Shared by the Kafka runner and the in-process test driver, so both behave alike.
import { loadSchema } from '../schemas/catalog.ts';
import type { DeadLetter } from '../schemas/types.ts';
import { TagstreamError, isTagstreamError, toTagstreamError } from '../errors.ts';
import type { AvroSerde } from '../io/registry/registry.ts';
import type { Clock } from './clock.ts';
import type { PipelineMetrics } from './metrics.ts';
import type { Branch, Topology } from './topology.ts';

export interface RawRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** The Kafka record timestamp (ms). */
  readonly timestamp: number;
}

export interface OutRecord {
  readonly topic: string;
  readonly key: Buffer | null;
  readonly value: Buffer;
  readonly timestamp: number;
}

export interface ProcessorOptions {
  readonly pipelineVersion: string;
  readonly dlqPrefix: string;
  readonly clock: Clock;
  readonly metrics: PipelineMetrics;
}

interface BoundBranch {
  readonly branch: Branch;
  readonly encode: (value: unknown) => Buffer;
  readonly dlqTopic: string;
  readonly encodeDlq: (value: DeadLetter) => Buffer;
}

export class RecordProcessor {
  private constructor(
    readonly topology: Topology,
    private readonly serde: AvroSerde,
    private readonly bound: ReadonlyMap<string, BoundBranch>,
    private readonly options: ProcessorOptions,
  ) {}

  /** Registers every sink and dead-letter schema (BACKWARD compatibility) and binds the encoders. */
  static async create(
    topology: Topology,
    serde: AvroSerde,
    options: ProcessorOptions,
  ): Promise<RecordProcessor> {
    const bound = new Map<string, BoundBranch>();
    for (const branch of topology.branches) {
      const dlqTopic = `${options.dlqPrefix}${branch.source}`;
      if (branch.sourceSchema) await serde.register(branch.source, branch.sourceSchema);
      bound.set(branch.source, {
        branch,
        encode: await serde.encoderFor<unknown>(branch.sink.topic, branch.sink.schema),
        dlqTopic,
        encodeDlq: await serde.encoderFor<DeadLetter>(dlqTopic, loadSchema('deadLetter')),
      });
    }
    return new RecordProcessor(topology, serde, bound, options);
  }

  get sourceTopics(): string[] {
    return [...this.bound.keys()];
  }

  /** Every topic this processor may write. */
  get outputTopics(): string[] {
    return [...this.bound.values()].flatMap((b) => [b.branch.sink.topic, b.dlqTopic]);
  }

  /**
   * Processes one record. Record errors (bad bytes, failed rules) come back as a dead letter; anything else
   * (the registry is down, a bug) is thrown so that the caller does not commit and the record is retried.
   */
  async process(raw: RawRecord): Promise<OutRecord[]> {
    const b = this.bound.get(raw.topic);
    if (!b) throw new TagstreamError('INTERNAL', `no branch reads ${raw.topic}`);
    this.options.metrics.recordsIn(raw.topic, 1);
    let value: unknown;
    try {
      value = await this.serde.decode(raw.value);
    } catch (e) {
      return [this.deadLetter(b, raw, 'decode', e)];
    }
    const ctx = {
      clock: this.options.clock,
      source: { topic: raw.topic, partition: raw.partition, offset: raw.offset },
    };
    const results = b.branch.run({ key: raw.key, value, timestamp: raw.timestamp }, ctx);
    const out: OutRecord[] = [];
    for (const r of results) {
      if ('failedStage' in r) return [this.deadLetter(b, raw, r.failedStage, r.error)];
      let bytes: Buffer;
      try {
        bytes = b.encode(r.rec.value);
      } catch (e) {
        return [
          this.deadLetter(
            b,
            raw,
            `encode:${b.branch.sink.topic}`,
            new TagstreamError('ENCODE_FAILED', toTagstreamError(e).message),
          ),
        ];
      }
      out.push({ topic: b.branch.sink.topic, key: r.rec.key, value: bytes, timestamp: r.rec.timestamp });
    }
    this.options.metrics.recordsOut(b.branch.sink.topic, out.length);
    return out;
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
