// Runs a topology on Kafka: a consumer group reads the sources (ordered per partition), the processor maps each
// record, outputs go out through an idempotent producer, and offsets are committed only once the outputs are
// acknowledged: in one Kafka transaction with them (exactly_once) or right after (at_least_once).
import { hostname } from 'node:os';
import type { Admin, Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import { TagstreamError, toTagstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { mapKafkaError } from '../io/kafka/client.ts';
import { withDeadline } from './deadline.ts';
import { InFlightLimiter } from './in-flight.ts';
import type { PipelineMetrics } from './metrics.ts';
import type { OutRecord, RecordProcessor } from './processor.ts';
import { restoreChangelogs } from './restore.ts';

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
  /** Wall-clock tick for stateful stages (idle windows close), ms. */
  readonly punctuateMs: number;
  readonly restoreTimeoutMs: number;
}

/**
 * Splits outputs into produce requests of at most `maxBytes` of keys and values, so that no per-partition record
 * batch goes over the broker's message.max.bytes (1 MiB by default) however many features a batch fans out to.
 */
export function chunkBySize(records: readonly OutRecord[], maxBytes: number): OutRecord[][] {
  const chunks: OutRecord[][] = [];
  let current: OutRecord[] = [];
  let size = 0;
  for (const r of records) {
    const n = (r.key?.length ?? 0) + (r.value?.length ?? 0) + 64;
    if (current.length > 0 && size + n > maxBytes) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(r);
    size += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const toTopicMessages = (records: readonly OutRecord[]) =>
  [...toMessages(records)].map(([topic, messages]) => ({ topic, messages }));

function toMessages(records: readonly OutRecord[]): Map<string, Message[]> {
  const byTopic = new Map<string, Message[]>();
  for (const r of records) {
    const list = byTopic.get(r.topic) ?? [];
    list.push({
      key: r.key,
      value: r.value,
      timestamp: String(r.timestamp),
      ...(r.partition === undefined ? {} : { partition: r.partition }),
    });
    byTopic.set(r.topic, list);
  }
  return byTopic;
}

/** Bytes of keys and values per produce request; below the broker's default message.max.bytes of 1 MiB. */
const MAX_REQUEST_BYTES = 512 * 1024;

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
  private producer: Producer;
  private readonly makeProducer: () => Producer;
  private readonly limiter: InFlightLimiter;
  private readonly txLock = new Mutex();
  /** One lock per source partition: a batch and a wall-clock tick never touch the same state at once. */
  private readonly partitionLocks = new Map<string, Mutex>();
  /** Stateful source partitions this instance owns, and which of them must be restored before use. */
  private readonly owned = new Set<string>();
  private readonly needsRestore = new Set<string>();
  private readonly admin: Admin;
  private ticker: NodeJS.Timeout | undefined;
  private paused = 0;
  private running = false;
  private processed = 0;
  /** Source partitions with a consumer-lag series, to remove when they are no longer assigned. */
  private readonly lagSeries = new Set<string>();
  private crashed: ((e: Error) => void) | undefined;
  /** Resolves when the consumer crashes for good (not on a clean stop). */
  readonly failure: Promise<Error>;

  constructor(
    private readonly kafka: Kafka,
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
    this.makeProducer = () =>
      kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // An idempotent producer keeps retrying while the broker is away (kafkajs warns on a limit); stop() bounds the wait.
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5_000 },
        ...(eos
          ? {
              transactionalId: `tagstream-${processor.topology.name}-${instance}`,
              transactionTimeout: 30_000,
            }
          : {}),
      });
    this.producer = this.makeProducer();
    this.limiter = new InFlightLimiter(options.maxInFlight);
    this.admin = kafka.admin();
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      const assignment = (event.payload as { memberAssignment: Record<string, number[]> }).memberAssignment;
      this.onAssignment(assignment);
    });
    // A fetch of only transaction markers (or aborted records) never reaches onBatch; kafkajs still resolves it
    // and reports the lag it leaves, which is how a caught-up partition behind a transactional producer gets to 0.
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, (event) => {
      const { topic, partition, batchSize, offsetLag } = event.payload as {
        topic: string;
        partition: number;
        batchSize: number;
        offsetLag: string;
      };
      if (batchSize === 0 && this.running) this.reportLag(topic, partition, Number(offsetLag));
    });
    this.failure = new Promise<Error>((resolve) => (this.crashed = resolve));
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload as { error: Error; restart: boolean };
      options.log.error({ err: error, restart }, 'consumer crashed');
      if (!restart) this.crashed?.(error);
    });
  }

  private lock(topic: string, partition: number): Mutex {
    const k = `${topic}:${partition}`;
    let m = this.partitionLocks.get(k);
    if (!m) this.partitionLocks.set(k, (m = new Mutex()));
    return m;
  }

  /**
   * A new assignment: partitions that arrive are restored from their changelog before first use (another
   * instance may have advanced them); state of partitions that left is dropped.
   */
  private onAssignment(assignment: Record<string, number[]>): void {
    const assigned = new Set(
      Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}:${p}`)),
    );
    for (const k of this.lagSeries) {
      if (assigned.has(k)) continue;
      const [topic, p] = splitKey(k);
      this.options.metrics.consumerLag?.(topic, p, null);
      this.lagSeries.delete(k);
    }
    const now = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      if (!this.processor.isStateful(topic)) continue;
      for (const p of partitions) now.add(`${topic}:${p}`);
    }
    for (const k of this.owned) {
      if (now.has(k)) continue;
      const [topic, p] = splitKey(k);
      this.processor.dropState(topic, p);
      this.owned.delete(k);
      this.needsRestore.delete(k);
    }
    for (const k of now) {
      if (this.owned.has(k)) continue;
      this.owned.add(k);
      this.needsRestore.add(k);
    }
    for (const source of this.processor.sourceTopics)
      if (this.processor.isStateful(source)) this.processor.reportStateSizes(source);
  }

  private reportLag(topic: string, partition: number, records: number): void {
    this.lagSeries.add(`${topic}:${partition}`);
    this.options.metrics.consumerLag?.(topic, partition, Math.max(0, records));
  }

  private async ensureRestored(topic: string, partition: number): Promise<void> {
    const k = `${topic}:${partition}`;
    if (!this.needsRestore.has(k)) return;
    this.processor.dropState(topic, partition);
    const targets = this.processor.changelogTopics
      .filter((c) => c.source === topic)
      .map((c) => ({ topic: c.topic, partitions: [partition] }));
    const started = performance.now();
    const n = await restoreChangelogs(
      this.kafka,
      this.admin,
      targets,
      (t, p, key, value) => this.processor.restore(t, p, key, value),
      this.options.restoreTimeoutMs,
    );
    this.needsRestore.delete(k);
    this.processor.reportStateSizes(topic);
    this.options.log.info(
      { topic, partition, records: n, ms: Math.round(performance.now() - started) },
      'state restored from changelog',
    );
  }

  /** Wall-clock tick: each owned, restored stateful partition may close idle windows; outputs commit in a transaction. */
  private async tick(): Promise<void> {
    for (const k of [...this.owned]) {
      if (!this.running) return;
      if (this.needsRestore.has(k)) continue;
      const [topic, partition] = splitKey(k);
      await this.lock(topic, partition).run(async () => {
        if (!this.owned.has(k) || this.needsRestore.has(k)) return;
        try {
          const outputs = [
            ...this.processor.tick(topic, partition),
            ...this.processor.takeChangelog(topic, partition),
          ];
          if (outputs.length) await this.commit(topic, partition, undefined, outputs);
          this.processor.reportStateSizes(topic);
        } catch (e) {
          this.processor.dropState(topic, partition);
          this.needsRestore.add(k);
          this.options.log.warn(
            { err: e, topic, partition },
            'wall-clock tick failed; state will be restored',
          );
        }
      });
    }
  }

  get recordsProcessed(): number {
    return this.processed;
  }

  async start(): Promise<void> {
    const { log, brokers } = this.options;
    try {
      await this.producer.connect();
      await this.consumer.connect();
      await this.admin.connect();
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
    if (this.processor.changelogTopics.length > 0) {
      this.ticker = setInterval(() => {
        this.tick().catch((e: unknown) => log.warn({ err: e }, 'tick failed'));
      }, this.options.punctuateMs);
    }
    log.info(
      { topics: this.processor.sourceTopics, group: this.options.groupId, guarantee: this.options.guarantee },
      'pipeline consuming',
    );
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale, heartbeat, resolveOffset, pause } = payload;
    const { maxBatch, metrics } = this.options;
    // The log end as of this fetch; the lag after a chunk is what remains of it past the chunk.
    const end = BigInt(batch.highWatermark);
    const first = batch.messages[0];
    if (first) this.reportLag(batch.topic, batch.partition, Number(end - BigInt(first.offset)));
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
      const last = chunk[chunk.length - 1] as { offset: string };
      const next = (BigInt(last.offset) + 1n).toString();
      const stateful = this.processor.isStateful(batch.topic);
      let produced = 0;
      const started = performance.now();
      await this.lock(batch.topic, batch.partition).run(async () => {
        if (stateful) await this.ensureRestored(batch.topic, batch.partition);
        try {
          const outputs: OutRecord[] = [];
          const raw = (m: (typeof chunk)[number]) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key,
            value: m.value,
            timestamp: Number(m.timestamp),
          });
          if (this.processor.isAsync(batch.topic)) {
            // Stateless flow with an async stage: the chunk's records are in flight together (micro-batching),
            // and their outputs are taken in input order.
            for (const out of await Promise.all(chunk.map((m) => this.processor.process(raw(m)))))
              outputs.push(...out);
          } else for (const m of chunk) outputs.push(...(await this.processor.process(raw(m))));
          if (stateful) outputs.push(...this.processor.takeChangelog(batch.topic, batch.partition));
          produced = outputs.length;
          this.limiter.add(produced);
          metrics.inFlight(this.limiter.inFlight);
          try {
            await this.commit(batch.topic, batch.partition, next, outputs);
          } finally {
            this.limiter.release(produced);
            metrics.inFlight(this.limiter.inFlight);
          }
        } catch (e) {
          // The in-memory state saw records whose effects were not committed: restore it before going on.
          if (stateful) {
            this.processor.dropState(batch.topic, batch.partition);
            this.needsRestore.add(`${batch.topic}:${batch.partition}`);
          }
          throw e;
        }
      });
      resolveOffset(last.offset);
      this.processed += chunk.length;
      metrics.batchCommitted(chunk.length, (performance.now() - started) / 1000);
      if (stateful) this.processor.reportStateSizes(batch.topic);
      // After the batch's last chunk, kafkajs' own figure also skips the transaction markers the fetch ended on.
      this.reportLag(
        batch.topic,
        batch.partition,
        i + maxBatch >= batch.messages.length ? Number(batch.offsetLag()) : Number(end - BigInt(next)),
      );
      await heartbeat();
    }
  }

  /**
   * Sends the outputs (and state changes) and commits `nextOffset`, atomically in exactly_once mode.
   * Without an offset (a wall-clock tick) only the outputs are committed.
   */
  private async commit(
    topic: string,
    partition: number,
    nextOffset: string | undefined,
    outputs: readonly OutRecord[],
  ): Promise<void> {
    const requests = chunkBySize(outputs, MAX_REQUEST_BYTES).map(toTopicMessages);
    if (this.options.guarantee === 'at_least_once') {
      for (const topicMessages of requests) await this.producer.sendBatch({ topicMessages, acks: -1 });
      if (nextOffset !== undefined)
        await this.consumer.commitOffsets([{ topic, partition, offset: nextOffset }]);
      return;
    }
    await this.txLock.run(async () => {
      const tx = await this.producer.transaction();
      try {
        for (const topicMessages of requests) await tx.sendBatch({ topicMessages, acks: -1 });
        if (nextOffset !== undefined)
          await tx.sendOffsets({
            consumerGroupId: this.options.groupId,
            topics: [{ topic, partitions: [{ partition, offset: nextOffset }] }],
          });
        await tx.commit();
      } catch (e) {
        await tx.abort().catch(() => undefined);
        // kafkajs keeps its sequence numbers after a failed send, and every later send would fail with
        // OUT_OF_ORDER_SEQUENCE_NUMBER: a fresh producer re-initialises (and bumps the epoch) instead.
        await this.producer.disconnect().catch(() => undefined);
        this.producer = this.makeProducer();
        await this.producer.connect();
        throw mapKafkaError(
          e,
          this.options.brokers,
          `committing ${topic}[${partition}] up to ${nextOffset ?? '(tick)'}`,
        );
      }
    });
  }

  /** Graceful stop: no new fetches, the batch in hand finishes and commits, then disconnect; bounded in time. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const { log, shutdownTimeoutMs } = this.options;
    clearInterval(this.ticker);
    const work = (async () => {
      await this.consumer.stop();
      await this.admin.disconnect();
      await this.consumer.disconnect();
      await this.producer.disconnect();
    })();
    try {
      await withDeadline(
        work,
        shutdownTimeoutMs,
        () =>
          new TagstreamError(
            'SHUTDOWN_TIMEOUT',
            `shutdown took longer than ${shutdownTimeoutMs} ms; uncommitted records will be processed again on restart`,
          ),
      );
      log.info({ processed: this.processed }, 'pipeline stopped cleanly');
    } catch (e) {
      throw toTagstreamError(e);
    }
  }
}

function splitKey(k: string): [string, number] {
  const i = k.lastIndexOf(':');
  return [k.slice(0, i), Number(k.slice(i + 1))];
}
