// Integration-test helpers: config for the real stack with per-test random topic and group names, a hint when
// a service is down, and small Kafka utilities (produce, wait for committed offsets, read a topic to the end).
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { loadConfig, parseConfig, rawConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { migrate } from '../../src/io/mysql/migrate.ts';
import { splitDatabase, type Sql } from '../../src/io/mysql/pool.ts';
import { command, createRedisClient, type RedisClient } from '../../src/io/redis/client.ts';
import { tcpReachable, parseHostPort } from '../../src/io/net/tcp.ts';

export const HINT = 'is the stack up? run `npm run stack -- up` (npm test does it for you)';

/** The configured stack, with topic names and group unique to this test. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  const base = loadConfig();
  const id = randomUUID().slice(0, 8);
  const raw = rawConfig(process.env);
  return parseConfig({
    ...raw,
    ...overrides,
    // Every topic of the test is its own, so runs never read each other's records.
    topics: {
      scans: `t-${id}.rfid.scans`,
      transactions: `t-${id}.pos.transactions`,
      featuresRealtime: `t-${id}.features.realtime`,
      featuresWindowed: `t-${id}.features.windowed`,
      classEvents: `t-${id}.class-events`,
      weather: `t-${id}.external.weather`,
      economic: `t-${id}.external.economic`,
      calendar: `t-${id}.external.calendar`,
      predictionsPrefix: `t-${id}.predictions.`,
      alerts: `t-${id}.alerts`,
      modelVersions: `t-${id}.models.versions`,
      ...(overrides['topics'] as object | undefined),
    },
    pipeline: { groupId: `t-${id}-group`, ...(overrides['pipeline'] as object | undefined) },
    featureStore: { redisPrefix: `t-${id}:`, ...(overrides['featureStore'] as object | undefined) },
    metrics: { port: 0 },
    kafka: { ...base.kafka },
  });
}

/** Fails fast with a hint when Kafka or the registry is not there. */
export async function requireStack(config: Config): Promise<void> {
  const { host, port } = parseHostPort(config.kafka.brokers[0] ?? '');
  if (!(await tcpReachable(host, port)))
    throw new Error(`Kafka at ${host}:${port} is not reachable: ${HINT}`);
  const ok = await fetch(`${config.schemaRegistry.url}/subjects`)
    .then((r) => r.ok)
    .catch(() => false);
  if (!ok) throw new Error(`schema registry at ${config.schemaRegistry.url} is not reachable: ${HINT}`);
}

export function testKafka(config: Config): Kafka {
  process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
  return new Kafka({ brokers: config.kafka.brokers, clientId: 'tagstream-test', logLevel: logLevel.NOTHING });
}

export async function endOffsets(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  const offs = await admin.fetchTopicOffsets(topic);
  return new Map(offs.map((o) => [o.partition, BigInt(o.high)]));
}

/** Waits until the group has committed every source partition up to its end offset. */
export async function waitForCommitted(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let done = true;
    for (const topic of topics) {
      const ends = await endOffsets(admin, topic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      for (const [p, end] of ends) {
        const c = committed?.partitions.find((x) => x.partition === p)?.offset ?? '-1';
        if (BigInt(c) < end) done = false;
      }
    }
    if (done) return;
    if (Date.now() > deadline)
      throw new Error(
        `group ${groupId} did not commit ${topics.join(', ')} to the end within ${timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Reads a topic from the beginning with a fresh group (read_committed) until `expected` records or the timeout. */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  expected: number,
  timeoutMs = 60_000,
): Promise<Array<{ key: Buffer | null; value: Buffer | null; partition: number; offset: string }>> {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, readUncommitted: false });
  const out: Array<{ key: Buffer | null; value: Buffer | null; partition: number; offset: string }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages)
        out.push({ key: m.key, value: m.value, partition: batch.partition, offset: m.offset });
    },
  });
  const deadline = Date.now() + timeoutMs;
  while (out.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  // A little longer, to catch records beyond the expected count.
  await new Promise((r) => setTimeout(r, 1_000));
  await consumer.disconnect();
  return out;
}

/** The config's topic names, pipeline group and feature-store prefix as TAGSTREAM__ variables for a child process. */
export function configEnv(config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.topics)) env[`TAGSTREAM__topics__${k}`] = JSON.stringify(v);
  env['TAGSTREAM__pipeline__groupId'] = JSON.stringify(config.pipeline.groupId);
  env['TAGSTREAM__featureStore__redisPrefix'] = JSON.stringify(config.featureStore.redisPrefix);
  env['MYSQL_URL'] = config.mysql.url;
  return env;
}

/** A database of the test's own on the configured server, `tagstream_test_<id>`; create it with createTestDatabase. */
export function testDatabaseUrl(config: Config, id: string = randomUUID().slice(0, 8)): string {
  const { serverUrl } = splitDatabase(config.mysql.url);
  return `${serverUrl.replace(/\/$/, '')}/tagstream_test_${id}`;
}

/** Drops a test's database through one of its connections (none: the test never got that far). */
export async function dropTestDatabase(sql: Sql | undefined, url: string): Promise<void> {
  await sql?.execute(`DROP DATABASE IF EXISTS \`${splitDatabase(url).database}\``);
}

/** Creates the database with every migration, or fails with a hint when the server is not usable. */
export async function createTestDatabase(url: string): Promise<void> {
  try {
    await migrate(url);
  } catch (e) {
    throw new Error(
      `MariaDB/MySQL at ${splitDatabase(url).serverUrl} is not usable (${(e as Error).message}): ${HINT}`,
    );
  }
}

/** A Redis client on the stack's Redis, checked with a PING: an unreachable Redis fails with the stack hint. */
export async function connectTestRedis(config: Config): Promise<RedisClient> {
  const redis = createRedisClient(config.redis.url, { maxRetriesPerRequest: 0 });
  try {
    await redis.pipeline([command('ping')]);
  } catch (e) {
    await redis.close().catch(() => undefined);
    throw new Error(`Redis at ${config.redis.url} is not reachable (${(e as Error).message}): ${HINT}`);
  }
  return redis;
}
