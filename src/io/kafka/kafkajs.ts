// kafkajs behind our Kafka interfaces (types.ts). The only file that imports kafkajs. Its log lines are library
// chatter (a coordinator still loading, CONCURRENT_TRANSACTIONS retries) and go to our logger at debug level:
// the code that calls the client reports real problems itself, with what to do.
import {
  AssignerProtocol,
  Kafka,
  logLevel,
  type PartitionAssigner,
  type Consumer,
  type ISocketFactory,
  type LogEntry,
  type Producer,
  type Transaction,
} from 'kafkajs';
import type { Logger } from '../../log.ts';
import { flatOffsets, newTopics, offsetsFor, topicMessages, toConsumed } from './records.ts';
import { defaultPartitioner } from './partition.ts';
import {
  kafkajsSecurityOptions,
  scrub,
  scrubDeep,
  secretsOf,
  usesTls,
  type KafkaSecurity,
} from './security.ts';
import { securitySignals, watchedPlainSockets, withSignals, type SecuritySignals } from './signals.ts';
import type {
  ConsumerOptions,
  FetchEnd,
  KafkaAdmin,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransaction,
  ProducerOptions,
} from './types.ts';

export interface KafkajsSettings {
  readonly clientId: string;
  readonly brokers: readonly string[];
  readonly connectTimeoutMs: number;
  readonly log: Logger;
  /** TLS and SASL (security.ts); absent: PLAINTEXT. */
  readonly security?: KafkaSecurity;
}

/** kafkajs ConfigResourceTypes.TOPIC; importing the enum's value fails under ESM (Node's CJS export detection misses it). */
const TOPIC_RESOURCE = 2;

/**
 * The coordinator answers CONCURRENT_TRANSACTIONS while it still writes the previous transaction's markers (a few
 * ms). kafkajs retries it inside sends, but not in sendOffsets' AddOffsetsToTxn, which is the first request of a
 * transaction that only commits offsets (a sink node's batch): retried here, fast, as the Java client does.
 */
async function retryConcurrent<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if ((e as { type?: string }).type !== 'CONCURRENT_TRANSACTIONS' || attempt >= 12) throw e;
      await new Promise((r) => setTimeout(r, Math.min(500, 5 * 2 ** attempt)));
    }
  }
}

function transaction(tx: Transaction): KafkaTransaction {
  return {
    async send(records) {
      if (records.length) await tx.sendBatch({ topicMessages: topicMessages(records), acks: -1 });
    },
    async sendOffsets(groupId, offsets) {
      await retryConcurrent(() => tx.sendOffsets({ consumerGroupId: groupId, topics: offsetsFor(offsets) }));
    },
    commit: () => tx.commit(),
    abort: () => tx.abort(),
  };
}

function producer(kafka: Kafka, options: ProducerOptions): KafkaProducer {
  const retries = options.retries ?? 5;
  const p: Producer = kafka.producer({
    idempotent: options.idempotent ?? options.transactionalId !== undefined,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: defaultPartitioner,
    retry: {
      retries: retries === Infinity ? Number.MAX_SAFE_INTEGER : retries,
      // A transactional producer's first retry is nearly always CONCURRENT_TRANSACTIONS right after a commit,
      // which clears in milliseconds: start small (the waits double up to maxRetryTime for a broker away).
      initialRetryTime: options.transactionalId === undefined ? 200 : 20,
      maxRetryTime: 5_000,
    },
    ...(options.transactionalId === undefined
      ? {}
      : {
          transactionalId: options.transactionalId,
          transactionTimeout: options.transactionTimeoutMs ?? 30_000,
        }),
  });
  return {
    connect: () => p.connect(),
    async send(records) {
      if (records.length) await p.sendBatch({ topicMessages: topicMessages(records), acks: -1 });
    },
    async transaction() {
      return transaction(await p.transaction());
    },
    // kafkajs's connect asks for an idempotent producer id only; the transactional one (which fences the id's previous
    // holder and waits out its open transaction) comes with the first transaction. An empty one aborts locally.
    async initTransactions() {
      await (await p.transaction()).abort();
    },
    disconnect: () => p.disconnect(),
  };
}

/**
 * Assigns by partition number: partition p of every topic the group reads goes to the same member (the members in
 * turn, by member id), so that a task — partition p of each source topic — is never split (the runner's
 * transactional producer per task relies on it: KafkaClient.assignsTasks). kafkajs's own RoundRobinAssigner deals
 * partitions out one by one across topics. Written here because kafkajs has no range assignor; as its round robin,
 * it assumes every member reads the same topics (true of a group running one topology).
 */
export function taskAssignment(
  memberIds: readonly string[],
  partitions: ReadonlyMap<string, readonly number[]>,
): Map<string, Record<string, number[]>> {
  const members = [...memberIds].sort();
  const out = new Map<string, Record<string, number[]>>(members.map((m) => [m, {}]));
  const numbers = [...new Set([...partitions.values()].flat())].sort((a, b) => a - b);
  const owner = new Map(numbers.map((p, i) => [p, members[i % members.length]!]));
  for (const [topic, ps] of partitions)
    for (const p of [...ps].sort((a, b) => a - b)) {
      const member = out.get(owner.get(p)!)!;
      (member[topic] ??= []).push(p);
    }
  return out;
}

const TASK_ASSIGNER = 'TagstreamTaskAssigner';

const taskAssigner: PartitionAssigner = ({ cluster }) => ({
  name: TASK_ASSIGNER,
  version: 0,
  async assign({ members, topics }) {
    const partitions = new Map<string, number[]>(
      topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((m) => m.partitionId)]),
    );
    const assignment = taskAssignment(
      members.map((m) => m.memberId),
      partitions,
    );
    return [...assignment].map(([memberId, a]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: a,
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: TASK_ASSIGNER,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    };
  },
});

function consumer(kafka: Kafka, options: ConsumerOptions): KafkaConsumer {
  const c: Consumer = kafka.consumer({
    groupId: options.groupId,
    partitionAssigners: [taskAssigner],
    readUncommitted: options.readCommitted === false,
    allowAutoTopicCreation: false,
    ...(options.maxWaitMs === undefined ? {} : { maxWaitTimeInMs: options.maxWaitMs }),
    ...(options.minBytes === undefined ? {} : { minBytes: options.minBytes }),
    ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeout: options.sessionTimeoutMs }),
    ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    ...(options.maxBytesPerPartition === undefined
      ? {}
      : { maxBytesPerPartition: options.maxBytesPerPartition }),
    ...(options.retries === undefined
      ? {}
      : { retry: { retries: options.retries, initialRetryTime: 300, maxRetryTime: 10_000 } }),
  });
  return {
    connect: () => c.connect(),
    subscribe: (topics, opts) =>
      c.subscribe({ topics: [...topics], fromBeginning: opts?.fromBeginning ?? false }),
    async run(opts) {
      await c.run({
        autoCommit: opts.autoCommit ?? false,
        eachBatchAutoResolve: opts.autoResolve ?? true,
        ...(opts.partitionsConcurrently === undefined
          ? {}
          : { partitionsConsumedConcurrently: opts.partitionsConcurrently }),
        eachBatch: async ({ batch, isRunning, isStale, heartbeat, resolveOffset, pause }) => {
          const records = batch.messages.map((m) => toConsumed(batch.topic, batch.partition, m));
          await opts.eachBatch(
            {
              topic: batch.topic,
              partition: batch.partition,
              records,
              highWatermark: batch.highWatermark,
              offsetLag: () => batch.offsetLag(),
            },
            { isRunning, isStale, heartbeat, resolveOffset, pause },
          );
        },
      });
    },
    commitOffsets: (offsets) => c.commitOffsets(flatOffsets(offsets)),
    seek: (topic, partition, offset) => c.seek({ topic, partition, offset }),
    stop: () => c.stop(),
    disconnect: () => c.disconnect(),
    onAssignment(listener) {
      c.on(c.events.GROUP_JOIN, (event) =>
        listener((event.payload as { memberAssignment: Record<string, number[]> }).memberAssignment),
      );
    },
    onFetchEnd(listener) {
      c.on(c.events.END_BATCH_PROCESS, ({ payload }) => listener(fetchEndOf(payload)));
    },
    onCrash(listener) {
      c.on(c.events.CRASH, ({ payload }) =>
        listener(payload.error, (payload as { restart?: boolean }).restart ?? false),
      );
    },
  };
}

/**
 * What kafkajs's END_BATCH_PROCESS event says of a fetch (the fields FetchEnd reads). Not kafkajs's own
 * ConsumerEndBatchProcessEvent payload type: that one says `firstOffset` is never null, and null is the case below.
 */
export interface KafkajsBatchEnd {
  readonly topic: string;
  readonly partition: number;
  readonly batchSize: number;
  readonly firstOffset: string | null;
  readonly lastOffset: string;
  readonly offsetLag: string;
}

/**
 * A fetch's end as FetchEnd says it: `lastOffset` is the last offset the fetch covered. kafkajs reports the fetch
 * offset itself there when every record the broker returned lay below it (its isEmptyDueToLogCompactedMessages: a
 * batch of a compacted topic that ends before the fetch offset), an offset the fetch never reached; taken as covered,
 * a commit past it would skip the record there. That case is the only one without a first offset.
 */
export function fetchEndOf(e: KafkajsBatchEnd): FetchEnd {
  const belowFetchOffset = e.batchSize === 0 && e.firstOffset === null;
  return {
    topic: e.topic,
    partition: e.partition,
    records: e.batchSize,
    firstOffset: e.firstOffset,
    lastOffset: belowFetchOffset ? (BigInt(e.lastOffset) - 1n).toString() : e.lastOffset,
    offsetLag: belowFetchOffset ? (BigInt(e.offsetLag) + 1n).toString() : e.offsetLag,
  };
}

function admin(kafka: Kafka, retries: number | undefined): KafkaAdmin {
  const a = kafka.admin(retries === undefined ? {} : { retry: { retries } });
  return {
    connect: () => a.connect(),
    disconnect: () => a.disconnect(),
    listTopics: () => a.listTopics(),
    async createTopics(specs) {
      await a.createTopics({
        waitForLeaders: true,
        topics: newTopics(specs),
      });
    },
    async deleteTopics(topics) {
      if (topics.length) await a.deleteTopics({ topics: [...topics] });
    },
    async partitionCounts(topics) {
      const { topics: meta } = await a.fetchTopicMetadata({ topics: [...topics] });
      return new Map(meta.map((t) => [t.name, t.partitions.length]));
    },
    async topicOffsets(topic) {
      return (await a.fetchTopicOffsets(topic)).map((o) => ({
        partition: o.partition,
        low: o.low,
        high: o.high,
      }));
    },
    async groupOffsets(groupId, topics) {
      return offsetsFor(await a.fetchOffsets({ groupId, topics: [...topics] }));
    },
    async deleteGroups(groupIds) {
      if (groupIds.length) await a.deleteGroups([...groupIds]);
    },
    async topicConfigs(topics, names) {
      const described = await a.describeConfigs({
        includeSynonyms: false,
        resources: topics.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: [...names] })),
      });
      return new Map(
        described.resources.map((r) => [
          r.resourceName,
          new Map(r.configEntries.map((e) => [e.configName, e.configValue] as [string, string])),
        ]),
      );
    },
    async brokerCount() {
      return (await a.describeCluster()).brokers.length;
    },
  };
}

/**
 * The kafkajs instance of these settings (the ACL tool in acls.ts builds its admin from it too). A plaintext client's
 * sockets are watched for a TLS listener (signals.ts), which kafkajs would only retry.
 */
export function kafkajsInstance(settings: KafkajsSettings, signals?: SecuritySignals): Kafka {
  process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
  const log = settings.log;
  const secrets = secretsOf(settings.security);
  return new Kafka({
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    connectionTimeout: settings.connectTimeoutMs,
    ...kafkajsSecurityOptions(settings.security),
    ...(signals && !usesTls(settings.security)
      ? { socketFactory: watchedPlainSockets(signals) as unknown as ISocketFactory }
      : {}),
    // Its INFO lines (joined a group, ...) are worth a look when debugging; its DEBUG lines are every request.
    logLevel: log.isLevelEnabled('debug') ? logLevel.INFO : logLevel.NOTHING,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        // No secret reaches a log line, whatever a library message might quote.
        log.debug(
          { kafkajs: scrubDeep(rest, secrets), kafkajsLevel: logLevel[level] },
          scrub(message, secrets),
        );
      },
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
  });
}

export function kafkajsClient(settings: KafkajsSettings): KafkaClient {
  const signals = securitySignals();
  const kafka = kafkajsInstance(settings, signals);
  return withSignals<KafkaClient>(
    {
      implementation: 'kafkajs',
      brokers: settings.brokers,
      assignsTasks: true,
      producer: (options = {}) => producer(kafka, options),
      consumer: (options) => consumer(kafka, options),
      admin: (options = {}) => admin(kafka, options.retries),
    },
    signals,
  );
}
