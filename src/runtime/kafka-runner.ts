// Runs a topology on Kafka: a consumer group reads the sources (ordered per partition), the processor maps each
// record, outputs go out through an idempotent producer, and offsets are committed only once the outputs are
// acknowledged: in one Kafka transaction with them (exactly_once) or right after (at_least_once).
import { hostname } from 'node:os';
import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import { TagstreamError, toTagstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { mapKafkaError } from '../io/kafka/client.ts';
import { InFlightLimiter } from './in-flight.ts';
import type { PipelineMetrics } from './metrics.ts';
import type { OutRecord, RecordProcessor } from './processor.ts';

export interface RunnerOptions {
  readonly groupId: string;
  readonly brokers: readonly string[];
  readonly guarantee: 'exactly_once' | 'at_least_once';
  readonly maxBatch: number;
  readonly maxInFlight: number;
  readonly partitionsConcurrently: number;
  readonly shutdownTimeoutMs: number;
  /** Stable per instance so that a restarted instance fences its predecessor's open transaction at once. */
  readonly instanceId?: string;
  readonly log: Logger;
  readonly metrics: PipelineMetrics;
}

function toMessages(records: readonly OutRecord[]): Map<string, Message[]> {
  const byTopic = new Map<string, Message[]>();
  for (const r of records) {
    const list = byTopic.get(r.topic) ?? [];
    list.push({ key: r.key, value: r.value, timestamp: String(r.timestamp) });
    byTopic.set(r.topic, list);
  }
  return byTopic;
}

/** A one-at-a-time lock: a transactional producer runs one transaction at a time. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

export class KafkaRunner {
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly limiter: InFlightLimiter;
  private readonly txLock = new Mutex();
  private paused = 0;
  private running = false;
  private processed = 0;
  private crashed: ((e: Error) => void) | undefined;
  /** Resolves when the consumer crashes for good (not on a clean stop). */
  readonly failure: Promise<Error>;

  constructor(
    kafka: Kafka,
    private readonly processor: RecordProcessor,
    private readonly options: RunnerOptions,
  ) {
    const eos = options.guarantee === 'exactly_once';
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      // read_committed: never see outputs of aborted transactions (ours or upstream's).
      readUncommitted: false,
      allowAutoTopicCreation: false,
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    const instance = options.instanceId ?? `${hostname()}-${options.groupId}`;
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // An idempotent producer keeps retrying while the broker is away (kafkajs warns on a limit); stop() bounds the wait.
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5_000 },
      ...(eos
        ? { transactionalId: `tagstream-${processor.topology.name}-${instance}`, transactionTimeout: 30_000 }
        : {}),
    });
    this.limiter = new InFlightLimiter(options.maxInFlight);
    this.failure = new Promise<Error>((resolve) => (this.crashed = resolve));
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload as { error: Error; restart: boolean };
      options.log.error({ err: error, restart }, 'consumer crashed');
      if (!restart) this.crashed?.(error);
    });
  }

  get recordsProcessed(): number {
    return this.processed;
  }

  async start(): Promise<void> {
    const { log, brokers } = this.options;
    try {
      await this.producer.connect();
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: this.processor.sourceTopics, fromBeginning: true });
    } catch (e) {
      throw mapKafkaError(e, brokers, 'connecting the pipeline');
    }
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConcurrently,
      eachBatch: (payload) => this.onBatch(payload),
    });
    log.info(
      { topics: this.processor.sourceTopics, group: this.options.groupId, guarantee: this.options.guarantee },
      'pipeline consuming',
    );
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale, heartbeat, resolveOffset, pause } = payload;
    const { maxBatch, metrics } = this.options;
    for (let i = 0; i < batch.messages.length; i += maxBatch) {
      if (!isRunning() || isStale()) return;
      if (this.limiter.full) {
        // Backpressure: stop fetching this partition until acknowledgements make room.
        const resume = pause();
        metrics.pausedPartitions(++this.paused);
        await this.limiter.room();
        metrics.pausedPartitions(--this.paused);
        resume();
      }
      const chunk = batch.messages.slice(i, i + maxBatch);
      const outputs: OutRecord[] = [];
      for (const m of chunk) {
        outputs.push(
          ...(await this.processor.process({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key,
            value: m.value,
            timestamp: Number(m.timestamp),
          })),
        );
      }
      const last = chunk[chunk.length - 1] as { offset: string };
      const next = (BigInt(last.offset) + 1n).toString();
      const started = performance.now();
      this.limiter.add(outputs.length);
      metrics.inFlight(this.limiter.inFlight);
      try {
        await this.commit(batch.topic, batch.partition, next, outputs);
      } finally {
        this.limiter.release(outputs.length);
        metrics.inFlight(this.limiter.inFlight);
      }
      resolveOffset(last.offset);
      this.processed += chunk.length;
      metrics.batchCommitted(chunk.length, (performance.now() - started) / 1000);
      await heartbeat();
    }
  }

  /** Sends the outputs and commits `nextOffset`, atomically in exactly_once mode. */
  private async commit(
    topic: string,
    partition: number,
    nextOffset: string,
    outputs: readonly OutRecord[],
  ): Promise<void> {
    const topicMessages = [...toMessages(outputs)].map(([t, messages]) => ({ topic: t, messages }));
    const offsets = { topics: [{ topic, partitions: [{ partition, offset: nextOffset }] }] };
    if (this.options.guarantee === 'at_least_once') {
      if (topicMessages.length) await this.producer.sendBatch({ topicMessages, acks: -1 });
      await this.consumer.commitOffsets([{ topic, partition, offset: nextOffset }]);
      return;
    }
    await this.txLock.run(async () => {
      const tx = await this.producer.transaction();
      try {
        if (topicMessages.length) await tx.sendBatch({ topicMessages, acks: -1 });
        await tx.sendOffsets({ consumerGroupId: this.options.groupId, ...offsets });
        await tx.commit();
      } catch (e) {
        await tx.abort().catch(() => undefined);
        throw mapKafkaError(e, this.options.brokers, `committing ${topic}[${partition}] up to ${nextOffset}`);
      }
    });
  }

  /** Graceful stop: no new fetches, the batch in hand finishes and commits, then disconnect; bounded in time. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const { log, shutdownTimeoutMs } = this.options;
    const work = (async () => {
      await this.consumer.stop();
      await this.consumer.disconnect();
      await this.producer.disconnect();
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new TagstreamError(
              'SHUTDOWN_TIMEOUT',
              `shutdown took longer than ${shutdownTimeoutMs} ms; uncommitted records will be processed again on restart`,
            ),
          ),
        shutdownTimeoutMs,
      );
    });
    try {
      await Promise.race([work, timeout]);
      log.info({ processed: this.processed }, 'pipeline stopped cleanly');
    } catch (e) {
      throw toTagstreamError(e);
    } finally {
      clearTimeout(timer);
    }
  }
}
