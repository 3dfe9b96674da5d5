// The Kafka client as tagstream uses it: our own small interfaces (producer, transactional producer, consumer
// group, admin), so that the runtime, sinks, publishers and tools never see a vendor type. The client behind them
// is chosen by `kafka.client` (src/io/kafka/client.ts); kafkajs is the first implementation (kafkajs.ts).

/** A record to produce. `timestamp` in ms (event time; the broker keeps it unless the topic says LogAppendTime). */
export interface ProducedRecord {
  readonly topic: string;
  readonly key: Buffer | string | null;
  readonly value: Buffer | null;
  readonly timestamp?: number;
  /** Set to target a partition (changelogs mirror their source partition); otherwise the key decides. */
  readonly partition?: number;
  readonly headers?: Readonly<Record<string, Buffer | string>>;
}

/** A record as consumed. */
export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** The record's timestamp, ms. */
  readonly timestamp: number;
  readonly headers: Readonly<Record<string, Buffer | undefined>>;
}

export interface PartitionOffset {
  readonly partition: number;
  /** The next offset to read (Kafka's committed-offset convention). */
  readonly offset: string;
}

export interface TopicPartitionOffsets {
  readonly topic: string;
  readonly partitions: readonly PartitionOffset[];
}

export interface ProducerOptions {
  /** Idempotent producer: exactly one copy per record across retries (default false). */
  readonly idempotent?: boolean;
  /** Makes the producer transactional; a restarted producer with the same id fences its predecessor. */
  readonly transactionalId?: string;
  readonly transactionTimeoutMs?: number;
  /** Send retries; `Infinity` retries while the broker is away (the caller bounds the wait). Default 5. */
  readonly retries?: number;
}

export interface KafkaTransaction {
  send(records: readonly ProducedRecord[]): Promise<void>;
  /** Commits the consumer group's offsets in this transaction (atomically with the records sent in it). */
  sendOffsets(groupId: string, offsets: readonly TopicPartitionOffsets[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface KafkaProducer {
  connect(): Promise<void>;
  /** Sends records to any number of topics, acks=all; resolves once every record is acknowledged. */
  send(records: readonly ProducedRecord[]): Promise<void>;
  /** Begins a transaction (transactional producers only). */
  transaction(): Promise<KafkaTransaction>;
  /**
   * Transactional producers: claims the transactional id now (InitProducerId, the Java client's initTransactions).
   * Resolves once the id's previous holder is fenced and its open transaction is over, committed or aborted, with
   * its markers written. kafkajs claims the id only at the first transaction, so what is read before that (the
   * group's committed offsets, a changelog) could still miss a transaction of the previous owner that is finishing.
   */
  initTransactions(): Promise<void>;
  disconnect(): Promise<void>;
}

export interface ConsumerOptions {
  readonly groupId: string;
  /** read_committed (default true): never see records of aborted transactions. */
  readonly readCommitted?: boolean;
  /** How long a fetch may wait for data, ms (the client's default when absent). */
  readonly maxWaitMs?: number;
  /** Bytes a fetch waits for (up to maxWaitMs) before it returns (the client's default of 1 when absent). */
  readonly minBytes?: number;
  /** Retries of the consumer's own requests before it restarts or crashes. */
  readonly retries?: number;
  readonly sessionTimeoutMs?: number;
  /** Most bytes one fetch returns, over all partitions (the client's default when absent). */
  readonly maxBytes?: number;
  /** Most bytes one fetch returns of one partition (the client's default when absent). */
  readonly maxBytesPerPartition?: number;
}

/** One fetched batch of one partition. */
export interface ConsumerBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly ConsumedRecord[];
  /** The partition's log end offset as of this fetch. */
  readonly highWatermark: string;
  /** Records left after this batch (transaction markers accounted for). */
  offsetLag(): string;
}

/** What a batch handler may do while it works. */
export interface BatchControl {
  /** False once the consumer is stopping: finish up and return. */
  isRunning(): boolean;
  /** True when a rebalance made this batch stale (the partition may be someone else's now). */
  isStale(): boolean;
  heartbeat(): Promise<void>;
  /** Marks a record as processed: the consumer moves its position past it. */
  resolveOffset(offset: string): void;
  /** Pauses fetching this partition; call the returned function to resume. */
  pause(): () => void;
}

/** A fetch that ended, records or not (a fetch of only transaction markers reaches no handler, but this). */
export interface FetchEnd {
  readonly topic: string;
  readonly partition: number;
  readonly records: number;
  readonly firstOffset: string | null;
  readonly lastOffset: string;
  readonly offsetLag: string;
}

export interface ConsumerRunOptions {
  eachBatch(batch: ConsumerBatch, control: BatchControl): Promise<void>;
  /** Commit resolved offsets automatically (default false: the handler commits). */
  readonly autoCommit?: boolean;
  /**
   * Resolve the whole batch when the handler returns (default true). False: the handler calls resolveOffset for
   * what it processed, and the next fetch starts after the last resolved record.
   */
  readonly autoResolve?: boolean;
  readonly partitionsConcurrently?: number;
}

export interface KafkaConsumer {
  connect(): Promise<void>;
  subscribe(topics: readonly string[], options?: { fromBeginning?: boolean }): Promise<void>;
  run(options: ConsumerRunOptions): Promise<void>;
  commitOffsets(offsets: readonly TopicPartitionOffsets[]): Promise<void>;
  /** Moves the position of an assigned partition (after run()). */
  seek(topic: string, partition: number, offset: string): void;
  stop(): Promise<void>;
  disconnect(): Promise<void>;
  /** The partitions this member owns after each rebalance (topic -> partitions). */
  onAssignment(listener: (assignment: Readonly<Record<string, readonly number[]>>) => void): void;
  onFetchEnd(listener: (end: FetchEnd) => void): void;
  /** The consumer failed; `restarting` tells whether the client restarts it by itself. */
  onCrash(listener: (error: Error, restarting: boolean) => void): void;
}

export interface TopicSpec {
  readonly topic: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly config?: Readonly<Record<string, string>>;
}

export interface PartitionWatermarks {
  readonly partition: number;
  /** The first offset still in the log. */
  readonly low: string;
  /** The log end offset (next offset to be written). */
  readonly high: string;
}

export interface KafkaAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(): Promise<string[]>;
  createTopics(specs: readonly TopicSpec[]): Promise<void>;
  deleteTopics(topics: readonly string[]): Promise<void>;
  /** Partition counts of the topics (all of them must exist). */
  partitionCounts(topics: readonly string[]): Promise<Map<string, number>>;
  topicOffsets(topic: string): Promise<PartitionWatermarks[]>;
  /** Committed offsets of a group; a partition without a commit has offset "-1". */
  groupOffsets(groupId: string, topics: readonly string[]): Promise<TopicPartitionOffsets[]>;
  deleteGroups(groupIds: readonly string[]): Promise<void>;
  /** Named configuration values of topics (topic -> name -> value). */
  topicConfigs(
    topics: readonly string[],
    names: readonly string[],
  ): Promise<Map<string, Map<string, string>>>;
  /** Number of brokers that answered: a readiness check. */
  brokerCount(): Promise<number>;
}

/** The client: a factory of producers, consumers and admins sharing one configuration. */
export interface KafkaClient {
  /** Which implementation this is (`kafka.client`). */
  readonly implementation: string;
  readonly brokers: readonly string[];
  /**
   * True when its consumers assign partition p of every topic a group reads to the same member (kafkajs.ts
   * taskAssigner): the runner then runs one transaction per task (partition number) instead of one per partition.
   */
  readonly assignsTasks?: boolean;
  producer(options?: ProducerOptions): KafkaProducer;
  consumer(options: ConsumerOptions): KafkaConsumer;
  /** `retries: 0` fails fast (readiness checks); default retries a few times. */
  admin(options?: { retries?: number }): KafkaAdmin;
}
