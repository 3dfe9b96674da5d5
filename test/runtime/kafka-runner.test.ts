// The runner's fencing (exactly_once), on a fake Kafka client: each source partition gets its own transactional
// producer, started (which fences the previous owner) before the partition's first batch; the committed offset is
// read after that, and records a previous owner committed meanwhile are skipped; a failed commit, which may still
// have landed, starts a fresh producer that reads the committed offset again; a partition that leaves closes its
// producer. The fencing itself is the broker's: test/pipelines/exactly-once.integration.test.ts runs it for real.
// Failures of a sink node: an outage (*_UNAVAILABLE) is retried in place until it passes; a fatal refusal (a missing
// grant or ACL, a refused login) stops the consumer at once, with nothing committed and `failure` resolved with it.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TagstreamError } from '../../src/errors.ts';
import type {
  BatchControl,
  ConsumedRecord,
  ConsumerBatch,
  ConsumerRunOptions,
  FetchEnd,
  KafkaAdmin,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  ProducedRecord,
  ProducerOptions,
} from '../../src/io/kafka/client.ts';
import { AvroSerde, memoryRegistry } from '../../src/io/registry/registry.ts';
import { sleep } from '../../src/dev/stack/process.ts';
import { createLogger } from '../../src/log.ts';
import { FakeClock } from '../../src/runtime/clock.ts';
import { KafkaRunner } from '../../src/runtime/kafka-runner.ts';
import { noopMetrics } from '../../src/runtime/metrics.ts';
import { RecordProcessor } from '../../src/runtime/processor.ts';
import { Flow, topology, type SinkNode } from '../../src/runtime/topology.ts';

const SCHEMA = {
  type: 'record',
  name: 'Num',
  namespace: 'test.tagstream',
  fields: [{ name: 'n', type: 'int' }],
};
const GROUP = 'g';

/** What the fake broker saw, in order. */
class FakeKafka implements KafkaClient {
  readonly implementation = 'fake';
  readonly brokers = ['fake:9092'];
  constructor(readonly assignsTasks = false) {}
  /** Committed offsets, `topic:partition` -> next offset. */
  readonly committed = new Map<string, string>();
  /** Records of committed transactions. */
  readonly written: ProducedRecord[] = [];
  readonly events: string[] = [];
  /** Offsets a previous owner's transaction, still finishing, commits once a producer claims the id (fences it). */
  readonly finishingOnFence = new Map<string, string>();
  /** The next commit lands but its answer is lost (throws, retryable). */
  loseNextCommitAnswer = false;
  /** Every sendOffsets of a transaction throws this (e.g. the group is not authorised). */
  failSendOffsets: TagstreamError | undefined;
  /** The consumer was stopped. */
  stopped = false;
  handler: ConsumerRunOptions['eachBatch'] | undefined;
  assignment: ((a: Readonly<Record<string, readonly number[]>>) => void) | undefined;
  fetchEnd: ((end: FetchEnd) => void) | undefined;
  private producers = 0;

  producer(options: ProducerOptions = {}): KafkaProducer {
    const id = `${options.transactionalId ?? 'plain'}#${++this.producers}`;
    return {
      connect: async () => void this.events.push(`connect ${id}`),
      disconnect: async () => void this.events.push(`disconnect ${id}`),
      initTransactions: async () => {
        for (const [k, o] of this.finishingOnFence) this.committed.set(k, o);
        this.finishingOnFence.clear();
        this.events.push(`fence ${id}`);
      },
      send: async (records) => void this.written.push(...records),
      transaction: async () => {
        const pending: ProducedRecord[] = [];
        const offsets: Array<[string, string]> = [];
        return {
          send: async (records) => void pending.push(...records),
          sendOffsets: async (_group, tps) => {
            if (this.failSendOffsets) throw this.failSendOffsets;
            for (const t of tps)
              for (const p of t.partitions) offsets.push([`${t.topic}:${p.partition}`, p.offset]);
          },
          commit: async () => {
            this.written.push(...pending);
            for (const [k, o] of offsets) this.committed.set(k, o);
            this.events.push(`commit ${id} ${offsets.map(([k, o]) => `${k}@${o}`).join(',')}`);
            if (this.loseNextCommitAnswer) {
              this.loseNextCommitAnswer = false;
              throw new TagstreamError('KAFKA_ERROR', 'request timed out', { retryable: true });
            }
          },
          abort: async () => void this.events.push(`abort ${id}`),
        };
      },
    };
  }

  consumer(): KafkaConsumer {
    return {
      connect: async () => undefined,
      subscribe: async () => undefined,
      run: async (opts) => void (this.handler = opts.eachBatch),
      commitOffsets: async () => undefined,
      seek: () => undefined,
      stop: async () => {
        this.stopped = true;
        this.events.push('consumer stop');
      },
      disconnect: async () => undefined,
      onAssignment: (listener) => void (this.assignment = listener),
      onFetchEnd: (listener) => void (this.fetchEnd = listener),
      onCrash: () => undefined,
    };
  }

  admin(): KafkaAdmin {
    const none = async (): Promise<never> => {
      throw new Error('not used');
    };
    return {
      connect: async () => undefined,
      disconnect: async () => undefined,
      groupOffsets: async (_group, topics) =>
        topics.map((topic) => ({
          topic,
          partitions: [0, 1].map((partition) => ({
            partition,
            offset: this.committed.get(`${topic}:${partition}`) ?? '-1',
          })),
        })),
      listTopics: none,
      createTopics: none,
      deleteTopics: none,
      partitionCounts: none,
      topicOffsets: none,
      deleteGroups: none,
      topicConfigs: none,
      brokerCount: none,
    };
  }
}

/**
 * The runner on a fake client, reading one source into a topic, or into `sink` when given; with `tasks`, a client
 * that assigns whole tasks, and a second source `<source>-b` into a topic of its own.
 */
async function setup(
  sink?: SinkNode<unknown>,
  punctuateMs = 60_000,
  tasks = false,
  concurrently = 1,
  log = createLogger('kafka-runner-test', 'error'),
) {
  const source = `in-${randomUUID().slice(0, 8)}`;
  const registry = memoryRegistry();
  const serde = new AvroSerde(registry);
  const flow = Flow.from<unknown>(source);
  const second = tasks ? [Flow.from<unknown>(`${source}-b`).to(`out-${source}-b`, SCHEMA)] : [];
  const processor = await RecordProcessor.create(
    topology('t', [sink ? flow.sink(sink) : flow.to(`out-${source}`, SCHEMA), ...second]),
    serde,
    {
      applicationId: GROUP,
      pipelineVersion: '1',
      dlqTopic: (s) => `dlq.${s}`,
      clock: new FakeClock(0),
      metrics: noopMetrics,
    },
  );
  const kafka = new FakeKafka(tasks);
  const runner = new KafkaRunner(kafka, processor, {
    groupId: GROUP,
    brokers: kafka.brokers,
    guarantee: 'exactly_once',
    maxBatch: 100,
    maxInFlight: 1_000,
    partitionsConcurrently: concurrently,
    shutdownTimeoutMs: 1_000,
    punctuateMs,
    restoreTimeoutMs: 1_000,
    retryBackoffMs: { initial: 1, max: 1 },
    log,
    metrics: noopMetrics,
  });
  await runner.start();
  const encode = await serde.encoderFor<{ n: number }>(source, SCHEMA);
  if (tasks) await serde.encoderFor<{ n: number }>(`${source}-b`, SCHEMA);
  const resolved: string[] = [];
  /** Heartbeats the runner asked the client for. */
  const heartbeats: number[] = [];
  /** Hands the runner one batch of partition `partition` with offsets from..to, and `markers` markers after them. */
  const deliver = async (
    partition: number,
    from: number,
    to: number,
    markers = 0,
    topic = source,
  ): Promise<void> => {
    const records: ConsumedRecord[] = [];
    for (let o = from; o <= to; o++)
      records.push({
        topic,
        partition,
        offset: String(o),
        key: Buffer.from(`k${o}`),
        value: encode({ n: o }),
        timestamp: 1_000 + o,
        headers: {},
      });
    const batch: ConsumerBatch = {
      topic,
      partition,
      records,
      highWatermark: String(to + 1 + markers),
      offsetLag: () => '0',
    };
    const control: BatchControl = {
      isRunning: () => !kafka.stopped,
      isStale: () => false,
      heartbeat: async () => void heartbeats.push(performance.now()),
      resolveOffset: (o) => void resolved.push(`${partition}@${o}`),
      pause: () => () => undefined,
    };
    await kafka.handler?.(batch, control);
  };
  const written = async (): Promise<number[]> =>
    Promise.all(kafka.written.map(async (r) => ((await serde.decode(r.value)) as { n: number }).n));
  return { kafka, runner, source, deliver, resolved, written, heartbeats };
}

describe('KafkaRunner: transaction markers at the end of a partition', () => {
  const markersOnly = (source: string, partition: number, lastOffset: number): FetchEnd => ({
    topic: source,
    partition,
    records: 0,
    firstOffset: null,
    lastOffset: String(lastOffset),
    offsetLag: '0',
  });

  it('commits past the markers a quiet partition ended on, in a transaction of offsets only', async () => {
    const s = await setup(undefined, 50);
    await s.deliver(0, 0, 2);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('3');
    const records = s.kafka.written.length;
    // Offsets 3 and 4 are commit markers of the upstream's transactions: the fetch ends there with no record.
    s.kafka.fetchEnd?.(markersOnly(s.source, 0, 4));
    await sleep(250);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('5');
    expect(s.kafka.written).toHaveLength(records);
    // Once: nothing more to commit on later ticks.
    const commits = s.kafka.events.filter((e) => e.startsWith('commit')).length;
    await sleep(200);
    expect(s.kafka.events.filter((e) => e.startsWith('commit'))).toHaveLength(commits);
    await s.runner.stop();
  });

  it('commits past the markers a fetch of records ended on, once the partition is quiet', async () => {
    const s = await setup(undefined, 50);
    await s.deliver(0, 0, 2, 1);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('3');
    await sleep(250);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('4');
    await s.runner.stop();
  });

  it('a partition taken over with only markers to read fences first, then commits past them', async () => {
    const s = await setup(undefined, 50);
    s.kafka.fetchEnd?.(markersOnly(s.source, 1, 0));
    await sleep(250);
    expect(s.kafka.committed.get(`${s.source}:1`)).toBe('1');
    expect(s.kafka.events[0]).toMatch(/^connect tagstream-g-in-.*-1#/);
    await s.runner.stop();
  });

  it('markers followed by records before a tick passes are committed by the records, not on their own', async () => {
    const s = await setup(undefined, 200);
    await s.deliver(0, 0, 2);
    s.kafka.fetchEnd?.(markersOnly(s.source, 0, 3));
    await s.deliver(0, 4, 5);
    await sleep(450);
    const commits = s.kafka.events.filter((e) => e.startsWith('commit'));
    expect(commits.map((e) => e.split(' ').at(-1))).toEqual([`${s.source}:0@3`, `${s.source}:0@6`]);
    await s.runner.stop();
  });
});

describe('KafkaRunner fencing (exactly_once)', () => {
  it("starts the partition's own transactional producer before its first batch, the same id on every instance", async () => {
    const s = await setup();
    await s.deliver(0, 0, 2);
    await s.deliver(1, 0, 0);
    expect(s.kafka.events).toEqual([
      `connect tagstream-${GROUP}-${s.source}-0#1`,
      `fence tagstream-${GROUP}-${s.source}-0#1`,
      `commit tagstream-${GROUP}-${s.source}-0#1 ${s.source}:0@3`,
      `connect tagstream-${GROUP}-${s.source}-1#2`,
      `fence tagstream-${GROUP}-${s.source}-1#2`,
      `commit tagstream-${GROUP}-${s.source}-1#2 ${s.source}:1@1`,
    ]);
    expect(await s.written()).toEqual([0, 1, 2, 0]);
    await s.runner.stop();
  });

  it('skips what the previous owner committed after this consumer looked its position up', async () => {
    const s = await setup();
    // The consumer was handed offset 3 onwards, but the previous owner's last transaction, finished while this
    // instance's producer fenced it, had already committed up to 6.
    s.kafka.committed.set(`${s.source}:0`, '6');
    await s.deliver(0, 3, 8);
    expect(await s.written()).toEqual([6, 7, 8]);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('9');
    expect(s.resolved).toEqual(['0@8']);
    // Later batches are not filtered again.
    await s.deliver(0, 9, 9);
    expect(await s.written()).toEqual([6, 7, 8, 9]);
    await s.runner.stop();
  });

  it("reads the committed offsets after fencing: the previous owner's last transaction, finishing meanwhile, counts", async () => {
    const s = await setup();
    // kafkajs claims a transactional id only at the first transaction: a producer that was merely connected had not
    // fenced anything, and the offsets read then missed the previous owner's transaction still finishing.
    s.kafka.committed.set(`${s.source}:0`, '3');
    s.kafka.finishingOnFence.set(`${s.source}:0`, '6');
    await s.deliver(0, 3, 8);
    expect(await s.written()).toEqual([6, 7, 8]);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('9');
    await s.runner.stop();
  });

  it('a batch wholly committed by the previous owner writes nothing and moves on', async () => {
    const s = await setup();
    s.kafka.committed.set(`${s.source}:0`, '20');
    await s.deliver(0, 3, 8);
    expect(await s.written()).toEqual([]);
    expect(s.kafka.events.filter((e) => e.startsWith('commit'))).toEqual([]);
    expect(s.resolved).toEqual(['0@8']);
    await s.deliver(0, 20, 20);
    expect(await s.written()).toEqual([20]);
    await s.runner.stop();
  });

  it('a commit whose answer is lost (it may have landed) is retried by a fresh producer that reads the offset again', async () => {
    const s = await setup();
    await s.deliver(0, 0, 1);
    s.kafka.loseNextCommitAnswer = true;
    await s.deliver(0, 2, 4);
    // Landed once, not twice: the retry found offset 5 committed and skipped the chunk.
    expect(await s.written()).toEqual([0, 1, 2, 3, 4]);
    const id = `tagstream-${GROUP}-${s.source}-0`;
    expect(s.kafka.events).toEqual([
      `connect ${id}#1`,
      `fence ${id}#1`,
      `commit ${id}#1 ${s.source}:0@2`,
      `commit ${id}#1 ${s.source}:0@5`,
      `abort ${id}#1`,
      `disconnect ${id}#1`,
      `connect ${id}#2`,
      `fence ${id}#2`,
    ]);
    await s.runner.stop();
  });

  it("closes a partition's producer when the partition leaves this instance", async () => {
    const s = await setup();
    await s.deliver(0, 0, 0);
    await s.deliver(1, 0, 0);
    s.kafka.assignment?.({ [s.source]: [1] });
    await new Promise((r) => setTimeout(r, 10));
    expect(s.kafka.events.filter((e) => e.startsWith('disconnect'))).toEqual([
      `disconnect tagstream-${GROUP}-${s.source}-0#1`,
    ]);
    // Back again: a new producer fences whoever had it meanwhile.
    s.kafka.assignment?.({ [s.source]: [0, 1] });
    await s.deliver(0, 1, 1);
    expect(s.kafka.events.slice(-3, -1)).toEqual([
      `connect tagstream-${GROUP}-${s.source}-0#3`,
      `fence tagstream-${GROUP}-${s.source}-0#3`,
    ]);
    await s.runner.stop();
  });
});

/** A sink node that fails its first `times` writes with `error`, then stores what it is given. */
function failingSink(error: TagstreamError, times = Infinity) {
  const stored: number[] = [];
  let calls = 0;
  const node: SinkNode<unknown> = {
    name: 'store',
    async write(records) {
      if (++calls <= times) throw error;
      stored.push(...records.map((r) => (r.value as { n: number }).n));
    },
  };
  return { node, stored, calls: () => calls };
}

/** `failure` if it resolves within `ms`, else undefined. */
const failedWithin = (runner: KafkaRunner, ms: number): Promise<Error | undefined> =>
  Promise.race([runner.failure, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);

describe('KafkaRunner on a failing sink node', () => {
  it.each([
    [
      'MYSQL_NOT_AUTHORIZED',
      'user api may not INSERT on tagstream.id_transactions; it needs GRANT INSERT ON ...',
    ],
    ['REDIS_NOT_AUTHORIZED', 'user api may not hset the keys ts:feat:TAG-1; its ACL needs a key pattern'],
    ['REDIS_AUTH_FAILED', 'Redis refused the login of user tagstream (WRONGPASS)'],
  ] as const)(
    'a fatal %s stops the consumer at once: no retry, nothing committed, failure resolves with it',
    async (code, message) => {
      const error = new TagstreamError(code, message);
      expect(error.isFatal).toBe(true);
      const sink = failingSink(error);
      const s = await setup(sink.node);
      const started = performance.now();
      await s.deliver(0, 0, 2);
      const failure = await failedWithin(s.runner, 1_000);
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(failure).toBe(error);
      // Written once, never retried; no transaction committed, no offset resolved or committed.
      expect(sink.calls()).toBe(1);
      expect(sink.stored).toEqual([]);
      expect(s.kafka.committed.size).toBe(0);
      expect(s.resolved).toEqual([]);
      expect(s.kafka.events.filter((e) => e.startsWith('commit'))).toEqual([]);
      expect(s.kafka.stopped).toBe(true);
      // Stopping again (the job stops every runner) waits for the same stop.
      await s.runner.stop();
      expect(s.kafka.events.filter((e) => e === 'consumer stop')).toHaveLength(1);
    },
  );

  it('an outage (MYSQL_UNAVAILABLE) is retried in place until it passes, then committed once', async () => {
    const sink = failingSink(
      new TagstreamError('MYSQL_UNAVAILABLE', 'MySQL/MariaDB is not reachable', { retryable: true }),
      3,
    );
    const s = await setup(sink.node);
    await s.deliver(0, 0, 2);
    expect(sink.calls()).toBe(4);
    expect(sink.stored).toEqual([0, 1, 2]);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('3');
    expect(s.resolved).toEqual(['0@2']);
    expect(s.kafka.stopped).toBe(false);
    expect(await failedWithin(s.runner, 50)).toBeUndefined();
    await s.runner.stop();
  });

  it('a retryable failure once the runner is stopping (STOPPING) leaves the batch uncommitted, without retries', async () => {
    const ref: { runner?: KafkaRunner } = {};
    let calls = 0;
    const node: SinkNode<unknown> = {
      name: 'store',
      async write() {
        calls++;
        void ref.runner?.stop();
        throw new TagstreamError('STOPPING', 'the job is stopping', { retryable: true });
      },
    };
    const log = createLogger('kafka-runner-test', 'silent');
    const warnings: string[] = [];
    log.warn = ((_obj: unknown, msg: string) => void warnings.push(msg)) as typeof log.warn;
    const s = await setup(node, 60_000, false, 1, log);
    ref.runner = s.runner;
    await s.deliver(0, 0, 2);
    expect(calls).toBe(1);
    expect(warnings).toEqual([]); // not "stays uncommitted and is retried": it is stopping
    expect(s.kafka.committed.size).toBe(0);
    expect(s.resolved).toEqual([]);
    expect(s.kafka.events.filter((e) => e.startsWith('commit'))).toEqual([]);
    await s.runner.stop();
    expect(await failedWithin(s.runner, 50)).toBeUndefined();
  });

  it('heartbeats while a chunk works, so a chunk longer than the session timeout keeps the member in the group', async () => {
    const stored: number[] = [];
    const slow: SinkNode<unknown> = {
      name: 'slow',
      async write(records) {
        await new Promise((r) => setTimeout(r, 2_600));
        stored.push(...records.map((r) => (r.value as { n: number }).n));
      },
    };
    const s = await setup(slow);
    const started = performance.now();
    await s.deliver(0, 0, 2);
    expect(stored).toEqual([0, 1, 2]);
    // One a second while it worked (kafkajs sends one per heartbeat interval at most), then the one after the chunk.
    const during = s.heartbeats.filter((t) => t - started < 2_600);
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('3');
    // None after the chunk is done: the timer stops with it.
    const count = s.heartbeats.length;
    await new Promise((r) => setTimeout(r, 1_200));
    expect(s.heartbeats).toHaveLength(count);
    await s.runner.stop();
  });

  it('a fatal refusal while committing aborts the transaction and commits nothing', async () => {
    const s = await setup(failingSink(new TagstreamError('INTERNAL', 'unused'), 0).node);
    const error = new TagstreamError('KAFKA_NOT_AUTHORIZED', 'principal User:tagstream may not Read group g');
    s.kafka.failSendOffsets = error;
    await s.deliver(0, 0, 1);
    expect(await failedWithin(s.runner, 1_000)).toBe(error);
    const id = `tagstream-${GROUP}-${s.source}-0`;
    expect(s.kafka.events.slice(0, 4)).toEqual([
      `connect ${id}#1`,
      `fence ${id}#1`,
      `abort ${id}#1`,
      `disconnect ${id}#1`,
    ]);
    expect(s.kafka.events.filter((e) => e.startsWith('commit'))).toEqual([]);
    expect(s.kafka.committed.size).toBe(0);
    expect(s.resolved).toEqual([]);
    expect(s.kafka.stopped).toBe(true);
  });

  it('a non-retryable error that is not fatal (MYSQL_ERROR) still goes to the client, which restarts the consumer', async () => {
    const error = new TagstreamError('MYSQL_ERROR', 'MySQL error ER_SOMETHING');
    expect(error.isFatal).toBe(false);
    const s = await setup(failingSink(error).node);
    await expect(s.deliver(0, 0, 0)).rejects.toBe(error);
    expect(s.kafka.committed.size).toBe(0);
    expect(s.kafka.stopped).toBe(false);
    await s.runner.stop();
  });
});

describe('KafkaRunner: one transaction per task (a client that assigns whole tasks)', () => {
  const commits = (k: FakeKafka): string[] => k.events.filter((e) => e.startsWith('commit'));

  it('partition p of every source shares one producer, and chunks handed over together commit in one transaction', async () => {
    const s = await setup(undefined, 60_000, true, 4);
    const b = `${s.source}-b`;
    // A fetch hands over partition 0 of both sources and partition 1 of the first, side by side.
    await Promise.all([s.deliver(0, 0, 2), s.deliver(0, 0, 1, 0, b), s.deliver(1, 0, 0)]);
    const connects = s.kafka.events.filter((e) => e.startsWith('connect'));
    expect(connects.map((e) => e.replace(/#\d+$/, '')).sort()).toEqual([
      'connect tagstream-g-task-0',
      'connect tagstream-g-task-1',
    ]);
    expect(
      commits(s.kafka)
        .map((e) => e.split(' ')[2]!.split(',').sort().join(','))
        .sort(),
    ).toEqual([`${b}:0@2,${s.source}:0@3`, `${s.source}:1@1`]);
    expect((await s.written()).sort()).toEqual([0, 0, 0, 1, 1, 2]);
    expect(s.resolved.sort()).toEqual(['0@1', '0@2', '1@0']);
    await s.runner.stop();
  });

  it('taking a task over reads the committed offsets of all its partitions and skips what the previous owner committed', async () => {
    const s = await setup(undefined, 60_000, true, 4);
    const b = `${s.source}-b`;
    // The previous owner committed both partitions of task 0 after this consumer fetched from offset 0.
    s.kafka.committed.set(`${s.source}:0`, '2');
    s.kafka.committed.set(`${b}:0`, '1');
    await Promise.all([s.deliver(0, 0, 3), s.deliver(0, 0, 1, 0, b)]);
    expect((await s.written()).sort()).toEqual([1, 2, 3]);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('4');
    expect(s.kafka.committed.get(`${b}:0`)).toBe('2');
    await s.runner.stop();
  });

  it('a failed commit fails every chunk in it: all are retried on a fresh producer, none twice', async () => {
    const s = await setup(undefined, 60_000, true, 4);
    const b = `${s.source}-b`;
    s.kafka.loseNextCommitAnswer = true; // the commit lands, its answer is lost
    await Promise.all([s.deliver(0, 0, 1), s.deliver(0, 0, 0, 0, b)]);
    // One producer per attempt; the second reads the offsets the first committed and has nothing left to write.
    expect(s.kafka.events.filter((e) => e.startsWith('connect'))).toHaveLength(2);
    expect((await s.written()).sort()).toEqual([0, 0, 1]);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('2');
    expect(s.kafka.committed.get(`${b}:0`)).toBe('1');
    await s.runner.stop();
  });

  it('a task kept through a rebalance, fetched again from an offset older than its last commit, skips what it committed', async () => {
    const s = await setup(undefined, 60_000, true, 4);
    const b = `${s.source}-b`;
    await Promise.all([s.deliver(0, 0, 2), s.deliver(0, 0, 1, 0, b)]);
    // A rebalance leaves task 0 here. The client asks the group for its position without require_stable and gets the
    // offsets from before that transaction (its markers not written yet): it hands over offsets 0.. again.
    s.kafka.assignment?.({ [s.source]: [0], [b]: [0] });
    s.kafka.committed.set(`${s.source}:0`, '0');
    s.kafka.committed.set(`${b}:0`, '0');
    await Promise.all([s.deliver(0, 0, 4), s.deliver(0, 0, 2, 0, b)]);
    expect((await s.written()).sort()).toEqual([0, 0, 1, 1, 2, 2, 3, 4]);
    expect(s.kafka.committed.get(`${s.source}:0`)).toBe('5');
    expect(s.kafka.committed.get(`${b}:0`)).toBe('3');
    // The task's producer was kept: no second fencing.
    expect(s.kafka.events.filter((e) => e.startsWith('connect'))).toHaveLength(1);
    await s.runner.stop();
  });
});
