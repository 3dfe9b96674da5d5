// Dead-letter topics for operators: a summary of every dlq.* topic, and replay of dead letters to their source topic
// after a fix. Both read with a short-lived consumer in a throw-away group whose start offsets are set before it
// joins, up to the end offsets (last stable offsets) taken when the request came in, so a request is bounded.
//
// Replay is exactly-once: the re-published records and the replay cursors are committed in one Kafka transaction.
// Cursors are committed offsets of consumer groups that never have members: `<replayGroup>` for replays of every
// code and `<replayGroup>.<CODE>` for replays filtered by code. A dead letter of code C at offset o was replayed
// iff o < max(cursor, cursor of C), so a record is never replayed twice, whatever mix of filters is used.
import { randomUUID } from 'node:crypto';
import { TagstreamError, isTagstreamError } from '../errors.ts';
import type { Config } from '../../config/schema.ts';
import { dlqTopic as dlqTopicOf, sourceOfDlq } from '../../config/topics.ts';
import {
  mapKafkaError,
  type ConsumedRecord,
  type KafkaAdmin,
  type KafkaClient,
  type ProducedRecord,
} from '../io/kafka/client.ts';
import type { AvroSerde } from '../io/registry/registry.ts';
import type { Logger } from '../log.ts';
import type { DeadLetter } from '../schemas/types.ts';

export interface DlqTopicSummary {
  readonly topic: string;
  readonly source_topic: string;
  readonly partitions: number;
  /** Dead letters read. */
  readonly records: number;
  /** False when only the newest offsets were read (maxRecordsPerTopic) or the read timed out. */
  readonly complete: boolean;
  readonly by_code: Readonly<Record<string, number>>;
  readonly by_stage: Readonly<Record<string, number>>;
  /** failed_at of the oldest and newest dead letter read, ms since epoch; null when none. */
  readonly oldest_failed_at: number | null;
  readonly newest_failed_at: number | null;
  /** Records that are not dead letters (did not decode); counted, never replayed. */
  readonly undecodable: number;
}

export interface DlqSummary {
  readonly topics: readonly DlqTopicSummary[];
  readonly max_records_per_topic: number;
}

export interface ReplayRequest {
  /** Only dead letters with these error codes; omitted: every code. */
  readonly codes?: readonly string[];
  /** Replay at most this many records; the rest stay for the next call. */
  readonly limit?: number;
  /** Count what would be replayed; publish nothing, move no cursor. */
  readonly dryRun?: boolean;
}

export interface ReplayResult {
  readonly source_topic: string;
  readonly dlq_topic: string;
  readonly dry_run: boolean;
  /** Dead letters read in this call. */
  readonly scanned: number;
  /** Re-published (with dry_run: would be). */
  readonly replayed: number;
  readonly replayed_by_code: Readonly<Record<string, number>>;
  /** Read but of another code than asked for. */
  readonly skipped_other_code: number;
  /** Read but replayed by an earlier call. */
  readonly already_replayed: number;
  readonly undecodable: number;
  /** True when every matching dead letter up to the end offsets was handled (false: the limit or a timeout stopped it). */
  readonly complete: boolean;
}

export interface DlqService {
  summary(): Promise<DlqSummary>;
  replay(sourceTopic: string, request: ReplayRequest): Promise<ReplayResult>;
  close(): Promise<void>;
}

export interface DlqServiceOptions {
  /** The topics config: dead letters of topic T are on dlqTopic(T) (`<ns>.dlq.<T>`, config/topics.ts). */
  readonly topics: Config['topics'];
  /** Replay cursors: this group, and `<group>.<CODE>` per code. Default `<pipeline.groupId>-dlq-replay`. */
  readonly replayGroupId: string;
  readonly brokers: readonly string[];
  readonly log: Logger;
  /** Newest records read per topic for the summary (default 10,000). */
  readonly maxRecordsPerTopic?: number;
  /** Upper bound of one read (default 30 s). */
  readonly readTimeoutMs?: number;
}

interface PartitionRange {
  readonly partition: number;
  /** First offset to read. */
  readonly start: bigint;
  /** End offset (exclusive): the last stable offset when the request came in. */
  readonly end: bigint;
}

type TopicRanges = ReadonlyMap<string, readonly PartitionRange[]>;

/** Per topic and partition, the offset reading got to (exclusive). */
type Progress = Map<string, Map<number, bigint>>;

const maxBig = (...xs: bigint[]): bigint => xs.reduce((a, b) => (b > a ? b : a));

export function incr(counts: Record<string, number>, key: string, n = 1): void {
  counts[key] = (counts[key] ?? 0) + n;
}

/** Where a read of the newest `budget` offsets of each partition starts. */
export function newestRanges(
  offsets: ReadonlyArray<{ partition: number; low: string; high: string }>,
  budgetPerPartition: number,
): PartitionRange[] {
  return offsets.map((o) => {
    const low = BigInt(o.low);
    const end = BigInt(o.high);
    return { partition: o.partition, start: maxBig(low, end - BigInt(budgetPerPartition)), end };
  });
}

/**
 * Reads each partition from start to end with a consumer in a fresh group, seeking to the starts once it has joined.
 * `onBatch` gets each record in [start, end) once, in offset order per partition (a fetch from before the seek is
 * filtered, not processed twice); returning true stops the read. Resolves with how far each partition got, counting
 * transaction markers, which are never delivered as records.
 */
async function readRanges(
  kafka: KafkaClient,
  ranges: TopicRanges,
  groupPrefix: string,
  timeoutMs: number,
  onBatch: (topic: string, partition: number, messages: ConsumedRecord[]) => Promise<boolean>,
): Promise<{ progress: Progress; complete: boolean }> {
  const progress: Progress = new Map();
  const pending = new Set<string>();
  for (const [topic, parts] of ranges) {
    progress.set(topic, new Map(parts.map((r) => [r.partition, r.start])));
    for (const r of parts) if (r.start < r.end) pending.add(`${topic}\u0000${r.partition}`);
  }
  if (pending.size === 0) return { progress, complete: true };

  const endOf = (topic: string, partition: number): bigint =>
    ranges.get(topic)?.find((r) => r.partition === partition)?.end ?? 0n;
  const nextOf = (topic: string, partition: number): bigint => progress.get(topic)?.get(partition) ?? 0n;
  // Not an admin offset reset: kafkajs implements it by joining the group and waiting for a fetch (~5 s).
  const groupId = `${groupPrefix}-reader-${randomUUID().slice(0, 8)}`;
  const consumer = kafka.consumer({ groupId, readCommitted: true, maxWaitMs: 250 });
  let finish!: (stopped: boolean) => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<boolean>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let stopped = false;
  const advance = (topic: string, partition: number, next: bigint): void => {
    const p = progress.get(topic);
    if (p === undefined || next <= (p.get(partition) ?? 0n)) return;
    p.set(partition, next);
    if (next >= endOf(topic, partition)) pending.delete(`${topic}\u0000${partition}`);
    if (pending.size === 0) finish(false);
  };
  // Batches of transaction markers only never reach eachBatch; this event still reports their offsets. It is
  // trusted only once the batch starts at or before the partition's position, i.e. it was not fetched before the seek.
  consumer.onFetchEnd((end) => {
    if (stopped || end.firstOffset === null) return;
    if (BigInt(end.firstOffset) <= nextOf(end.topic, end.partition))
      advance(end.topic, end.partition, BigInt(end.lastOffset) + 1n);
  });
  consumer.onCrash((error) => fail(error));
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe([...ranges.keys()], { fromBeginning: true });
    await consumer.run({
      eachBatch: async (batch) => {
        if (stopped) return;
        const { topic, partition } = batch;
        const end = endOf(topic, partition);
        const messages = batch.records.filter((m) => {
          const o = BigInt(m.offset);
          return o >= nextOf(topic, partition) && o < end;
        });
        if (messages.length === 0) return;
        try {
          if (await onBatch(topic, partition, messages)) {
            stopped = true;
            finish(true);
          } else advance(topic, partition, BigInt(messages[messages.length - 1]!.offset) + 1n);
        } catch (e) {
          stopped = true;
          fail(e);
        }
      },
    });
    for (const [topic, parts] of ranges)
      for (const r of parts) consumer.seek(topic, r.partition, String(r.start));
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([done, timedOut]);
    return { progress, complete: outcome === false };
  } finally {
    stopped = true;
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => admin.disconnect().catch(() => undefined));
  }
}

/** Partition offsets committed by a group for a topic; partitions without a commit get `fallback`. */
async function committed(
  admin: KafkaAdmin,
  groupId: string,
  topic: string,
  fallback: ReadonlyMap<number, bigint>,
): Promise<Map<number, bigint>> {
  const [t] = await admin.groupOffsets(groupId, [topic]);
  const out = new Map(fallback);
  for (const p of t?.partitions ?? []) {
    const o = BigInt(p.offset);
    if (o >= 0n) out.set(p.partition, maxBig(o, fallback.get(p.partition) ?? 0n));
  }
  return out;
}

export function createDlqService(
  kafka: KafkaClient,
  serde: AvroSerde,
  options: DlqServiceOptions,
): DlqService {
  const maxRecords = options.maxRecordsPerTopic ?? 10_000;
  const timeoutMs = options.readTimeoutMs ?? 30_000;
  const { log } = options;
  /** Cursors this process committed: a transaction's offsets may reach the group a moment after commit returns. */
  const memo = new Map<string, bigint>();
  /** One replay per DLQ topic at a time in this process (other processes are fenced by the transactional id). */
  const locks = new Map<string, Promise<unknown>>();
  let summaryInFlight: Promise<DlqSummary> | undefined;

  const withAdmin = async <T>(what: string, fn: (admin: KafkaAdmin) => Promise<T>): Promise<T> => {
    const admin = kafka.admin();
    try {
      await admin.connect();
      return await fn(admin);
    } catch (e) {
      throw isTagstreamError(e) ? e : mapKafkaError(e, options.brokers, what);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };

  async function decode(value: Buffer | null): Promise<DeadLetter | undefined> {
    try {
      return (await serde.decode(value)) as DeadLetter;
    } catch (e) {
      if (isTagstreamError(e) && !e.isRecordError) throw e;
      return undefined;
    }
  }

  async function summarize(): Promise<DlqSummary> {
    return withAdmin('summarising the dead-letter topics', async (admin) => {
      const topics = (await admin.listTopics())
        .filter((t) => sourceOfDlq(options.topics, t) !== undefined)
        .sort();
      const ranges = new Map<string, PartitionRange[]>();
      const bounded = new Set<string>();
      for (const topic of topics) {
        const offsets = await admin.topicOffsets(topic);
        const budget = Math.max(1, Math.ceil(maxRecords / Math.max(1, offsets.length)));
        const parts = newestRanges(offsets, budget);
        if (parts.some((r, i) => r.start > BigInt(offsets[i]!.low))) bounded.add(topic);
        ranges.set(topic, parts);
      }
      const acc = new Map(
        topics.map((t) => [
          t,
          {
            records: 0,
            undecodable: 0,
            byCode: {} as Record<string, number>,
            byStage: {} as Record<string, number>,
            oldest: null as number | null,
            newest: null as number | null,
          },
        ]),
      );
      const { progress, complete } = await readRanges(
        kafka,
        ranges,
        `${options.replayGroupId}-summary`,
        timeoutMs,
        async (topic, _partition, messages) => {
          const a = acc.get(topic)!;
          for (const m of messages) {
            const dl = await decode(m.value);
            if (dl === undefined) {
              a.undecodable++;
              continue;
            }
            a.records++;
            incr(a.byCode, dl.error_code);
            incr(a.byStage, dl.stage);
            a.oldest = a.oldest === null ? dl.failed_at : Math.min(a.oldest, dl.failed_at);
            a.newest = a.newest === null ? dl.failed_at : Math.max(a.newest, dl.failed_at);
          }
          return false;
        },
      );
      return {
        max_records_per_topic: maxRecords,
        topics: topics.map((topic): DlqTopicSummary => {
          const a = acc.get(topic)!;
          const parts = ranges.get(topic) ?? [];
          const reached = parts.every((r) => (progress.get(topic)?.get(r.partition) ?? 0n) >= r.end);
          return {
            topic,
            source_topic: sourceOfDlq(options.topics, topic) ?? topic,
            partitions: parts.length,
            records: a.records,
            complete: !bounded.has(topic) && (complete || reached),
            by_code: a.byCode,
            by_stage: a.byStage,
            oldest_failed_at: a.oldest,
            newest_failed_at: a.newest,
            undecodable: a.undecodable,
          };
        }),
      };
    });
  }

  const codeGroup = (code: string): string => `${options.replayGroupId}.${code}`;
  const memoKey = (group: string, topic: string, partition: number): string =>
    `${group}\u0000${topic}\u0000${partition}`;

  async function cursor(
    admin: KafkaAdmin,
    group: string,
    topic: string,
    lows: ReadonlyMap<number, bigint>,
  ): Promise<Map<number, bigint>> {
    const c = await committed(admin, group, topic, lows);
    for (const [p, o] of c) c.set(p, maxBig(o, memo.get(memoKey(group, topic, p)) ?? 0n));
    return c;
  }

  async function replayLocked(sourceTopic: string, request: ReplayRequest): Promise<ReplayResult> {
    const dlqTopic = dlqTopicOf(options.topics, sourceTopic);
    const dryRun = request.dryRun ?? false;
    const codes = request.codes === undefined ? undefined : new Set(request.codes);
    return withAdmin(`replaying ${dlqTopic}`, async (admin) => {
      if (!(await admin.listTopics()).includes(dlqTopic))
        throw new TagstreamError(
          'DLQ_NOT_FOUND',
          `no dead-letter topic ${dlqTopic} for source topic ${sourceTopic}: GET /v1/dlq lists them`,
          { details: { topic: dlqTopic } },
        );
      const offsets = await admin.topicOffsets(dlqTopic);
      const lows = new Map(offsets.map((o) => [o.partition, BigInt(o.low)]));
      const all = await cursor(admin, options.replayGroupId, dlqTopic, lows);
      const byCode = new Map<string, Map<number, bigint>>();
      const codeCursor = async (code: string): Promise<Map<number, bigint>> => {
        let c = byCode.get(code);
        if (c === undefined) {
          c = await cursor(admin, codeGroup(code), dlqTopic, lows);
          byCode.set(code, c);
        }
        return c;
      };
      /** Where code `code` was replayed up to in a partition. */
      const effective = async (code: string, p: number): Promise<bigint> =>
        maxBig(all.get(p) ?? 0n, (await codeCursor(code)).get(p) ?? 0n);

      const ranges: PartitionRange[] = [];
      for (const o of offsets) {
        let start = all.get(o.partition) ?? BigInt(o.low);
        if (codes !== undefined) {
          const starts = await Promise.all([...codes].map((c) => effective(c, o.partition)));
          start = starts.length ? starts.reduce((a, b) => (b < a ? b : a)) : BigInt(o.high);
        }
        ranges.push({ partition: o.partition, start, end: BigInt(o.high) });
      }
      const examined = new Map(ranges.map((r) => [r.partition, r.start]));
      const out: ProducedRecord[] = [];
      const replayedByCode: Record<string, number> = {};
      let scanned = 0;
      let skipped = 0;
      let already = 0;
      let undecodable = 0;
      let limited = false;

      const read = await readRanges(
        kafka,
        new Map([[dlqTopic, ranges]]),
        options.replayGroupId,
        timeoutMs,
        async (_topic, partition, messages) => {
          for (const m of messages) {
            const offset = BigInt(m.offset);
            const dl = await decode(m.value);
            if (dl === undefined) {
              undecodable++;
              examined.set(partition, offset + 1n);
              continue;
            }
            const code = dl.error_code;
            if (codes !== undefined && !codes.has(code)) {
              scanned++;
              skipped++;
            } else if (offset < (await effective(code, partition))) {
              scanned++;
              already++;
            } else if (request.limit !== undefined && out.length >= request.limit) {
              limited = true;
              return true;
            } else {
              scanned++;
              incr(replayedByCode, code);
              out.push({
                topic: dl.topic,
                key: dl.key,
                value: dl.value,
                headers: { 'tagstream-replay-of': `${dlqTopic}/${partition}/${m.offset}` },
              });
            }
            examined.set(partition, offset + 1n);
          }
          return false;
        },
      );
      // A partition read to its end is done up to the end offset, transaction markers after the last record included.
      if (!limited)
        for (const r of ranges)
          if ((read.progress.get(dlqTopic)?.get(r.partition) ?? 0n) >= r.end)
            examined.set(r.partition, r.end);

      const result: ReplayResult = {
        source_topic: sourceTopic,
        dlq_topic: dlqTopic,
        dry_run: dryRun,
        scanned,
        replayed: out.length,
        replayed_by_code: replayedByCode,
        skipped_other_code: skipped,
        already_replayed: already,
        undecodable,
        complete: !limited && read.complete,
      };
      if (dryRun) return result;

      // New cursors: the unfiltered one, or one per code asked for; never moved backwards.
      const commits = new Map<string, Array<{ partition: number; offset: string }>>();
      const targets =
        codes === undefined
          ? [{ group: options.replayGroupId, code: undefined }]
          : [...codes].map((code) => ({ group: codeGroup(code), code }));
      for (const { group, code } of targets) {
        const parts: Array<{ partition: number; offset: string }> = [];
        for (const r of ranges) {
          const before =
            code === undefined ? (all.get(r.partition) ?? 0n) : await effective(code, r.partition);
          const next = examined.get(r.partition) ?? r.start;
          if (next > before) parts.push({ partition: r.partition, offset: String(next) });
        }
        if (parts.length) commits.set(group, parts);
      }
      if (out.length === 0 && commits.size === 0) return result;

      const producer = kafka.producer({
        transactionalId: `${options.replayGroupId}-${dlqTopic}`,
        idempotent: true,
      });
      await producer.connect();
      try {
        const tx = await producer.transaction();
        try {
          await tx.send(out);
          for (const [group, partitions] of commits)
            await tx.sendOffsets(group, [{ topic: dlqTopic, partitions }]);
          await tx.commit();
        } catch (e) {
          await tx.abort().catch(() => undefined);
          throw e;
        }
      } finally {
        await producer.disconnect().catch(() => undefined);
      }
      for (const [group, partitions] of commits)
        for (const p of partitions) memo.set(memoKey(group, dlqTopic, p.partition), BigInt(p.offset));
      log.info(
        { dlqTopic, replayed: out.length, byCode: replayedByCode, cursors: Object.fromEntries(commits) },
        'replayed dead letters',
      );
      return result;
    });
  }

  return {
    summary() {
      summaryInFlight ??= summarize().finally(() => {
        summaryInFlight = undefined;
      });
      return summaryInFlight;
    },

    replay(sourceTopic, request) {
      const key = sourceTopic;
      const previous = locks.get(key) ?? Promise.resolve();
      const run = previous.catch(() => undefined).then(() => replayLocked(sourceTopic, request));
      const tail = run.catch(() => undefined);
      locks.set(key, tail);
      void tail.then(() => {
        if (locks.get(key) === tail) locks.delete(key);
      });
      return run;
    },

    async close() {
      await Promise.allSettled([...locks.values(), summaryInFlight]);
    },
  };
}
