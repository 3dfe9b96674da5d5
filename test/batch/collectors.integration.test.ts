// The collectors on the real broker, registry, MariaDB and Redis: a run writes external.* (readable by any consumer
// with the registry) and the feature store (MySQL rows with is_real_time = false, Redis latest values); a second run
// of the same range leaves the ml_feature_store row count unchanged; a failing provider writes nothing; and the
// historical collector's aggregates of id_transactions / id_item_master match hand-computed values.
// The file gets its own database (tagstream_test_<id>, dropped after), topics and Redis prefix.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeScans, type SourcedScan } from '../../src/app/history-sink.ts';
import { runCollector, type CollectorName } from '../../src/batch/collectors.ts';
import { parseIsoDay, type DayRange } from '../../src/batch/records.ts';
import { createCollectorRuntime, type CollectorRuntime } from '../../src/batch/runtime.ts';
import { createSql, type Sql } from '../../src/io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import type { RfidScan, WeatherObservation } from '../../src/schemas/types.ts';
import { createFeatureStore } from '../../src/store/feature-store.ts';
import {
  createTestDatabase,
  dropTestDatabase,
  HINT,
  readTopic,
  requireStack,
  testConfig,
  testDatabaseUrl,
  testKafka,
} from '../helpers/stack.ts';
import { FIXTURES, captureLog } from './fakes.ts';

const id = randomUUID().slice(0, 8);
const base = testConfig();
const MYSQL_URL = testDatabaseUrl(base, id);
const PREFIX = `t-${id}:`;
const config = testConfig({
  mysql: { url: MYSQL_URL },
  topics: {
    weather: `t-${id}.external.weather`,
    economic: `t-${id}.external.economic`,
    calendar: `t-${id}.external.calendar`,
  },
  featureStore: { redisPrefix: PREFIX },
  collectors: { sourceDir: join(FIXTURES, 'external'), retries: 2, retryBaseMs: 1, retryMaxMs: 2 },
});
const day = (s: string): number => parseIsoDay(s)!;
const JUNE: DayRange = { from: day('2026-06-01'), to: day('2026-06-03') };

let sql: Sql;
let kafka: Kafka;
let admin: Admin;
let redis: Redis;
let runtime: CollectorRuntime;
const logs = captureLog();

beforeAll(async () => {
  await requireStack(config);
  await createTestDatabase(MYSQL_URL);
  sql = createSql(MYSQL_URL);
  redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
  } catch (e) {
    throw new Error(`Redis at ${config.redis.url} is not reachable (${(e as Error).message}): ${HINT}`);
  }
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  runtime = await createCollectorRuntime(config, { log: logs.log });
});

afterAll(async () => {
  await runtime?.close();
  await admin
    ?.deleteTopics({ topics: [config.topics.weather, config.topics.economic, config.topics.calendar] })
    .catch(() => undefined);
  await admin?.disconnect();
  if (redis) {
    const keys = await redis.keys(`${PREFIX}*`);
    if (keys.length) await redis.unlink(...keys);
    redis.disconnect();
  }
  await dropTestDatabase(sql, MYSQL_URL);
  await sql?.end();
});

async function rows(where = '1', params: unknown[] = []): Promise<number> {
  const [r] = await sql.query<{ n: number }>(
    `SELECT COUNT(*) AS n FROM ml_feature_store WHERE ${where}`,
    params,
  );
  return Number(r!.n);
}

async function value(
  entity: string,
  feature: string,
  date: string,
  window = '',
): Promise<number | undefined> {
  const [r] = await sql.query<{ v: number }>(
    `SELECT feature_value AS v FROM ml_feature_store
      WHERE target_entity = ? AND feature_name = ? AND window_name = ? AND feature_timestamp = ?`,
    [entity, feature, window, `${date} 00:00:00.000`],
  );
  return r?.v;
}

const run = (name: CollectorName, range: DayRange) => runCollector(name, range, runtime.deps);

describe('external collectors', () => {
  it('write external.* and the feature store; a second run changes no row count', async () => {
    const weather = await run('weather', JUNE);
    const economic = await run('economic', JUNE);
    const calendar = await run('calendar', JUNE);
    expect([weather, economic, calendar].map((r) => [r.ok, r.published, r.features])).toEqual([
      [true, 6, 18],
      [true, 1, 3],
      [true, 4, 36],
    ]);
    const total = await rows();
    expect(total).toBe(18 + 3 + 36);
    expect(await rows('is_real_time = 0')).toBe(total);
    expect(await value('S2', 'precipitation_in', '2026-06-01')).toBe(0.12);
    expect(await value('global', 'consumer_confidence', '2026-06-01')).toBe(101.2);
    expect(await value('S2', 'days_to_next_event', '2026-06-03')).toBe(31);
    expect(await value('S3', 'is_wedding_season', '2026-06-02')).toBe(1);

    // Any consumer with the registry reads the records.
    const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
    const records = await readTopic(kafka, config.topics.weather, 6);
    expect(records).toHaveLength(6);
    const decoded = await Promise.all(
      records.map(async (m) => (await serde.decode(m.value)) as WeatherObservation),
    );
    const s1 = decoded.find((w) => w.location === 'S1' && w.date === day('2026-06-01'));
    expect(s1).toMatchObject({ temperature_f: 71.5, humidity_pct: 55, source: 'file:weather.jsonl' });
    expect(records.find((m) => m.key?.toString() === 'S2')).toBeDefined();

    // The online store serves the newest day.
    const store = createFeatureStore({ mysqlUrl: MYSQL_URL, redisUrl: config.redis.url, prefix: PREFIX });
    try {
      expect(await store.getFeatures('S1', [{ name: 'temperature_f' }, { name: 'month' }])).toEqual({
        temperature_f: 73.4,
        month: 6,
      });
    } finally {
      await store.close();
    }

    // Idempotent: the same ranges again write the same keys.
    for (const name of ['weather', 'economic', 'calendar'] as const)
      expect((await run(name, JUNE)).ok).toBe(true);
    expect(await rows()).toBe(total);
  });

  it('a failing provider writes nothing and says which values stay', async () => {
    const before = await rows();
    const failing = await createCollectorRuntime(config, {
      log: logs.log,
      sourceDir: join(FIXTURES, 'missing'),
      publisher: runtime.deps.publisher,
    });
    try {
      const r = await runCollector(
        'weather',
        { from: day('2026-06-04'), to: day('2026-06-04') },
        failing.deps,
      );
      expect(r).toMatchObject({ ok: false, attempts: 1 });
      expect(r.error?.code).toBe('PROVIDER_MISSING');
    } finally {
      await failing.close();
    }
    expect(await rows()).toBe(before);
    const line = logs.lines.filter((l) => l.level === 50).at(-1)!.msg;
    expect(line).toMatch(
      /^collector weather failed after 1 try: PROVIDER_MISSING .*missing\/weather\.jsonl does not exist/,
    );
    expect(line).toMatch(/; last good values from 2026-06-03 stay in place$/);
  });
});

describe('historical collector', () => {
  it('aggregates per class and store over the window and per item, idempotently', async () => {
    const topic = `hist-${id}`;
    const t = (d: string, h = 12): number => day(d) * 86_400_000 + h * 3_600_000;
    const scans: RfidScan[] = [];
    const add = (tag: string, cls: string, store: string, type: string, time: number, grade = 4) =>
      scans.push({
        tag_id: tag,
        rental_class_num: cls,
        scan_type: type,
        scan_date: time,
        reader_id: 'R1',
        store_id: store,
        quality_grade: grade,
        notes: null,
      });
    // TENT at S1, window [2026-03-03, 2026-06-01): two tents.
    add(`${id}-t1`, 'TENT', 'S1', 'out', t('2026-02-01')); // before the window: ltd only
    add(`${id}-t1`, 'TENT', 'S1', 'repair', t('2026-02-10'), 3); // before the window: repair_count
    add(`${id}-t1`, 'TENT', 'S1', 'out', t('2026-05-01'), 5);
    add(`${id}-t1`, 'TENT', 'S1', 'out', t('2026-05-01') + 1_000, 5); // second read at the door: not a rental
    add(`${id}-t1`, 'TENT', 'S1', 'damage', t('2026-05-03'), 2);
    add(`${id}-t2`, 'TENT', 'S1', 'out', t('2026-04-01'), 4);
    add(`${id}-t2`, 'TENT', 'S1', 'return', t('2026-04-03'), 3);
    add(`${id}-t2`, 'TENT', 'S1', 'out', t('2026-06-01', 9)); // on the snapshot day: after it
    // CHAIR at S2: one chair, no scans in the window.
    add(`${id}-c1`, 'CHAIR', 'S2', 'in', t('2025-12-01'), 5);
    const batch: SourcedScan[] = scans.map((s, i) => ({ scan: s, topic, partition: 0, offset: String(i) }));
    await storeScans(sql, batch, { dedupWindowMs: config.windows.dedupWindowMs, now: t('2026-06-01', 10) });

    const snapshot = { from: day('2026-06-01'), to: day('2026-06-01') };
    const before = await rows();
    const r = await run('historical', snapshot);
    expect(r).toMatchObject({ ok: true, rows: 1, published: 0 });
    const tent = `S1|TENT`;
    // In the window: outs t1 05-01, t2 04-01 (the door re-read and 06-01 excluded) = 2 over 90 days.
    expect(await value(tent, 'demand_rate', '2026-06-01', '90d')).toBeCloseTo(2 / 90, 12);
    // One damage per two rentals.
    expect(await value(tent, 'damage_rate', '2026-06-01', '90d')).toBe(0.5);
    // Grades of counted window scans: 5 (out), 2 (damage), 4 (out), 3 (return).
    expect(await value(tent, 'mean_quality_grade', '2026-06-01', '90d')).toBe(3.5);
    expect(await value(tent, 'items_count', '2026-06-01')).toBe(2);
    expect(await value('S2|CHAIR', 'demand_rate', '2026-06-01', '90d')).toBe(0);
    expect(await value('S2|CHAIR', 'mean_quality_grade', '2026-06-01', '90d')).toBeUndefined();
    expect(await value('S2|CHAIR', 'items_count', '2026-06-01')).toBe(1);
    expect(await value(`${id}-t1`, 'turnover_ltd', '2026-06-01')).toBe(2);
    expect(await value(`${id}-t1`, 'turnover_ytd', '2026-06-01')).toBe(2);
    expect(await value(`${id}-t1`, 'repair_count', '2026-06-01')).toBe(1);
    expect(await value(`${id}-t2`, 'turnover_ltd', '2026-06-01')).toBe(1);
    expect(await value(`${id}-c1`, 'turnover_ltd', '2026-06-01')).toBe(0);
    const written = (await rows()) - before;
    expect(written).toBe(r.features);
    expect(await rows("data_source = 'historical' AND is_real_time = 1")).toBe(0);

    expect((await run('historical', snapshot)).ok).toBe(true);
    expect((await rows()) - before).toBe(written);
  });
});
