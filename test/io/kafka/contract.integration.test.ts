// The Kafka adapter's contract (src/io/kafka/types.ts), run on the real broker with the same assertions for every
// implementation of kafka.client: what the runtime, restore and the DLQ reader rely on. The confluent half fails
// (it never skips) when its optional package is missing, with the command that installs it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../../config/schema.ts';
import {
  createKafka,
  ensureTopics,
  mapKafkaError,
  type ConsumerBatch,
  type FetchEnd,
  type KafkaAdmin,
  type KafkaClient,
  type KafkaConsumer,
  type KafkaTransaction,
} from '../../../src/io/kafka/client.ts';
import { CONFLUENT_INSTALL_HINT, loadConfluent } from '../../../src/io/kafka/confluent.ts';
import { createLogger } from '../../../src/log.ts';
import { requireStack, testConfig } from '../../helpers/stack.ts';

const CLIENTS = ['kafkajs', 'confluent'] as const;
const log = createLogger('contract-test', 'silent');

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(CLIENTS)('Kafka adapter contract: %s', (client) => {
  let config: Config;
  let kafka: KafkaClient;
  let admin: KafkaAdmin;
  const topics: string[] = [];
  const groups: string[] = [];
  const consumers: KafkaConsumer[] = [];

  const topic = async (partitions = 1): Promise<string> => {
    const name = `t-${randomUUID().slice(0, 8)}.contract`;
    topics.push(name);
    await ensureTopics(admin, [name], config, { partitions });
    return name;
  };
  const group = (): string => {
    const g = `t-${randomUUID().slice(0, 8)}-contract`;
    groups.push(g);
    return g;
  };
  /** A consumer reading `t` from the beginning: records and fetch ends, per partition. */
  const read = async (t: string, options: { groupId?: string; readCommitted?: boolean } = {}) => {
    const c = kafka.consumer({
      groupId: options.groupId ?? group(),
      readCommitted: options.readCommitted ?? true,
    });
    consumers.push(c);
    const batches: ConsumerBatch[] = [];
    const ends: FetchEnd[] = [];
    const assignments: Array<Readonly<Record<string, readonly number[]>>> = [];
    c.onAssignment((a) => assignments.push(a));
    c.onFetchEnd((e) => ends.push(e));
    await c.connect();
    await c.subscribe([t], { fromBeginning: true });
    await c.run({ eachBatch: async (b) => void batches.push(b) });
    const records = () => batches.flatMap((b) => b.records);
    /** The next offset known handled: past records and past fetches of transaction markers only. */
    const reached = (partition: number) =>
      ends
        .filter((e) => e.partition === partition)
        .reduce((m, e) => (BigInt(e.lastOffset) + 1n > m ? BigInt(e.lastOffset) + 1n : m), 0n);
    return { consumer: c, records, ends, assignments, reached };
  };

  beforeAll(async () => {
    if (client === 'confluent' && !loadConfluent())
      throw new Error(
        `kafka.client confluent: @confluentinc/kafka-javascript is not installed: ${CONFLUENT_INSTALL_HINT}`,
      );
    const base = testConfig();
    config = { ...base, kafka: { ...base.kafka, client } };
    await requireStack(config);
    kafka = createKafka(config, log, 'contract-test');
    expect(kafka.implementation).toBe(client);
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await Promise.allSettled(consumers.map((c) => c.disconnect()));
    if (!admin) return;
    await admin.deleteGroups(groups).catch(() => undefined);
    await admin.deleteTopics(topics).catch(() => undefined);
    await admin.disconnect();
  });

  it('admin: creates topics, lists them, tells partitions, offsets, configs, brokers and group offsets', async () => {
    const t = await topic(2);
    expect(await admin.listTopics()).toContain(t);
    expect(await admin.partitionCounts([t])).toEqual(new Map([[t, 2]]));
    const offsets = await admin.topicOffsets(t);
    expect(offsets.sort((a, b) => a.partition - b.partition)).toEqual([
      { partition: 0, low: '0', high: '0' },
      { partition: 1, low: '0', high: '0' },
    ]);
    const configs = await admin.topicConfigs([t], ['retention.ms']);
    expect(configs.get(t)?.get('retention.ms')).toBe(String(config.kafka.topicRetentionMs));
    expect(await admin.brokerCount()).toBeGreaterThanOrEqual(1);
    const none = await admin.groupOffsets(group(), [t]);
    expect(
      none.map((x) => ({ ...x, partitions: [...x.partitions].sort((a, b) => a.partition - b.partition) })),
    ).toEqual([
      {
        topic: t,
        partitions: [
          { partition: 0, offset: '-1' },
          { partition: 1, offset: '-1' },
        ],
      },
    ]);
    // Creating what exists is not an error (ensureTopics creates only what is missing, but races happen).
    await admin.createTopics([{ topic: t, partitions: 2, replicationFactor: 1 }]).catch((e: unknown) => {
      expect(String((e as Error).message)).toMatch(/exist/i);
    });
    await admin.deleteTopics([t]);
    await until('the topic to go', async () => !(await admin.listTopics()).includes(t));
  });

  it('produces and consumes: keys, values, headers, timestamps, partitions; assignment; committed offsets', async () => {
    const t = await topic(2);
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const at = Date.UTC(2026, 0, 1);
    await producer.send(
      Array.from({ length: 10 }, (_, i) => ({
        topic: t,
        key: `k${i}`,
        value: Buffer.from(`v${i}`),
        timestamp: at + i,
        partition: i % 2,
        headers: { h: `x${i}` },
      })),
    );
    await producer.disconnect();
    const g = group();
    const r = await read(t, { groupId: g });
    await until('10 records', () => r.records().length === 10);
    const got = r.records().sort((a, b) => Number(a.timestamp) - Number(b.timestamp));
    got.forEach((m, i) => {
      expect(m.key?.toString()).toBe(`k${i}`);
      expect(m.value?.toString()).toBe(`v${i}`);
      expect(m.timestamp).toBe(at + i);
      expect(m.partition).toBe(i % 2);
      expect(m.offset).toBe(String(Math.floor(i / 2)));
      expect(m.headers['h']?.toString()).toBe(`x${i}`);
    });
    expect(r.assignments.at(-1)).toEqual({ [t]: [0, 1] });
    await r.consumer.commitOffsets([
      {
        topic: t,
        partitions: [
          { partition: 0, offset: '5' },
          { partition: 1, offset: '3' },
        ],
      },
    ]);
    const committed = await admin.groupOffsets(g, [t]);
    expect(committed[0]?.partitions.map((p) => [p.partition, p.offset]).sort()).toEqual([
      [0, '5'],
      [1, '3'],
    ]);
    await r.consumer.stop();
    await r.consumer.disconnect();
  });

  it('transactions: outputs and the group offsets commit together (sendOffsets); a failed handler is handed the batch again', async () => {
    const input = await topic();
    const output = await topic();
    const seed = kafka.producer({ idempotent: true });
    await seed.connect();
    await seed.send(
      Array.from({ length: 20 }, (_, i) => ({ topic: input, key: `k${i}`, value: Buffer.from(`${i}`) })),
    );
    await seed.disconnect();

    const g = group();
    const producer = kafka.producer({
      transactionalId: `contract-${randomUUID()}`,
      transactionTimeoutMs: 30_000,
    });
    await producer.connect();
    const consumer = kafka.consumer({ groupId: g, readCommitted: true });
    consumers.push(consumer);
    // A failed handler is retried by the client (kafkajs in place; confluent after seeking back); onCrash only
    // after several failures in a row, so one failure must not end the consumer.
    const crashes: Array<{ error: Error; restarting: boolean }> = [];
    consumer.onCrash((error, restarting) => crashes.push({ error, restarting }));
    let failOnce = true;
    await consumer.connect();
    await consumer.subscribe([input], { fromBeginning: true });
    await consumer.run({
      autoResolve: false,
      eachBatch: async (batch, control) => {
        if (failOnce) {
          failOnce = false;
          throw new Error('first batch fails');
        }
        const last = batch.records.at(-1);
        if (!last) return;
        const tx = await producer.transaction();
        try {
          await tx.send(batch.records.map((m) => ({ topic: output, key: m.key, value: m.value })));
          await tx.sendOffsets(g, [
            {
              topic: batch.topic,
              partitions: [{ partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }],
            },
          ]);
          await tx.commit();
        } catch (e) {
          await tx.abort().catch(() => undefined);
          throw e;
        }
        control.resolveOffset(last.offset);
      },
    });
    await until(
      'the group committed 20',
      async () => (await admin.groupOffsets(g, [input]))[0]?.partitions[0]?.offset === '20',
    );
    expect(crashes.filter((c) => !c.restarting)).toEqual([]);
    await consumer.stop();
    await consumer.disconnect();
    await producer.disconnect();

    const r = await read(output);
    await until('20 outputs', () => r.records().length >= 20);
    expect(
      r
        .records()
        .map((m) => Number(m.value?.toString()))
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('read_committed: aborted records never show; fetch ends reach the end past the transaction markers', async () => {
    const t = await topic();
    const producer = kafka.producer({ transactionalId: `contract-${randomUUID()}` });
    await producer.connect();
    const batch = async (values: string[], commit: boolean) => {
      const tx = await producer.transaction();
      await tx.send(values.map((v) => ({ topic: t, key: v, value: Buffer.from(v) })));
      await (commit ? tx.commit() : tx.abort());
    };
    await batch(['a', 'b', 'c'], true);
    await batch(['x', 'y'], false);
    await batch(['d'], true);
    await producer.disconnect();
    // 3 records, a marker, 2 aborted, a marker, 1 record, a marker. The coordinator writes a marker after the
    // commit or abort returns, so the last one may land a moment later.
    await until('the last transaction marker', async () => (await admin.topicOffsets(t))[0]?.high === '9');

    const r = await read(t);
    // The last record is at offset 7: only the client's account of the marker after it says offset 8 was passed.
    await until('the consumer to reach the end past the last marker', () => r.reached(0) >= 9n);
    expect(r.records().map((m) => m.value?.toString())).toEqual(['a', 'b', 'c', 'd']);
    await r.consumer.disconnect();
  });

  it('read_committed: no aborted record shows, also to a reader that starts inside several aborted transactions', async () => {
    // kafkajs 2.2.4 entered one aborted transaction per record (patches/kafkajs+2.2.4.patch): a fetch starting inside
    // two let the second one's records through. A process killed with many transactions open leaves exactly that.
    const t = await topic();
    const [a, b, c] = [0, 1, 2].map(() => kafka.producer({ transactionalId: `contract-${randomUUID()}` }));
    for (const p of [a!, b!, c!]) await p.connect();
    const send = (tx: KafkaTransaction, v: string) => tx.send([{ topic: t, key: v, value: Buffer.from(v) }]);
    const [ta, tb] = [await a!.transaction(), await b!.transaction()];
    await send(ta, 'a1'); // offset 0
    await send(tb, 'b1'); // 1
    await send(tb, 'b2'); // 2
    await send(ta, 'a2'); // 3
    await ta.abort(); // marker 4
    await tb.abort(); // marker 5
    // A group whose committed position is offset 2, inside both aborted transactions.
    const inside = group();
    const tc = await c!.transaction();
    await send(tc, 'c1'); // 6
    await tc.sendOffsets(inside, [{ topic: t, partitions: [{ partition: 0, offset: '2' }] }]);
    await tc.commit(); // marker 7
    for (const p of [a!, b!, c!]) await p.disconnect();
    await until('the last transaction marker', async () => (await admin.topicOffsets(t))[0]?.high === '8');
    for (const r of [await read(t), await read(t, { groupId: inside })]) {
      await until('the end past the last marker', () => r.reached(0) >= 8n);
      expect(r.records().map((m) => m.value?.toString())).toEqual(['c1']);
      await r.consumer.disconnect();
    }
  });

  it("initTransactions fences the id's previous holder at once: its open transaction can no longer commit", async () => {
    const t = await topic();
    const id = `contract-${randomUUID()}`;
    const old = kafka.producer({ transactionalId: id });
    await old.connect();
    const tx = await old.transaction();
    await tx.send([{ topic: t, key: 'z', value: Buffer.from('zombie') }]);
    // The new holder claims the id before any transaction of its own: the coordinator aborts the old one.
    const successor = kafka.producer({ transactionalId: id });
    await successor.connect();
    await successor.initTransactions();
    await expect(tx.commit()).rejects.toThrow();
    await old.disconnect().catch(() => undefined);
    const next = await successor.transaction();
    await next.send([{ topic: t, key: 'a', value: Buffer.from('a') }]);
    await next.commit();
    await successor.disconnect();
    const r = await read(t);
    await until("the successor's record", () => r.records().length >= 1);
    expect(r.records().map((m) => m.value?.toString())).toEqual(['a']);
    await r.consumer.disconnect();
  });

  it('seek after run: reading starts at the offset asked for', async () => {
    const t = await topic();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send(
      Array.from({ length: 6 }, (_, i) => ({ topic: t, key: null, value: Buffer.from(`${i}`) })),
    );
    await producer.disconnect();
    const c = kafka.consumer({ groupId: group(), readCommitted: true, maxWaitMs: 250 });
    consumers.push(c);
    const offsets: string[] = [];
    await c.connect();
    await c.subscribe([t], { fromBeginning: true });
    await c.run({ eachBatch: async (b) => void offsets.push(...b.records.map((m) => m.offset)) });
    c.seek(t, 0, '3');
    await until('offset 5', () => offsets.includes('5'));
    expect(offsets.slice(offsets.lastIndexOf('3'))).toEqual(['3', '4', '5']);
    await c.disconnect();
  });

  it('an unreachable broker is KAFKA_UNAVAILABLE, retryable', async () => {
    const away = createKafka(
      { ...config, kafka: { ...config.kafka, brokers: ['127.0.0.1:1'], connectTimeoutMs: 2_000 } },
      log,
    );
    const a = away.admin({ retries: 0 });
    const error = await a
      .connect()
      .then(() => a.listTopics())
      .then(
        () => undefined,
        (e: unknown) => mapKafkaError(e, ['127.0.0.1:1'], 'listing topics'),
      );
    await a.disconnect().catch(() => undefined);
    expect(error?.code).toBe('KAFKA_UNAVAILABLE');
    expect(error?.retryable).toBe(true);
  });
});
