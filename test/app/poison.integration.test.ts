// No poison pill anywhere: garbage, records with an unknown schema id, oversized values and oversized keys written
// into every partition of every topic the job consumes (sources, clean topics, class events, feature rows,
// predictions) go to dlq.<topic> with their reason code from every consumer group that reads the topic, and each
// group goes on: good scans written after the garbage reach id_transactions through the history sink, which reads
// the clean scans behind the garbage. Real Kafka, schema registry, MariaDB and Redis; the job in process.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dlqTopic } from '../../config/topics.ts';
import { startJob, type RunningJob } from '../../src/app/job.ts';
import { createSql, type Sql } from '../../src/io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { encodeWire } from '../../src/io/registry/wire.ts';
import { createLogger } from '../../src/log.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { DeadLetter, RfidScan } from '../../src/schemas/types.ts';
import { sampleScan } from '../helpers/ingest.ts';
import {
  createTestDatabase,
  dropTestDatabase,
  readTopic,
  requireStack,
  testConfig,
  testDatabaseUrl,
  testKafka,
} from '../helpers/stack.ts';

const MYSQL_URL = testDatabaseUrl(testConfig(), randomUUID().slice(0, 8));
const config = testConfig({ mysql: { url: MYSQL_URL } });
const log = createLogger('poison-test', 'silent');

/** The bad records written into each partition of a topic, by key, with the reason each must be dead-lettered for. */
const BAD: { kind: string; code: string; key: (topic: string, p: number) => string; value: () => Buffer }[] =
  [
    {
      kind: 'garbage',
      code: 'DECODE_MAGIC_BYTE',
      key: (t, p) => `bad-${t}-${p}-garbage`,
      // Never the wire format's magic byte 0 first: random bytes that start with it are an unknown schema id instead.
      value: () => Buffer.concat([Buffer.from([0xff]), randomBytes(39)]),
    },
    {
      kind: 'unknown id',
      code: 'DECODE_UNKNOWN_SCHEMA',
      key: (t, p) => `bad-${t}-${p}-unknown`,
      value: () => encodeWire(987_654_321, Buffer.from([2, 65, 66])),
    },
    {
      kind: 'oversized value',
      code: 'RECORD_TOO_LARGE',
      key: (t, p) => `bad-${t}-${p}-large`,
      value: () => Buffer.alloc(70_000, 1),
    },
    {
      kind: 'oversized key',
      code: 'KEY_TOO_LONG',
      key: (t, p) => `bad-${t}-${p}-`.padEnd(300, 'k'),
      value: () => Buffer.from('x'),
    },
  ];

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let sql: Sql;
let job: RunningJob | undefined;

beforeAll(async () => {
  await requireStack(config);
  await createTestDatabase(MYSQL_URL);
  sql = createSql(MYSQL_URL);
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
});

afterAll(async () => {
  await job?.stop();
  await producer?.disconnect();
  await admin?.disconnect();
  await dropTestDatabase(sql, MYSQL_URL);
  await sql?.end();
});

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const scansStored = async (): Promise<number> =>
  Number((await sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM id_transactions'))[0]?.n ?? 0);

describe('poison pills', () => {
  it('every consumer group dead-letters bad records in every topic it reads and goes on', async () => {
    job = await startJob(config, { streams: true, serving: true }, { log, serveMetrics: false });
    const runners = [job.main?.runner, ...(job.main?.sinks ?? []), job.serving?.pipeline.runner].filter(
      (r) => r !== undefined,
    );
    const readers = new Map<string, string[]>(); // topic -> groups reading it
    for (const r of runners)
      for (const t of r.consumes.topics) readers.set(t, [...(readers.get(t) ?? []), r.consumes.groupId]);
    expect(readers.size).toBeGreaterThanOrEqual(8);

    const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
    const encode = await serde.encoderFor<RfidScan>(config.topics.scans, loadSchema('rfidScan'));
    const good = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => {
        const scan = sampleScan({ tag_id: `TAG-${from + i}`, scan_type: i % 2 ? 'return' : 'out' });
        return { key: scan.tag_id, value: encode(scan) };
      });

    // Good scans first, all the way into id_transactions.
    await producer.send({ topic: config.topics.scans, messages: good(40, 0) });
    await waitFor(
      'the first good scans in id_transactions',
      async () => (await scansStored()) === 40,
      90_000,
    );

    // Bad records into every partition of every consumed topic.
    const expected = new Map<string, Map<string, string>>(); // topic -> key -> code
    for (const topic of readers.keys()) {
      const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.map(
        (p) => p.partitionId,
      );
      const byKey = new Map<string, string>();
      for (const p of partitions)
        for (const b of BAD) {
          byKey.set(b.key(topic, p), b.code);
          await producer.send({
            topic,
            messages: [{ partition: p, key: b.key(topic, p), value: b.value() }],
          });
        }
      expected.set(topic, byKey);
    }

    // Good scans after the bad ones get through every stage behind them.
    await producer.send({ topic: config.topics.scans, messages: good(40, 40) });
    await waitFor(
      'the later good scans in id_transactions',
      async () => (await scansStored()) === 80,
      120_000,
    );

    // Each group that reads a topic dead-letters each bad record in it once, with its reason.
    for (const [topic, byKey] of expected) {
      const groups = readers.get(topic)!;
      const want = byKey.size * groups.length;
      const dead = await readTopic(kafka, dlqTopic(config.topics, topic), want, 120_000);
      const letters = await Promise.all(dead.map(async (d) => (await serde.decode(d.value)) as DeadLetter));
      const seen = new Map<string, string[]>();
      for (const l of letters) {
        const key = l.key?.toString() ?? '';
        const match = [...byKey.keys()].find((k) => k === key || k.startsWith(key));
        expect(
          match,
          `${topic}: an unexpected dead letter (${l.error_code}) ${key.slice(0, 40)}`,
        ).toBeDefined();
        expect(l.error_code, `${topic} ${key.slice(0, 40)}`).toBe(byKey.get(match!));
        seen.set(match!, [...(seen.get(match!) ?? []), l.pipeline]);
      }
      for (const key of byKey.keys())
        expect(
          seen.get(key)?.length,
          `${topic}: ${key.slice(0, 40)} dead-lettered by each of ${groups.length} groups`,
        ).toBe(groups.length);
    }
  }, 400_000);
});
