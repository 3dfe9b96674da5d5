// Runs a topology on Kafka: a consumer group reads the sources (ordered per partition), the processor maps each
// record, outputs go out through an idempotent producer, and offsets are committed only once the outputs are
// acknowledged: in one Kafka transaction with them (exactly_once) or right after (at_least_once).
//
// Fencing (exactly_once) follows Kafka Streams' first exactly-once design (EOS-v1): one transactional producer per
// task, its transactional id derived from the group and the task only, so whichever instance owns a task uses the
// same id. A task is, as in Kafka Streams, partition p of every source topic when the client's consumers assign
// whole tasks (KafkaClient.assignsTasks: kafkajs, by its task assigner), else one source partition. Taking a task
// over starts that producer, which fences the previous owner (a zombie's later commit fails) and lets the
// coordinator finish or abort its open transaction; only then are the group's committed offsets read again and the
// state restored. Records below those offsets (committed by the previous owner after this instance's consumer looked
// them up) are skipped, so nothing is processed twice. The chunks of a task's partitions processed side by side
// (pipeline.partitionsConcurrently) commit in one transaction (group-commit.ts): transactions per second, the
// broker's main cost at a steady pace, grow with the tasks, not with the partitions. kafkajs has no KIP-447 (offset
// commits fenced by the group generation), which would let one producer serve every task.
//
// Failures: a retryable one (a store, the registry or the broker away) is retried in place, the batch uncommitted; a
// fatal one (TagstreamError.isFatal: a refused login, a missing grant or ACL, TLS, a wrong setting) stops the consumer
// at once, as Kafka Streams' SHUTDOWN_CLIENT does, with the batch uncommitted and `failure` resolved with the error.
import { TagstreamError, toTagstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import {
  mapKafkaError,
  type BatchControl,
  type ConsumerBatch,
  type ConsumerOptions,
  type KafkaAdmin,
  type KafkaClient,
  type KafkaConsumer,
  type KafkaProducer,
  type KafkaTransaction,
  type TopicPartitionOffsets,
} from '../io/kafka/client.ts';
import { withDeadline } from './deadline.ts';
import { InFlightLimiter } from './in-flight.ts';
import type { PipelineMetrics } from './metrics.ts';
import { GroupCommit, type Turn } from './group-commit.ts';
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
  /** Consumer session timeout, ms (the client's default when absent). */
  readonly sessionTimeoutMs?: number;
  /** Most bytes of records one fetch brings, in all and per partition (the client's defaults when absent). */
  readonly fetch?: Pick<ConsumerOptions, 'maxBytes' | 'maxBytesPerPartition'>;
  readonly log: Logger;
  readonly metrics: PipelineMetrics;
  /** Wall-clock tick for stateful stages (idle windows close), ms. */
  readonly punctuateMs: number;
  /** exactly_once: the least time between the starts of two transactions of a task, ms (0: none). */
  readonly commitIntervalMs?: number;
  readonly restoreTimeoutMs: number;
  /** Backoff between retries of a batch whose dependency failed: first and largest wait, ms. */
  readonly retryBackoffMs?: { readonly initial: number; readonly max: number };
}

/** How often a consumer heartbeats while a chunk is processed (the client sends one at most per heartbeat interval). */
export const HEARTBEAT_WHILE_WORKING_MS = 1_000;

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

/** Bytes of keys and values per produce request; below the broker's default message.max.bytes of 1 MiB. */
const MAX_REQUEST_BYTES = 512 * 1024;

/** A one-at-a-time lock: one partition's batches, ticks and transactions run one at a time. */
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
  private readonly consumer: KafkaConsumer;
  /** at_least_once: one idempotent producer for every partition. */
  private readonly producer: KafkaProducer | undefined;
  /** exactly_once: each owned task's transactional producer, once it has fenced the previous owner. */
  private readonly txProducers = new Map<string, KafkaProducer>();
  /** exactly_once: tasks whose producer is being started (fencing, reading the committed offsets). */
  private readonly startingTx = new Map<string, Promise<KafkaProducer>>();
  /** exactly_once: each task's group commit (one transaction for the chunks of its partitions done together). */
  private readonly groupCommits = new Map<string, GroupCommit<OutRecord, TopicPartitionOffsets>>();
  /** The source partitions (`topic:partition`) of the last assignment. */
  private assigned = new Set<string>();
  /** Offsets a previous owner committed past what the consumer was handed: records below are skipped. */
  private readonly skipBelow = new Map<string, bigint>();
  /** The group's committed offset of each partition, as this instance last committed or read it. */
  private readonly committedTo = new Map<string, bigint>();
  /**
   * Partitions whose last fetch ended on transaction markers (or aborted records) past the committed offset, and
   * since when: a quiet partition's markers are committed past on a tick (see markersToCommit).
   */
  private readonly trailing = new Map<string, { offset: bigint; since: number }>();
  private readonly limiter: InFlightLimiter;
  /** One lock per source partition: a batch and a wall-clock tick never touch the same state at once. */
  private readonly partitionLocks = new Map<string, Mutex>();
  /** Stateful source partitions this instance owns, and which of them must be restored before use. */
  private readonly owned = new Set<string>();
  private readonly needsRestore = new Set<string>();
  /** Assigned partitions of stateless flows that act on wall-clock ticks (ticked like the stateful ones). */
  private readonly ticking = new Set<string>();
  /** Records left in each assigned source partition, as the consumer last saw it (StageContext.inputLag). */
  private readonly lags = new Map<string, number>();
  private readonly admin: KafkaAdmin;
  private ticker: NodeJS.Timeout | undefined;
  private paused = 0;
  private running = false;
  private processed = 0;
  /** Source partitions with a consumer-lag series, to remove when they are no longer assigned. */
  private readonly lagSeries = new Set<string>();
  private crashed: ((e: Error) => void) | undefined;
  /** The fatal error this runner stopped on, if any. */
  private fatal: TagstreamError | undefined;
  /** The stop under way or done (one stop, however many callers). */
  private stopping: Promise<void> | undefined;
  /** Resolves when the consumer crashes for good or meets a fatal error (not on a clean stop). */
  readonly failure: Promise<Error>;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly processor: RecordProcessor,
    private readonly options: RunnerOptions,
  ) {
    // read_committed: never see outputs of aborted transactions (ours or upstream's).
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      readCommitted: true,
      retries: 10,
      ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: options.sessionTimeoutMs }),
      ...options.fetch,
    });
    // An idempotent producer keeps retrying while the broker is away; stop() bounds the wait.
    this.producer =
      options.guarantee === 'at_least_once'
        ? kafka.producer({ idempotent: true, retries: Infinity })
        : undefined;
    this.limiter = new InFlightLimiter(options.maxInFlight);
    this.admin = kafka.admin();
    this.consumer.onAssignment((assignment) => this.onAssignment(assignment));
    // A fetch of only transaction markers (or aborted records) never reaches onBatch; the client still reports
    // the lag it leaves, which is how a caught-up partition behind a transactional producer gets to 0.
    this.consumer.onFetchEnd((end) => {
      if (end.records !== 0 || !this.running) return;
      this.reportLag(end.topic, end.partition, Number(end.offsetLag));
      this.fetchedPast(`${end.topic}:${end.partition}`, BigInt(end.lastOffset) + 1n);
    });
    this.failure = new Promise<Error>((resolve) => (this.crashed = resolve));
    this.consumer.onCrash((error, restarting) => {
      options.log.error(
        { err: error, restarting },
        `${processor.topology.name}: the consumer failed (${error.message})${restarting ? '; restarting it' : ''}`,
      );
      if (!restarting) this.crashed?.(error);
    });
  }

  /** The task a source partition belongs to (see the header): `task-<p>`, or `<topic>-<p>`. */
  private taskOf(topic: string, partition: number): string {
    return this.kafka.assignsTasks ? `task-${partition}` : `${topic}-${partition}`;
  }

  private taskOfKey(k: string): string {
    const [topic, p] = splitKey(k);
    return this.taskOf(topic, p);
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
  private onAssignment(assignment: Readonly<Record<string, readonly number[]>>): void {
    const assigned = new Set(
      Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}:${p}`)),
    );
    const tasks = new Set([...assigned].map((k) => this.taskOfKey(k)));
    for (const task of [...this.txProducers.keys()]) {
      if (tasks.has(task)) continue;
      // After the batches in hand of the task's partitions (if any) have committed or failed.
      const held = [...this.assigned].filter((k) => this.taskOfKey(k) === task);
      void Promise.all(held.map((k) => this.lock(...splitKey(k)).run(async () => undefined))).then(() =>
        this.closeTxProducer(task),
      );
    }
    this.assigned = assigned;
    for (const k of [...this.trailing.keys(), ...this.committedTo.keys()]) {
      if (assigned.has(k)) continue;
      this.trailing.delete(k);
      this.committedTo.delete(k);
    }
    for (const k of this.lagSeries) {
      if (assigned.has(k)) continue;
      const [topic, p] = splitKey(k);
      this.options.metrics.consumerLag?.(topic, p, null);
      this.lagSeries.delete(k);
      this.lags.delete(k);
    }
    this.ticking.clear();
    for (const [topic, partitions] of Object.entries(assignment)) {
      if (this.processor.isStateful(topic) || !this.processor.ticks(topic)) continue;
      for (const p of partitions) this.ticking.add(`${topic}:${p}`);
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
    const k = `${topic}:${partition}`;
    this.lagSeries.add(k);
    this.lags.set(k, Math.max(0, records));
    this.options.metrics.consumerLag?.(topic, partition, Math.max(0, records));
  }

  /**
   * exactly_once: the partition's transactional producer, started on first use. Starting it fences the previous
   * owner and waits until its open transaction is committed or aborted; then the group's committed offset is read
   * again, and records below it are skipped (the previous owner's last commit may have landed after this
   * consumer fetched its position).
   */
  private txProducer(topic: string, partition: number): Promise<KafkaProducer> {
    const task = this.taskOf(topic, partition);
    const existing = this.txProducers.get(task);
    if (existing) return Promise.resolve(existing);
    // The task's partitions are handled side by side: one start for all of them.
    let starting = this.startingTx.get(task);
    if (!starting) {
      this.startingTx.set(task, (starting = this.startTxProducer(task, topic, partition)));
      void starting.then(
        () => this.startingTx.delete(task),
        () => this.startingTx.delete(task),
      );
    }
    return starting;
  }

  private async startTxProducer(task: string, topic: string, partition: number): Promise<KafkaProducer> {
    const { groupId, brokers } = this.options;
    const producer = this.kafka.producer({
      idempotent: true,
      retries: Infinity,
      transactionalId: `tagstream-${groupId}-${task}`,
      transactionTimeoutMs: 30_000,
    });
    try {
      await producer.connect();
      // The fence itself: kafkajs claims the transactional id only at the first transaction, and the offsets and
      // changelogs read next must already hold (or have lost) the previous owner's last transaction.
      await producer.initTransactions();
      const topics = this.kafka.assignsTasks ? this.processor.sourceTopics : [topic];
      for (const offsets of await this.admin.groupOffsets(groupId, topics)) {
        const k = `${offsets.topic}:${partition}`;
        const committed = BigInt(offsets.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
        if (committed >= 0n) this.skipBelow.set(k, committed);
        this.committedTo.set(k, committed);
      }
    } catch (e) {
      await producer.disconnect().catch(() => undefined);
      throw mapKafkaError(e, brokers, `taking over ${task} of ${topic} (fencing its previous owner)`);
    }
    this.txProducers.set(task, producer);
    return producer;
  }

  private async closeTxProducer(task: string): Promise<void> {
    const producer = this.txProducers.get(task);
    this.txProducers.delete(task);
    for (const k of new Set([...this.skipBelow.keys(), ...this.committedTo.keys()]))
      if (this.taskOfKey(k) === task) {
        this.skipBelow.delete(k);
        this.committedTo.delete(k);
      }
    await producer?.disconnect().catch(() => undefined);
  }

  /** The task's group commit: its transaction commits the outputs and offsets of every chunk submitted to it. */
  private groupCommit(task: string): GroupCommit<OutRecord, TopicPartitionOffsets> {
    let g = this.groupCommits.get(task);
    if (!g)
      this.groupCommits.set(
        task,
        (g = new GroupCommit(
          (records, offsets) => this.transaction(task, records, offsets),
          this.options.commitIntervalMs,
        )),
      );
    return g;
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

  /**
   * Wall-clock tick: each owned, restored stateful partition may close idle windows, and each partition of a
   * ticking stateless flow may declare its input idle; outputs commit in a transaction. A quiet partition whose
   * fetch ended on transaction markers commits its offset past them, with the tick's outputs or alone.
   */
  private async tick(): Promise<void> {
    const now = Date.now();
    for (const k of new Set([...this.owned, ...this.ticking, ...this.trailing.keys()])) {
      if (!this.running) return;
      const [topic, partition] = splitKey(k);
      await this.lock(topic, partition).run(async () => {
        // A partition still to restore has no state to tick; its markers need none to be committed past.
        const ticks = (this.owned.has(k) || this.ticking.has(k)) && !this.needsRestore.has(k);
        const quiet = now - (this.trailing.get(k)?.since ?? now) >= this.options.punctuateMs;
        if (!ticks && !quiet) return;
        const task = this.taskOf(topic, partition);
        if (!this.producer && !this.txProducers.has(task)) {
          if (!quiet) return;
          // A partition whose first fetch here was markers only: take it over (fence, read its offset) first.
          await this.txProducer(topic, partition).catch(() => undefined);
          if (!this.txProducers.has(task)) return;
        }
        const past = quiet ? this.markersToCommit(k) : undefined;
        try {
          const outputs = ticks
            ? [
                ...this.processor.tick(topic, partition, this.lags.get(k)),
                ...this.processor.takeChangelog(topic, partition),
              ]
            : [];
          if (outputs.length || past !== undefined) await this.commit(topic, partition, past, outputs);
          if (ticks) this.processor.reportStateSizes(topic);
        } catch (e) {
          if (this.owned.has(k)) {
            this.processor.dropState(topic, partition);
            this.needsRestore.add(k);
          }
          const err = toTagstreamError(e);
          if (err.isFatal) this.failFatally(err, `the wall-clock tick of ${topic}[${partition}]`);
          else
            this.options.log.warn(
              { err: e, topic, partition },
              'wall-clock tick failed; state will be restored',
            );
        }
      });
    }
  }

  /**
   * The offset past the transaction markers a partition's last fetch ended on (tick asks once the partition has
   * been quiet for a tick interval): without it the group's committed offset stays short of the log end by a marker
   * per transaction that wrote last to the partition, and every lag figure read from the group
   * (kafka-consumer-groups, Burrow, a dashboard) says records wait there for ever. The Java consumer's position moves
   * past markers the same way. Undefined when there is nothing to commit, or the committed offset is not known yet
   * (exactly_once).
   */
  private markersToCommit(k: string): string | undefined {
    const t = this.trailing.get(k);
    if (!t) return undefined;
    const committed = this.committedTo.get(k);
    if (committed !== undefined && committed >= t.offset) {
      this.trailing.delete(k);
      return undefined;
    }
    if (committed === undefined && !this.producer) return undefined;
    return t.offset.toString();
  }

  get recordsProcessed(): number {
    return this.processed;
  }

  /** The consumer group and the topics it reads (tools and tests that inject into every consumed topic). */
  get consumes(): { readonly groupId: string; readonly topics: readonly string[] } {
    return { groupId: this.options.groupId, topics: this.processor.sourceTopics };
  }

  async start(): Promise<void> {
    const { log, brokers } = this.options;
    try {
      await this.producer?.connect();
      await this.consumer.connect();
      await this.admin.connect();
      await this.consumer.subscribe(this.processor.sourceTopics, { fromBeginning: true });
    } catch (e) {
      throw mapKafkaError(e, brokers, 'connecting the pipeline');
    }
    this.running = true;
    await this.consumer.run({
      partitionsConcurrently: this.options.partitionsConcurrently,
      autoResolve: false,
      eachBatch: (batch, control) => this.onBatch(batch, control),
    });
    // Every runner ticks: stateful and ticking flows act on it, and any partition may have markers to commit past.
    this.ticker = setInterval(() => {
      this.tick().catch((e: unknown) => log.warn({ err: e }, 'tick failed'));
    }, this.options.punctuateMs);
    log.info(
      { topics: this.processor.sourceTopics, group: this.options.groupId, guarantee: this.options.guarantee },
      'pipeline consuming',
    );
  }

  private async onBatch(batch: ConsumerBatch, control: BatchControl): Promise<void> {
    const { isRunning, isStale, heartbeat, resolveOffset, pause } = control;
    const { maxBatch, metrics } = this.options;
    // The log end as of this fetch; the lag after a chunk is what remains of it past the chunk.
    const end = BigInt(batch.highWatermark);
    const first = batch.records[0];
    if (first) this.reportLag(batch.topic, batch.partition, Number(end - BigInt(first.offset)));
    for (let i = 0; i < batch.records.length; i += maxBatch) {
      if (!isRunning() || isStale()) return;
      if (this.limiter.full) {
        // Backpressure: stop fetching this partition until acknowledgements make room.
        const resume = pause();
        metrics.pausedPartitions(++this.paused);
        await this.limiter.room();
        metrics.pausedPartitions(--this.paused);
        resume();
      }
      const chunk = batch.records.slice(i, i + maxBatch);
      const last = chunk[chunk.length - 1] as { offset: string };
      const next = (BigInt(last.offset) + 1n).toString();
      // After the batch's last chunk, the client's own figure also skips the transaction markers the fetch ended on.
      const lagAfter =
        i + maxBatch >= batch.records.length ? Number(batch.offsetLag()) : Number(end - BigInt(next));
      const started = performance.now();
      if (
        !(await this.withRetry(batch, chunk[0]?.offset ?? next, control, () =>
          this.runChunk(batch, chunk, next, lagAfter),
        ))
      )
        return;
      resolveOffset(last.offset);
      this.processed += chunk.length;
      metrics.batchCommitted(chunk.length, (performance.now() - started) / 1000);
      if (this.processor.isStateful(batch.topic)) this.processor.reportStateSizes(batch.topic);
      this.reportLag(batch.topic, batch.partition, lagAfter);
      await heartbeat();
    }
    // Every record committed: the fetch may have ended on transaction markers past the last one (a marker usually
    // arrives with the records before it, not in a fetch of its own).
    this.fetchedPast(`${batch.topic}:${batch.partition}`, end - BigInt(batch.offsetLag()));
  }

  /** Processes one chunk of a partition's records and commits its outputs with the offset after it. */
  private async runChunk(
    batch: ConsumerBatch,
    chunk: ConsumerBatch['records'],
    next: string,
    lagAfter: number,
  ): Promise<void> {
    const { metrics } = this.options;
    const stateful = this.processor.isStateful(batch.topic);
    await this.lock(batch.topic, batch.partition).run(async () => {
      // Fencing before restoring: the changelog is complete only once the previous owner's transaction is over.
      if (!this.producer) await this.txProducer(batch.topic, batch.partition);
      if (stateful) await this.ensureRestored(batch.topic, batch.partition);
      const records = this.unprocessed(batch.topic, batch.partition, chunk);
      if (records.length === 0) return;
      // exactly_once: the task's next transaction waits for this chunk (group-commit.ts).
      const turn = this.producer
        ? undefined
        : this.groupCommit(this.taskOf(batch.topic, batch.partition)).enter();
      try {
        const outputs = await this.processor.processBatch(records, Math.max(0, lagAfter));
        if (stateful) outputs.push(...this.processor.takeChangelog(batch.topic, batch.partition));
        const produced = outputs.length;
        this.limiter.add(produced);
        metrics.inFlight(this.limiter.inFlight);
        try {
          await this.commit(batch.topic, batch.partition, next, outputs, turn);
        } finally {
          this.limiter.release(produced);
          metrics.inFlight(this.limiter.inFlight);
        }
      } catch (e) {
        turn?.leave();
        // The in-memory state saw records whose effects were not committed: restore it before going on.
        if (stateful) {
          this.processor.dropState(batch.topic, batch.partition);
          this.needsRestore.add(`${batch.topic}:${batch.partition}`);
        }
        throw e;
      }
    });
  }

  /**
   * The chunk less the records already committed: by a previous owner (skipBelow, see txProducer), or by this
   * instance. The second happens after a rebalance that leaves a partition here: the client fetches its position
   * again from the group's committed offset, and kafkajs asks without KIP-447's require_stable, so the broker may
   * answer with the offset from before this instance's last transaction, whose commit markers it has not written yet.
   * The client then hands over records this instance has processed and committed already (its state holds their
   * effects); processed again, their outputs would be doubled.
   */
  private unprocessed(
    topic: string,
    partition: number,
    chunk: ConsumerBatch['records'],
  ): ConsumerBatch['records'] {
    const k = `${topic}:${partition}`;
    const skip = this.skipBelow.get(k);
    const done = this.committedTo.get(k) ?? -1n;
    const floor = skip === undefined || done > skip ? done : skip;
    if (floor <= 0n) return chunk;
    // A chunk's records are in offset order: the usual chunk, wholly above the floor, is not filtered record by record.
    const rest =
      BigInt(chunk[0]?.offset ?? -1) >= floor ? chunk : chunk.filter((r) => BigInt(r.offset) >= floor);
    if (rest.length < chunk.length)
      this.options.log.info(
        { topic, partition, skipped: chunk.length - rest.length, committed: floor.toString() },
        `${this.processor.topology.name}: ${topic}[${partition}] records up to offset ${floor - 1n} are committed already (by this instance or the partition's previous owner); skipped`,
      );
    // A chunk that reaches the previous owner's floor ends that skipping: the ones after it lie above it.
    if (skip !== undefined && BigInt(chunk[chunk.length - 1]?.offset ?? -1) + 1n >= skip)
      this.skipBelow.delete(k);
    return rest;
  }

  /**
   * Runs `work` until it succeeds, the consumer heartbeating all along. A retryable failure (a database, cache,
   * registry or broker away) is retried in place with exponential backoff, the batch uncommitted, with one line when
   * the trouble starts and one when it ends. A fatal failure (TagstreamError.isFatal) stops the consumer
   * (failFatally); anything else is thrown (the client restarts the consumer). Resolves false when the consumer
   * stops, fails fatally or the partition is taken away meanwhile: the batch is then left uncommitted.
   */
  private async withRetry(
    batch: ConsumerBatch,
    from: string,
    control: BatchControl,
    work: () => Promise<void>,
  ): Promise<boolean> {
    const { log } = this.options;
    const backoff = this.options.retryBackoffMs ?? { initial: 200, max: 10_000 };
    const where = `${batch.topic}[${batch.partition}] from offset ${from}`;
    let wait = backoff.initial;
    // The consumer is stopping (or this runner is): the batch is left uncommitted.
    const stopping = (): boolean => !control.isRunning() || !this.running;
    // The client heartbeats only when asked (kafkajs has no background heartbeat): work longer than the session
    // timeout (a backlog's first chunk of a flow that loads history for every day it spans) would have the member
    // evicted, its commit refused and the same chunk started again, for ever. Heartbeats while it works and while it
    // waits to retry keep the member in the group; a rebalance still refuses the commit of a partition taken away.
    const beating = setInterval(
      () => void control.heartbeat().catch(() => undefined),
      HEARTBEAT_WHILE_WORKING_MS,
    );
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await work();
          if (attempt > 1)
            log.info(`${this.processor.topology.name}: ${where} written after ${attempt} attempts; going on`);
          return true;
        } catch (e) {
          const err = toTagstreamError(e);
          if (err.isFatal) {
            this.failFatally(err, where);
            return false;
          }
          if (!err.retryable) throw err;
          // A stop under way (work given up with STOPPING, or a store closed under it): left uncommitted, quietly.
          if (stopping()) {
            log.debug(
              { code: err.code },
              `${this.processor.topology.name}: ${where} left uncommitted: stopping`,
            );
            return false;
          }
          if (attempt === 1)
            log.warn(
              { code: err.code, err: err.message },
              `${this.processor.topology.name}: ${err.message}; ${where} stays uncommitted and is retried until it succeeds`,
            );
          else log.debug({ code: err.code, attempt }, `retrying ${where}`);
        }
        const until = Date.now() + wait;
        while (Date.now() < until) {
          if (stopping() || control.isStale()) return false;
          await new Promise((r) => setTimeout(r, Math.min(500, until - Date.now())));
        }
        wait = Math.min(backoff.max, wait * 2);
      }
    } finally {
      clearInterval(beating);
    }
  }

  /**
   * A failure that no retry or restart can fix (a refused login, a missing grant or ACL, TLS, a wrong setting): as
   * Kafka Streams' SHUTDOWN_CLIENT, the consumer stops rather than retrying the batch or letting the client restart
   * it. Nothing of the failed batch was committed (commit() aborts a failed transaction), so after the fix a restart
   * processes it again. One line says the code and what to change; `failure` resolves with the error, so that the
   * job stops the rest and exits non-zero. Called from within a batch handler: the stop is not awaited here, since
   * stopping the consumer waits for the handler to return.
   */
  private failFatally(err: TagstreamError, where: string): void {
    if (this.fatal) return;
    this.fatal = err;
    const { log } = this.options;
    // The error's message (what to change) follows on the line, with the server's own words (its cause).
    log.error(
      { err },
      `${where} is not committed and the consumer stops: ${err.code} is not fixed by retrying`,
    );
    this.stop().catch((e: unknown) =>
      log.warn({ err: e }, `the consumer did not stop cleanly after ${err.code}`),
    );
    this.crashed?.(err);
  }

  /**
   * Sends the outputs (and state changes) and commits `nextOffset`, atomically in exactly_once mode: in the
   * transaction of the partition's task, with whatever else of the task is submitted alongside (`turn`, when the
   * caller entered the group commit before processing; else it enters now). Without an offset (a wall-clock tick)
   * only the outputs are committed.
   */
  private async commit(
    topic: string,
    partition: number,
    nextOffset: string | undefined,
    outputs: readonly OutRecord[],
    turn?: Turn<OutRecord, TopicPartitionOffsets>,
  ): Promise<void> {
    const offsets =
      nextOffset === undefined ? [] : [{ topic, partitions: [{ partition, offset: nextOffset }] }];
    if (this.producer) {
      const where = `committing ${topic}[${partition}] up to ${nextOffset ?? '(tick)'}`;
      try {
        for (const records of chunkBySize(outputs, MAX_REQUEST_BYTES)) await this.producer.send(records);
        if (offsets.length) await this.consumer.commitOffsets(offsets);
      } catch (e) {
        throw mapKafkaError(e, this.options.brokers, where);
      }
    } else {
      await (turn ?? this.groupCommit(this.taskOf(topic, partition)).enter()).submit(outputs, offsets);
    }
    if (nextOffset !== undefined) this.committed(topic, partition, nextOffset);
  }

  /** exactly_once: one transaction of a task: the outputs, and the offsets of its partitions, committed together. */
  private async transaction(
    task: string,
    outputs: readonly OutRecord[],
    offsets: readonly TopicPartitionOffsets[],
  ): Promise<void> {
    const where = `committing ${task} (${offsets.map((o) => `${o.topic}[${o.partitions[0]?.partition}] up to ${o.partitions[0]?.offset}`).join(', ') || 'a tick'})`;
    const producer = this.txProducers.get(task);
    if (!producer)
      throw new TagstreamError('KAFKA_ERROR', `${where}: the task has no transactional producer`, {
        retryable: true,
      });
    let tx: KafkaTransaction | undefined;
    try {
      tx = await producer.transaction();
      for (const records of chunkBySize(outputs, MAX_REQUEST_BYTES)) await tx.send(records);
      if (offsets.length) await tx.sendOffsets(this.options.groupId, offsets);
      await tx.commit();
    } catch (e) {
      await tx?.abort().catch(() => undefined);
      // A client may keep its sequence numbers after a failed send (kafkajs does), and every later send would fail
      // with OUT_OF_ORDER_SEQUENCE_NUMBER; and a commit that failed may still have landed. The next attempt starts
      // a fresh producer (a new epoch) and reads the committed offsets again.
      await this.closeTxProducer(task);
      throw mapKafkaError(e, this.options.brokers, where);
    }
  }

  /** The consumer has read (records, markers or aborted records) up to `past`: what lies beyond the commit trails. */
  private fetchedPast(k: string, past: bigint): void {
    const t = this.trailing.get(k);
    if ((this.committedTo.get(k) ?? -1n) < past && (!t || t.offset < past))
      this.trailing.set(k, { offset: past, since: Date.now() });
  }

  private committed(topic: string, partition: number, nextOffset: string): void {
    const k = `${topic}:${partition}`;
    const next = BigInt(nextOffset);
    if ((this.committedTo.get(k) ?? -1n) < next) this.committedTo.set(k, next);
    if ((this.trailing.get(k)?.offset ?? next) <= next) this.trailing.delete(k);
  }

  /**
   * Graceful stop: no new fetches, the batch in hand finishes and commits, then disconnect; bounded in time. Every
   * call after the first (or after a fatal error) waits for the same stop.
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (!this.running) return Promise.resolve();
    return (this.stopping = this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.running = false;
    const { log, shutdownTimeoutMs } = this.options;
    clearInterval(this.ticker);
    const work = (async () => {
      await this.consumer.stop();
      await this.admin.disconnect();
      await this.consumer.disconnect();
      await this.producer?.disconnect();
      await Promise.all([...this.txProducers.keys()].map((task) => this.closeTxProducer(task)));
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
      log.info(
        { processed: this.processed },
        this.fatal ? `consumer stopped after ${this.fatal.code}` : 'pipeline stopped cleanly',
      );
    } catch (e) {
      throw toTagstreamError(e);
    }
  }
}

function splitKey(k: string): [string, number] {
  const i = k.lastIndexOf(':');
  return [k.slice(0, i), Number(k.slice(i + 1))];
}
