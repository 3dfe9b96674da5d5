// @confluentinc/kafka-javascript (librdkafka) behind our Kafka interfaces (types.ts), through its KafkaJS-compatible
// API. The package is optional: it builds librdkafka natively and needs Debian's -dev packages, so it is not a
// dependency of package.json (a failed native build must never break `npm ci`); `npm run clients -- install`
// installs it into a cache directory, and this file loads it from there (or from node_modules) at run time.
// Only the small part of its API used here is declared below, so the typecheck passes without the package.
//
// Where it behaves differently from kafkajs.ts, and what is done about it:
// - No consumer events (on() throws): onAssignment comes from a rebalance callback (an eager assignor, so each
//   assignment is the member's whole assignment, as kafkajs's GROUP_JOIN); a failed batch handler is handed the
//   batch again after a backoff kept here, and onCrash (restarting) fires after `retries` failures in a row, as
//   kafkajs's does; librdkafka's fatal errors are reported as not restarting.
// - No per-fetch event: onFetchEnd fires after each handled batch (records > 0) and, for a fetch that ends on
//   transaction markers only, from librdkafka's end-of-partition event (enable.partition.eof), once every record
//   delivered before it was handled; it reports the partition caught up (offsetLag 0, lastOffset = end - 1).
//   After seek(), a partition's end-of-partition events are ignored until the seek has reached librdkafka.
// - No stop(): stop() makes isRunning() false, waits for the handlers in progress and pauses the assignment;
//   disconnect() leaves the group.
// - fromBeginning and autoCommit are per consumer, not per subscribe/run: the library consumer is created by
//   subscribe() (connect() only records the call); autoCommit commits the resolved offsets after each batch.
// - pause() inside a handler would make the batch stale (the library refetches it): the handler that waits for room
//   already holds its partition's worker, so pause() is a no-op here.
// - heartbeat() is a no-op (librdkafka heartbeats by itself).
// - sendOffsets wants the consumer object: this client keeps groupId -> the consumer it created (KIP-447: the
//   commit carries the member's generation, so a zombie's commit is fenced); for a group without a consumer here
//   (the DLQ's cursor groups) a consumer of that group is connected, unsubscribed, for the transaction.
// - Admin: no describeConfigs / describeCluster in the library: topicConfigs and brokerCount use a kafkajs admin.
// - librdkafka's log lines go to our logger at debug level, as kafkajs's do.
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TagstreamError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { kafkajsClient, type KafkajsSettings } from './kafkajs.ts';
import {
  classifySecurityError,
  librdkafkaSecurityOptions,
  scrub,
  scrubDeep,
  secretsOf,
  usesTls,
} from './security.ts';
import { securitySignals, tlsListenerCheck, withSignals, type SecuritySignals } from './signals.ts';
import {
  byTopic,
  flatOffsets,
  newTopics,
  offsetsFor,
  topicMessages,
  toConsumed,
  type ClientFetchedMessage,
  type ClientMessage,
} from './records.ts';
import type {
  BatchControl,
  ConsumerOptions,
  ConsumerRunOptions,
  FetchEnd,
  KafkaAdmin,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransaction,
  ProducerOptions,
} from './types.ts';

/** The package and the version `npm run clients -- install` installs. */
export const CONFLUENT_PACKAGE = '@confluentinc/kafka-javascript';
export const CONFLUENT_VERSION = '1.10.1';
/** Debian packages its native build (librdkafka linked dynamically) needs. */
export const CONFLUENT_APT_PACKAGES = [
  'zlib1g-dev',
  'libssl-dev',
  'libzstd-dev',
  'liblz4-dev',
  'libsasl2-dev',
];

/** Where `npm run clients -- install` puts optional clients: TAGSTREAM_CLIENTS_DIR, else ~/.cache/tagstream/clients. */
export function clientsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['TAGSTREAM_CLIENTS_DIR'] || join(homedir(), '.cache', 'tagstream', 'clients');
}

// --- The part of the library's API used here ---------------------------------------------------------------

interface CkError {
  readonly name: string;
  readonly message: string;
  readonly code: number;
  readonly fatal?: boolean;
}

interface CkLogger {
  info(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
  warn(message: string, extra?: object): void;
  debug(message: string, extra?: object): void;
  namespace(namespace: string): CkLogger;
  setLogLevel(level: number): void;
}

interface CkTopicPartition {
  readonly topic: string;
  readonly partition: number;
}

interface CkBatchPayload {
  readonly batch: {
    readonly topic: string;
    readonly partition: number;
    readonly highWatermark: string;
    readonly messages: readonly ClientFetchedMessage[];
    offsetLag(): string;
  };
  isRunning(): boolean;
  isStale(): boolean;
  resolveOffset(offset: string): void;
}

interface CkInternalConsumer {
  on(event: 'data', listener: (m: { topic: string; partition: number; offset: number }) => void): void;
  on(
    event: 'partition.eof',
    listener: (e: { topic: string; partition: number; offset: number }) => void,
  ): void;
  on(event: 'event.error', listener: (e: CkError) => void): void;
  seek(
    tpo: { topic: string; partition: number; offset: number },
    timeout: number,
    cb: (err: unknown) => void,
  ): void;
}

interface CkConsumer {
  connect(): Promise<void>;
  subscribe(s: { topics: string[] }): Promise<void>;
  run(config: {
    eachBatch(payload: CkBatchPayload): Promise<void>;
    eachBatchAutoResolve: boolean;
    partitionsConsumedConcurrently: number;
  }): Promise<void>;
  commitOffsets(offsets?: Array<{ topic: string; partition: number; offset: string }>): Promise<void>;
  seek(tpo: { topic: string; partition: number; offset: string }): void;
  pause(topics: Array<{ topic: string; partitions?: number[] }>): unknown;
  assignment(): CkTopicPartition[];
  disconnect(): Promise<void>;
  _getInternalClient(): CkInternalConsumer | null;
}

interface CkProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  sendBatch(o: { topicMessages: Array<{ topic: string; messages: ClientMessage[] }> }): Promise<unknown>;
  transaction(): Promise<CkProducer>;
  sendOffsets(o: {
    consumer: CkConsumer;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>;
  }): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

interface CkAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(o?: { timeout?: number }): Promise<string[]>;
  createTopics(o: {
    topics: Array<{
      topic: string;
      numPartitions: number;
      replicationFactor: number;
      configEntries: Array<{ name: string; value: string }>;
    }>;
    timeout?: number;
  }): Promise<boolean>;
  deleteTopics(o: { topics: string[]; timeout?: number }): Promise<unknown>;
  fetchTopicMetadata(o: {
    topics: string[];
    timeout?: number;
  }): Promise<Array<{ name: string; partitions: unknown[] }>>;
  fetchTopicOffsets(
    topic: string,
    o?: { timeout?: number },
  ): Promise<Array<{ partition: number; low: string; high: string }>>;
  fetchOffsets(o: {
    groupId: string;
    topics: Array<{ topic: string; partitions: number[] }>;
    timeout?: number;
  }): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
  deleteGroups(groupIds: string[], o?: { timeout?: number }): Promise<unknown>;
}

type Config = Record<string, unknown>;

interface CkKafka {
  producer(config: Config): CkProducer;
  consumer(config: Config): CkConsumer;
  admin(config?: Config): CkAdmin;
}

interface CkModule {
  readonly librdkafkaVersion: string;
  readonly KafkaJS: { Kafka: new (config: Config) => CkKafka };
}

// --- Loading -------------------------------------------------------------------------------------------------

export const CONFLUENT_INSTALL_HINT =
  `install it with \`npm run clients -- install\` (it builds librdkafka; on Debian first ` +
  `\`apt-get install -y ${CONFLUENT_APT_PACKAGES.join(' ')}\`)`;

let loaded: { module: CkModule; from: string } | undefined;

/** The library from the clients cache directory, else from node_modules; undefined when it is not installed. */
export function loadConfluent(
  env: NodeJS.ProcessEnv = process.env,
): { module: CkModule; from: string } | undefined {
  if (loaded) return loaded;
  const roots = [join(clientsDir(env), 'package.json'), import.meta.url];
  for (const root of roots) {
    const require = createRequire(root);
    let path: string;
    try {
      path = require.resolve(CONFLUENT_PACKAGE);
    } catch {
      continue;
    }
    // Found but failing to load (a broken native build) is an error worth its own message, not "not installed".
    try {
      loaded = { module: require(path) as CkModule, from: path };
    } catch (e) {
      throw new TagstreamError(
        'CONFIG_INVALID',
        `kafka.client is confluent, but ${CONFLUENT_PACKAGE} at ${path} does not load (${(e as Error).message}): ` +
          `re-${CONFLUENT_INSTALL_HINT.replace(/^install/, 'install')}`,
        { cause: e },
      );
    }
    return loaded;
  }
  return undefined;
}

function requireConfluent(): CkModule {
  const found = loadConfluent();
  if (!found)
    throw new TagstreamError(
      'CONFIG_INVALID',
      `kafka.client is confluent, but ${CONFLUENT_PACKAGE} is not installed: ${CONFLUENT_INSTALL_HINT}`,
    );
  return found.module;
}

// --- Helpers -------------------------------------------------------------------------------------------------

const ASSIGN_PARTITIONS = -175;
const MAX_INT32 = 2_147_483_647;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** librdkafka's log lines, through the library's logger interface, to ours at debug level, secrets scrubbed. */
function ckLogger(
  log: Logger,
  secrets: readonly string[],
  signals: SecuritySignals,
  plaintext: boolean,
): CkLogger {
  const checkTls = tlsListenerCheck(signals);
  const line = (level: string) => (message: string, extra?: object) => {
    log.debug({ librdkafka: scrubDeep(extra, secrets), librdkafkaLevel: level }, scrub(message, secrets));
    // librdkafka logs a refused login, a failed handshake or a missing ACL at once, long before the call waiting
    // on the broker times out: guarded.ts fails that call with it (and a consumer of a topic it may not read).
    if (level === 'error' || level === 'warn') {
      const signal = securitySignal(message);
      if (signal) signals.emit(signal);
    }
    // A TLS listener closes a plaintext connection at its first request (librdkafka: "Disconnected ... in state
    // APIVERSION_QUERY"), which librdkafka retries until its timeout: is the listener speaking TLS?
    const closed = plaintext ? /\s([^\s/]+):(\d+)\/\S+: Disconnected.*APIVERSION_QUERY/.exec(message) : null;
    if (closed) checkTls(closed[1]!, Number(closed[2]));
  };
  const logger: CkLogger = {
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    debug: line('debug'),
    namespace: () => logger,
    setLogLevel: () => undefined,
  };
  return logger;
}

/** A librdkafka log line that describes a security failure, as an error for the signals; undefined otherwise. */
export function securitySignal(message: string): (Error & { topic?: string }) | undefined {
  const failure = classifySecurityError({ message });
  if (!failure) return undefined;
  // A line that merely mentions TLS (a configuration warning) fails nothing: only a failed handshake does.
  if (failure.kind === 'tls' && !/SSL handshake failed|certificate verify failed|SSL routines/i.test(message))
    return undefined;
  const topic = /topic not available: ([^:\s]+)/i.exec(message)?.[1];
  return Object.assign(new Error(message), topic === undefined ? {} : { topic });
}

/** Progress of one partition, to tell when an end-of-partition event means "everything before it was handled". */
interface PartitionProgress {
  /** Offset after the last record librdkafka delivered. */
  delivered?: number;
  /** Offset after the last record a handler finished with. */
  handled?: number;
  /** An end-of-partition offset waiting for the handler to catch up. */
  eof?: number;
  /** A seek() not yet applied by librdkafka: end-of-partition events still describe the old position. */
  seeking?: boolean;
}

// --- Consumer ------------------------------------------------------------------------------------------------

class ConfluentConsumer implements KafkaConsumer {
  private inner: CkConsumer | undefined;
  private readonly assignmentListeners: Array<(a: Readonly<Record<string, readonly number[]>>) => void> = [];
  private readonly fetchEndListeners: Array<(e: FetchEnd) => void> = [];
  private readonly crashListeners: Array<(e: Error, restarting: boolean) => void> = [];
  private readonly progress = new Map<string, PartitionProgress>();
  private readonly active = new Set<Promise<void>>();
  private stopped = false;
  private failures = 0;
  private autoCommit = false;

  constructor(
    private readonly kafka: CkKafka,
    private readonly options: ConsumerOptions,
    private readonly registry: Map<string, CkConsumer>,
  ) {}

  /** The library consumer; created by subscribe(), which knows fromBeginning. */
  get library(): CkConsumer | undefined {
    return this.inner;
  }

  async connect(): Promise<void> {
    // The library takes fromBeginning when the consumer is created: subscribe() creates and connects it.
  }

  async subscribe(topics: readonly string[], opts?: { fromBeginning?: boolean }): Promise<void> {
    const o = this.options;
    const c = this.kafka.consumer({
      kafkaJS: {
        groupId: o.groupId,
        fromBeginning: opts?.fromBeginning ?? false,
        autoCommit: false,
        readUncommitted: o.readCommitted === false,
        allowAutoTopicCreation: false,
        ...(o.maxWaitMs === undefined ? {} : { maxWaitTimeInMs: o.maxWaitMs }),
        ...(o.sessionTimeoutMs === undefined ? {} : { sessionTimeout: o.sessionTimeoutMs }),
      },
      'enable.partition.eof': true,
      ...(o.maxBytes === undefined ? {} : { 'fetch.max.bytes': o.maxBytes }),
      ...(o.minBytes === undefined ? {} : { 'fetch.min.bytes': o.minBytes }),
      ...(o.maxBytesPerPartition === undefined
        ? {}
        : { 'max.partition.fetch.bytes': o.maxBytesPerPartition }),
      // Batches as large as kafkajs's (one fetch of a partition), not the library's default of 32 records.
      'js.consumer.max.batch.size': 10_000,
      rebalance_cb: (err: { code: number }, assignment: CkTopicPartition[]) =>
        this.rebalanced(err.code, assignment),
    });
    await c.connect();
    const internal = c._getInternalClient();
    if (internal) this.watch(internal);
    this.inner = c;
    this.registry.set(o.groupId, c);
    await c.subscribe({ topics: [...topics] });
  }

  private key(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`;
  }

  private state(topic: string, partition: number): PartitionProgress {
    const k = this.key(topic, partition);
    let s = this.progress.get(k);
    if (!s) this.progress.set(k, (s = {}));
    return s;
  }

  private rebalanced(code: number, assignment: CkTopicPartition[]): void {
    if (code !== ASSIGN_PARTITIONS) return;
    // Eager assignor: the previous assignment is gone (and the library cleared its cache); seeks asked for before
    // the assignment are applied by the library with it.
    for (const tp of assignment) {
      const s = this.state(tp.topic, tp.partition);
      const seekTo = s.seeking ? s.handled : undefined;
      this.progress.set(
        this.key(tp.topic, tp.partition),
        seekTo === undefined ? {} : { handled: seekTo, delivered: seekTo },
      );
    }
    const byT = byTopic(assignment);
    for (const l of this.assignmentListeners) l(byT);
  }

  /** Follows librdkafka's deliveries, end-of-partition events, seeks and fatal errors. */
  private watch(internal: CkInternalConsumer): void {
    internal.on('data', (m) => {
      this.state(m.topic, m.partition).delivered = m.offset + 1;
    });
    internal.on('partition.eof', (e) => {
      const s = this.state(e.topic, e.partition);
      if (s.seeking) return;
      s.eof = e.offset;
      this.caughtUp(e.topic, e.partition);
    });
    internal.on('event.error', (e) => {
      if (e.fatal) for (const l of this.crashListeners) l(e as unknown as Error, false);
    });
    // Every seek reaches librdkafka here (ours, and the library's own after a pause or an unfinished batch): the
    // partition restarts at that offset, and what was delivered before it is dropped.
    const seek = internal.seek.bind(internal);
    internal.seek = (tpo, timeout, cb) => {
      this.progress.set(this.key(tpo.topic, tpo.partition), { delivered: tpo.offset, handled: tpo.offset });
      seek(tpo, timeout, cb);
    };
  }

  /** Reports a pending end of partition once every record delivered before it has been handled. */
  private caughtUp(topic: string, partition: number): void {
    const s = this.state(topic, partition);
    if (s.eof === undefined) return;
    if (s.delivered !== undefined && (s.handled ?? -1) < s.delivered) return;
    const end = s.eof;
    delete s.eof;
    const from = s.handled ?? end;
    this.emitFetchEnd({
      topic,
      partition,
      records: 0,
      firstOffset: String(Math.min(from, end)),
      lastOffset: String(end - 1),
      offsetLag: '0',
    });
  }

  private emitFetchEnd(end: FetchEnd): void {
    for (const l of this.fetchEndListeners) l(end);
  }

  async run(opts: ConsumerRunOptions): Promise<void> {
    const c = this.inner;
    if (!c) throw new Error('confluent consumer: subscribe() before run()');
    this.autoCommit = opts.autoCommit ?? false;
    const autoResolve = opts.autoResolve ?? true;
    await c.run({
      eachBatchAutoResolve: autoResolve,
      partitionsConsumedConcurrently: opts.partitionsConcurrently ?? 1,
      eachBatch: (payload) => {
        const work = this.handle(payload, opts, autoResolve);
        this.active.add(work);
        return work.finally(() => this.active.delete(work));
      },
    });
  }

  private async handle(
    payload: CkBatchPayload,
    opts: ConsumerRunOptions,
    autoResolve: boolean,
  ): Promise<void> {
    const { batch } = payload;
    if (this.stopped) {
      // Nothing resolved: the library seeks back, and the next consumer of the group starts here.
      await sleep(100);
      return;
    }
    const records = batch.messages.map((m) => toConsumed(batch.topic, batch.partition, m));
    let resolved: number | undefined;
    const control: BatchControl = {
      isRunning: () => !this.stopped && payload.isRunning(),
      isStale: () => payload.isStale(),
      heartbeat: async () => undefined,
      resolveOffset: (offset) => {
        resolved = Number(offset) + 1;
        payload.resolveOffset(offset);
      },
      pause: () => () => undefined,
    };
    try {
      await opts.eachBatch(
        {
          topic: batch.topic,
          partition: batch.partition,
          records,
          highWatermark: batch.highWatermark,
          offsetLag: () => batch.offsetLag(),
        },
        control,
      );
      this.failures = 0;
    } catch (e) {
      // kafkajs retries a failed handler with backoff and reports a crash (restarting) once its retries are spent;
      // the library seeks back and hands the batch over again at once: the backoff and the report are kept here.
      this.failures++;
      if (this.failures > (this.options.retries ?? 5)) {
        this.failures = 0;
        for (const l of this.crashListeners) l(e as Error, true);
      }
      await sleep(Math.min(10_000, 300 * 2 ** Math.min(this.failures, 6)));
      throw e;
    }
    const last = records[records.length - 1];
    if (autoResolve && last && !payload.isStale()) resolved = Number(last.offset) + 1;
    if (this.autoCommit && resolved !== undefined && this.inner) await this.inner.commitOffsets();
    const s = this.state(batch.topic, batch.partition);
    if (resolved !== undefined && !payload.isStale()) s.handled = resolved;
    if (last)
      this.emitFetchEnd({
        topic: batch.topic,
        partition: batch.partition,
        records: records.length,
        firstOffset: records[0]?.offset ?? null,
        lastOffset: last.offset,
        offsetLag: batch.offsetLag(),
      });
    this.caughtUp(batch.topic, batch.partition);
  }

  async commitOffsets(offsets: Parameters<KafkaConsumer['commitOffsets']>[0]): Promise<void> {
    if (!this.inner) throw new Error('confluent consumer: not subscribed');
    await this.inner.commitOffsets(flatOffsets(offsets));
  }

  seek(topic: string, partition: number, offset: string): void {
    if (!this.inner) throw new Error('confluent consumer: not subscribed');
    this.progress.set(this.key(topic, partition), { seeking: true, handled: Number(offset) });
    this.inner.seek({ topic, partition, offset });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.active]);
    try {
      const assigned = this.inner?.assignment() ?? [];
      if (assigned.length)
        this.inner?.pause(
          Object.entries(byTopic(assigned)).map(([topic, partitions]) => ({ topic, partitions })),
        );
    } catch {
      // not connected (any more): nothing fetches
    }
  }

  async disconnect(): Promise<void> {
    this.stopped = true;
    const c = this.inner;
    if (!c) return;
    if (this.registry.get(this.options.groupId) === c) this.registry.delete(this.options.groupId);
    await c.disconnect();
  }

  onAssignment(listener: (assignment: Readonly<Record<string, readonly number[]>>) => void): void {
    this.assignmentListeners.push(listener);
  }

  onFetchEnd(listener: (end: FetchEnd) => void): void {
    this.fetchEndListeners.push(listener);
  }

  onCrash(listener: (error: Error, restarting: boolean) => void): void {
    this.crashListeners.push(listener);
  }
}

// --- Producer ------------------------------------------------------------------------------------------------

function producer(
  kafka: CkKafka,
  options: ProducerOptions,
  consumers: Map<string, CkConsumer>,
): KafkaProducer {
  const retries = options.retries ?? 5;
  const transactional = options.transactionalId !== undefined;
  const p = kafka.producer({
    kafkaJS: {
      idempotent: options.idempotent ?? transactional,
      acks: -1,
      allowAutoTopicCreation: false,
      retry: { retries: retries === Infinity ? MAX_INT32 : retries },
      ...(transactional
        ? {
            transactionalId: options.transactionalId,
            transactionTimeout: options.transactionTimeoutMs ?? 30_000,
          }
        : {}),
    },
    // A send resolves on acknowledgement: a long linger only delays every awaited send.
    'linger.ms': 2,
  });

  /** The consumer whose group metadata sendOffsets needs; a bare member of the group when this client has none. */
  async function groupConsumer(groupId: string, helpers: CkConsumer[]): Promise<CkConsumer> {
    const own = consumers.get(groupId);
    if (own) return own;
    const c = kafka.consumer({ kafkaJS: { groupId, autoCommit: false } });
    await c.connect();
    helpers.push(c);
    return c;
  }

  function transaction(tx: CkProducer): KafkaTransaction {
    const helpers: CkConsumer[] = [];
    const release = async () => {
      await Promise.allSettled(helpers.splice(0).map((c) => c.disconnect()));
    };
    return {
      async send(records) {
        if (records.length) await tx.sendBatch({ topicMessages: topicMessages(records) });
      },
      async sendOffsets(groupId, offsets) {
        const consumer = await groupConsumer(groupId, helpers);
        await tx.sendOffsets({ consumer, topics: offsetsFor(offsets) });
      },
      commit: () => tx.commit().finally(release),
      abort: () => tx.abort().finally(release),
    };
  }

  return {
    connect: () => p.connect(),
    async send(records) {
      if (records.length) await p.sendBatch({ topicMessages: topicMessages(records) });
    },
    async transaction() {
      return transaction(await p.transaction());
    },
    // The first transaction runs init_transactions if connect has not; an empty one ends without a request.
    async initTransactions() {
      await (await p.transaction()).abort();
    },
    disconnect: () => p.disconnect(),
  };
}

// --- Admin ---------------------------------------------------------------------------------------------------

/** Broker errors that clear by themselves (a topic created a moment ago, a coordinator moving). */
const TRANSIENT = new Set([
  'ERR_UNKNOWN_TOPIC_OR_PART',
  'ERR_LEADER_NOT_AVAILABLE',
  'ERR_NOT_LEADER_FOR_PARTITION',
  'ERR_COORDINATOR_LOAD_IN_PROGRESS',
  'ERR_COORDINATOR_NOT_AVAILABLE',
  'ERR_NOT_COORDINATOR',
]);

/**
 * Unwraps the library's aggregate error (createTopics) to its first error, which carries the code, and marks
 * transient broker errors `retriable` (librdkafka marks only transactional ones): retryRetriable reads that flag.
 */
async function unwrap<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const first = ((e as { errors?: unknown[] }).errors?.[0] ?? e) as { type?: string; retriable?: boolean };
    if (typeof first === 'object' && TRANSIENT.has(first.type ?? '')) first.retriable = true;
    throw first;
  }
}

/** A partition as the library describes it: leader -1 until one is elected. */
const hasLeader = (p: unknown) => ((p as { leader?: number }).leader ?? -1) >= 0;

function admin(kafka: CkKafka, fallback: () => KafkaAdmin, timeoutMs: number): KafkaAdmin {
  const a = kafka.admin();
  let other: KafkaAdmin | undefined;
  const kafkajsAdmin = async () => {
    if (!other) {
      other = fallback();
      await other.connect();
    }
    return other;
  };
  const timeout = { timeout: timeoutMs };
  const partitionCounts = async (topics: readonly string[]) => {
    const meta = await unwrap(a.fetchTopicMetadata({ topics: [...topics], ...timeout }));
    return new Map(meta.map((t) => [t.name, t.partitions.length]));
  };
  return {
    connect: () => a.connect(),
    async disconnect() {
      await Promise.allSettled([a.disconnect(), other?.disconnect()]);
      other = undefined;
    },
    listTopics: () => a.listTopics(timeout),
    async createTopics(specs) {
      await unwrap(a.createTopics({ ...timeout, topics: newTopics(specs) }));
      // As kafkajs's waitForLeaders: a topic is usable once every partition of it has a leader.
      const topics = specs.map((s) => s.topic);
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const meta = await a.fetchTopicMetadata({ topics, ...timeout }).catch(() => undefined);
        if (meta?.length === topics.length && meta.every((t) => t.partitions.every(hasLeader))) return;
        await sleep(50);
      }
    },
    async deleteTopics(topics) {
      if (topics.length) await a.deleteTopics({ topics: [...topics], ...timeout });
    },
    partitionCounts,
    async topicOffsets(topic) {
      // librdkafka answers -1 for a partition whose leader cannot list offsets yet (just after the topic was
      // created, or during a leader change) where kafkajs retries the error: ask again until the deadline.
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = await a.fetchTopicOffsets(topic, { ...timeout });
        const unknown = got.filter((o) => Number(o.low) < 0 || Number(o.high) < 0).map((o) => o.partition);
        if (!unknown.length) return got.map((o) => ({ partition: o.partition, low: o.low, high: o.high }));
        if (Date.now() >= deadline)
          throw new TagstreamError(
            'KAFKA_UNAVAILABLE',
            `${topic}: no offsets for partition(s) ${unknown.join(', ')} after ${timeoutMs} ms (no leader ready): ` +
              'check the brokers (npm run stack -- status)',
          );
        await sleep(50);
      }
    },
    async groupOffsets(groupId, topics) {
      // Asked per partition, so that partitions without a commit are listed too (as kafkajs lists them).
      const counts = await partitionCounts(topics);
      const got = await a.fetchOffsets({
        groupId,
        topics: topics.map((topic) => ({
          topic,
          partitions: Array.from({ length: counts.get(topic) ?? 0 }, (_, i) => i),
        })),
        ...timeout,
      });
      return got.map((t) => ({
        topic: t.topic,
        partitions: t.partitions.map((p) => ({
          partition: p.partition,
          // librdkafka's OFFSET_INVALID (-1001) for "no commit"; ours is kafkajs's -1.
          offset: Number(p.offset) < 0 ? '-1' : p.offset,
        })),
      }));
    },
    async deleteGroups(groupIds) {
      if (groupIds.length) await a.deleteGroups([...groupIds], timeout);
    },
    topicConfigs: async (topics, names) => (await kafkajsAdmin()).topicConfigs(topics, names),
    brokerCount: async () => (await kafkajsAdmin()).brokerCount(),
  };
}

// --- Client --------------------------------------------------------------------------------------------------

export type ConfluentSettings = KafkajsSettings;

/** The librdkafka version of the installed package, or undefined when it is not installed. */
export function confluentVersion(): string | undefined {
  return loadConfluent()?.module.librdkafkaVersion;
}

export function confluentClient(settings: ConfluentSettings): KafkaClient {
  const { KafkaJS } = requireConfluent();
  const signals = securitySignals();
  const kafka = new KafkaJS.Kafka({
    kafkaJS: {
      clientId: settings.clientId,
      brokers: [...settings.brokers],
      connectionTimeout: settings.connectTimeoutMs,
      logger: ckLogger(settings.log, secretsOf(settings.security), signals, !usesTls(settings.security)),
    },
    // TLS and SASL as librdkafka properties, beside the kafkaJS block (which takes only `ssl: true`).
    ...librdkafkaSecurityOptions(settings.security),
  });
  /** groupId -> the library consumer this client created for it (sendOffsets wants the consumer). */
  const consumers = new Map<string, CkConsumer>();
  const fallback = kafkajsClient({ ...settings, log: settings.log });
  return withSignals<KafkaClient>(
    {
      implementation: 'confluent',
      brokers: settings.brokers,
      producer: (options = {}) => producer(kafka, options, consumers),
      consumer: (options) => new ConfluentConsumer(kafka, options, consumers),
      admin: (options = {}) =>
        admin(
          kafka,
          () => fallback.admin(options),
          options.retries === 0 ? Math.min(5_000, settings.connectTimeoutMs) : 30_000,
        ),
    },
    signals,
  );
}
