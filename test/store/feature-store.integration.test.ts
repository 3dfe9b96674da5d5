// The feature store on the real MariaDB and Redis: idempotent writes, newest-by-event-time online values, TTLs, one
// round trip for a 1,000 x 20 matrix (counted at the socket and on the server with MONITOR), and point-in-time
// correct training frames (property-based, against a brute-force as-of).
// Each file gets its own database (tagstream_test_<id>, dropped after); each test its own Redis prefix and entities.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import { createSql, type Sql } from '../../src/io/mysql/pool.ts';
import type { FeatureVector } from '../../src/schemas/types.ts';
import { defaultValue } from '../../src/store/defaults.ts';
import { createFeatureStore, trainedOn, type FeatureStoreHandle } from '../../src/store/feature-store.ts';
import {
  createOnlineStore,
  encodeValue,
  entityKey,
  featureField,
  foldNewest,
  takesOver,
  versionKey,
  type OnlineStore,
  type OnlineValue,
  type OnlineVersions,
} from '../../src/store/online.ts';
import { createRedisClient } from '../../src/io/redis/client.ts';
import type { FeatureRef } from '../../src/features/keys.ts';
import { rejectionOf } from '../helpers/errors.ts';
import { createTestDatabase, dropTestDatabase, HINT, testDatabaseUrl } from '../helpers/stack.ts';

const config = loadConfig();
const MYSQL_URL = testDatabaseUrl(config, randomUUID().slice(0, 8));
const REDIS_URL = config.redis.url;
const T0 = Date.UTC(2026, 0, 1);

let sql: Sql;
let admin: Redis;

beforeAll(async () => {
  await createTestDatabase(MYSQL_URL);
  sql = createSql(MYSQL_URL);
  admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(`Redis at ${REDIS_URL} is not reachable (${(e as Error).message}): ${HINT}`);
  }
});

afterAll(async () => {
  await dropTestDatabase(sql, MYSQL_URL);
  await sql?.end();
  admin?.disconnect();
});

/** Deletes every key under the prefix. */
async function dropPrefix(prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

interface TestStore {
  readonly store: FeatureStoreHandle;
  readonly prefix: string;
  /** Unique per test: entity ids start with it, so row counts see only this test's rows. */
  readonly ns: string;
  readonly connectionName: string;
}

/** A store with a random Redis prefix, closed and cleaned up when the test ends. */
function testStore(
  ctx: TestContext,
  options: {
    ttlSeconds?: number;
    redisUrl?: string;
    onlineOnlyWindows?: string[];
    offline?: (f: FeatureVector) => boolean;
    versions?: OnlineVersions;
  } = {},
): TestStore {
  const id = randomUUID().slice(0, 8);
  const prefix = `t-${id}:`;
  const connectionName = `fs-test-${id}`;
  const store = createFeatureStore({
    mysqlUrl: MYSQL_URL,
    redisUrl: options.redisUrl ?? REDIS_URL,
    prefix,
    ttlSeconds: options.ttlSeconds ?? 3600,
    redisConnectionName: connectionName,
    ...(options.onlineOnlyWindows ? { onlineOnlyWindows: options.onlineOnlyWindows } : {}),
    ...(options.offline ? { offline: options.offline } : {}),
    ...(options.versions ? { versions: options.versions } : {}),
  });
  ctx.onTestFinished(async () => {
    await store.close();
    await dropPrefix(prefix);
  });
  return { store, prefix, ns: `e-${id}`, connectionName };
}

function fv(
  entity: string,
  name: string,
  timestamp: number,
  value: number,
  window: string | null = null,
): FeatureVector {
  return {
    entity_id: entity,
    entity_type: 'item',
    feature_name: name,
    feature_value: value,
    feature_type: 'numeric',
    timestamp,
    window,
    window_start: window === null ? null : timestamp - 3_600_000,
    window_end: window === null ? null : timestamp,
    confidence: 1,
    source: 'test',
  };
}

async function rowCount(ns: string): Promise<number> {
  const [r] = await sql.query<{ n: number }>(
    'SELECT COUNT(*) AS n FROM ml_feature_store WHERE target_entity LIKE ?',
    [`${ns}%`],
  );
  return Number(r!.n);
}

describe('write and read back', () => {
  it('keeps online-only windows out of the offline log but serves them online', async (ctx) => {
    const { store, ns } = testStore(ctx, { onlineOnlyWindows: ['1m'] });
    await store.write([fv(`${ns}-m`, 'rentals', T0, 3, '1m'), fv(`${ns}-m`, 'rentals', T0, 40, '1h')]);
    expect(
      await store.getFeatures(`${ns}-m`, [
        { name: 'rentals', window: '1m' },
        { name: 'rentals', window: '1h' },
      ]),
    ).toEqual({
      'rentals@1m': 3,
      'rentals@1h': 40,
    });
    const rows = await sql.query<{ w: string }>(
      'SELECT window_name AS w FROM ml_feature_store WHERE target_entity = ?',
      [`${ns}-m`],
    );
    expect(rows.map((r) => r.w)).toEqual(['1h']);
  });

  it('keeps in the offline log only what training reads (offlineFeatures: models), and serves everything online', async (ctx) => {
    const { store, ns } = testStore(ctx, { offline: trainedOn('90d') });
    await store.write([
      fv(`${ns}-i`, 'quality_degradation_rate', T0, -1), // an item feature the rental models read from the store
      fv(`${ns}-i`, 'usage_frequency_7d', T0, 0.5), // a rental's usage comes from its scans (ItemHistory): online only
      fv(`${ns}-i`, 'turnover_ltd', T0, 7), // streamed: read by no model, online only
      { ...fv(`${ns}-h`, 'turnover_ltd', T0, 7), source: 'historical' }, // the nightly collector's snapshot: kept
      fv(`${ns}-i`, 'scan_hour', T0, 14), // computed per scan, read by no model
      fv(`${ns}-i`, 'rentals', T0, 4, '1d'), // the demand model's daily rentals
      fv(`${ns}-i`, 'rentals', T0, 1, '1h'), // no model reads hourly rentals
    ]);
    expect(
      await store.getFeatures(`${ns}-i`, [
        { name: 'quality_degradation_rate' },
        { name: 'usage_frequency_7d' },
        { name: 'scan_hour' },
        { name: 'rentals', window: '1d' },
        { name: 'rentals', window: '1h' },
      ]),
    ).toEqual({
      quality_degradation_rate: -1,
      usage_frequency_7d: 0.5,
      scan_hour: 14,
      'rentals@1d': 4,
      'rentals@1h': 1,
    });
    const rows = await sql.query<{ f: string; w: string | null }>(
      'SELECT feature_name AS f, window_name AS w FROM ml_feature_store WHERE target_entity = ? ORDER BY f, w',
      [`${ns}-i`],
    );
    expect(rows.map((r) => `${r.f}@${r.w ?? ''}`)).toEqual(['quality_degradation_rate@', 'rentals@1d']);
    const historical = await sql.query<{ f: string }>(
      'SELECT feature_name AS f FROM ml_feature_store WHERE target_entity = ?',
      [`${ns}-h`],
    );
    expect(historical.map((r) => r.f)).toEqual(['turnover_ltd']);
  });

  it('a value written is served online, stored offline with its millisecond time, and found as of its time', async (ctx) => {
    const { store, ns } = testStore(ctx);
    const t = T0 + 123;
    await store.write([
      fv(`${ns}-a`, 'usage_frequency_7d', t, 0.75),
      fv(`${ns}-a`, 'rental_quantity', t, 12, '1h'),
    ]);
    const refs: FeatureRef[] = [{ name: 'usage_frequency_7d' }, { name: 'rental_quantity', window: '1h' }];
    expect(await store.getFeatures(`${ns}-a`, refs)).toEqual({
      usage_frequency_7d: 0.75,
      'rental_quantity@1h': 12,
    });
    const rows = await sql.query<{ feature_timestamp: Date; window_name: string; feature_value: number }>(
      'SELECT feature_timestamp, window_name, feature_value FROM ml_feature_store WHERE target_entity = ? ORDER BY feature_name',
      [`${ns}-a`],
    );
    expect(rows.map((r) => [r.feature_timestamp.getTime(), r.window_name, r.feature_value])).toEqual([
      [t, '1h', 12],
      [t, '', 0.75],
    ]);
    const [row] = await store.getTrainingFrame([{ entityId: `${ns}-a`, timestamp: t, label: 1 }], refs);
    expect(row).toEqual({
      entityId: `${ns}-a`,
      timestamp: t,
      label: 1,
      features: { usage_frequency_7d: 0.75, 'rental_quantity@1h': 12 },
      featureTimes: { usage_frequency_7d: t, 'rental_quantity@1h': t },
    });
  });

  it('counts one MySQL row per (entity, feature, window, timestamp) written through the store', async (ctx) => {
    const { store, ns } = testStore(ctx);
    const batch = Array.from({ length: 1_234 }, (_, i) =>
      fv(`${ns}-${i % 37}`, `f${i % 3}`, T0 + i, i, i % 2 === 0 ? null : '1d'),
    );
    await store.write(batch);
    expect(await rowCount(ns)).toBe(1_234);
  });

  it('missing values are served as their documented defaults', async (ctx) => {
    const { store, ns } = testStore(ctx);
    expect(
      await store.getFeatures(`${ns}-nobody`, [
        { name: 'temperature_f' },
        { name: 'usage_frequency_7d', window: '1d' },
        { name: 'last_quality_grade' },
        { name: 'rental_quantity' },
      ]),
    ).toEqual({ temperature_f: 70, 'usage_frequency_7d@1d': 0.5, last_quality_grade: 5, rental_quantity: 0 });
  });

  it('rejects a non-finite value before writing anything', async (ctx) => {
    const { store, ns } = testStore(ctx);
    const e = await rejectionOf(store.write([fv(`${ns}-a`, 'x', T0, 1), fv(`${ns}-a`, 'y', T0, Number.NaN)]));
    expect(e.code).toBe('NOT_FINITE');
    expect(await rowCount(ns)).toBe(0);
  });
});

describe('idempotence and ordering', () => {
  it('replaying the same batch twice leaves the row count and the values unchanged', async (ctx) => {
    const { store, ns } = testStore(ctx);
    const batch = Array.from({ length: 1_100 }, (_, i) =>
      fv(`${ns}-${i % 10}`, `f${i % 5}`, T0 + i * 1000, i),
    );
    await store.write(batch);
    const before = await sql.query<{ target_entity: string; feature_value: number }>(
      'SELECT target_entity, feature_name, feature_timestamp, feature_value FROM ml_feature_store WHERE target_entity LIKE ? ORDER BY id',
      [`${ns}%`],
    );
    const online = await store.getFeatureMatrix(
      ['0', '1', '2'].map((i) => `${ns}-${i}`),
      [{ name: 'f0' }, { name: 'f1' }],
    );
    await store.write(batch);
    await store.write([...batch].reverse());
    expect(await rowCount(ns)).toBe(1_100);
    const after = await sql.query(
      'SELECT target_entity, feature_name, feature_timestamp, feature_value FROM ml_feature_store WHERE target_entity LIKE ? ORDER BY id',
      [`${ns}%`],
    );
    expect(after).toEqual(before);
    expect(
      await store.getFeatureMatrix(
        ['0', '1', '2'].map((i) => `${ns}-${i}`),
        [{ name: 'f0' }, { name: 'f1' }],
      ),
    ).toEqual(online);
  });

  it('an older value written after a newer one does not replace it online (both stay offline)', async (ctx) => {
    const { store, ns } = testStore(ctx);
    await store.write([fv(`${ns}-a`, 'temperature_f', T0 + 2_000, 80)]);
    await store.write([fv(`${ns}-a`, 'temperature_f', T0 + 1_000, 60)]);
    expect(await store.getFeatures(`${ns}-a`, [{ name: 'temperature_f' }])).toEqual({ temperature_f: 80 });
    expect(await rowCount(ns)).toBe(2);
    // Within one batch too, and an equal event time is a correction: the later write wins, as in MySQL.
    await store.write([
      fv(`${ns}-a`, 'temperature_f', T0 + 3_000, 90),
      fv(`${ns}-a`, 'temperature_f', T0 + 2_500, 1),
    ]);
    expect(await store.getFeatures(`${ns}-a`, [{ name: 'temperature_f' }])).toEqual({ temperature_f: 90 });
    await store.write([fv(`${ns}-a`, 'temperature_f', T0 + 3_000, 91)]);
    expect(await store.getFeatures(`${ns}-a`, [{ name: 'temperature_f' }])).toEqual({ temperature_f: 91 });
  });

  it('the Lua script keeps what foldNewest says, for random writes in random batches', async (ctx) => {
    const { store, ns, prefix } = testStore(ctx);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ t: fc.integer({ min: 0, max: 20 }), v: fc.integer({ min: -100, max: 100 }) }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer({ min: 1, max: 5 }),
        async (writes, batchSize) => {
          const entity = `${ns}-${run++}`;
          const vectors = writes.map((w) => fv(entity, 'f', T0 + w.t, w.v));
          for (let i = 0; i < vectors.length; i += batchSize)
            await store.write(vectors.slice(i, i + batchSize));
          const expected = foldNewest(writes.map((w): OnlineValue => ({ timestamp: T0 + w.t, value: w.v })));
          expect(await admin.hget(entityKey(prefix, entity), featureField('f', null))).toBe(
            encodeValue(expected!),
          );
        },
      ),
      { numRuns: 40 },
    );
  });
  it('the packed script equals applying each value in turn, over entities, fields and versions sets', async (ctx) => {
    // The script groups a call's values by entity (one HMGET and one HSET per hash). The model applies the values
    // one by one, in call order: takesOver per (entity, field), a version per versioned value (a later one at the
    // same time replacing it), and each set trimmed at the end of every call that wrote to it.
    const versions = { columns: new Set(['v@7d']), horizonMs: 5_000, maxVersions: 4 };
    const redis = createRedisClient(REDIS_URL);
    ctx.onTestFinished(() => redis.close());
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            e: fc.nat(3),
            f: fc.constantFrom(['u', null], ['v', '7d'], ['v', null]),
            t: fc.integer({ min: 0, max: 20 }),
            x: fc.integer({ min: -100, max: 100 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        fc.integer({ min: 1, max: 12 }),
        async (writes, batch) => {
          const prefix = `t-pack-${randomUUID().slice(0, 8)}-${run++}:`;
          ctx.onTestFinished(() => dropPrefix(prefix));
          const online = createOnlineStore(redis, { prefix, ttlSeconds: 3600, writeBatch: batch, versions });
          const vectors = writes.map((w) => fv(`e${w.e}`, w.f[0]!, T0 + w.t * 1_000, w.x, w.f[1]));
          const written = await online.write(vectors);

          const hash = new Map<string, OnlineValue>();
          const sets = new Map<string, Map<number, number>>();
          let taken = 0;
          for (let i = 0; i < vectors.length; i += batch) {
            const touched = new Set<string>();
            for (const f of vectors.slice(i, i + batch)) {
              const field = featureField(f.feature_name, f.window);
              const k = `${f.entity_id}\u0000${field}`;
              const value = { timestamp: f.timestamp, value: f.feature_value };
              if (takesOver(value, hash.get(k) ?? null)) {
                hash.set(k, value);
                taken++;
              }
              if (f.window === '7d') {
                const set = sets.get(k) ?? new Map<number, number>();
                sets.set(k, set.set(f.timestamp, f.feature_value));
                touched.add(k);
              }
            }
            for (const k of touched) {
              const set = sets.get(k)!;
              const times = [...set.keys()].sort((a, b) => a - b);
              const newest = times[times.length - 1]!;
              const older = times.filter((t) => t < newest - versions.horizonMs).pop();
              let kept = older === undefined ? times : times.filter((t) => t >= older);
              kept = kept.slice(Math.max(0, kept.length - versions.maxVersions));
              sets.set(k, new Map(kept.map((t) => [t, set.get(t)!])));
            }
          }
          expect(written).toBe(taken);
          for (const [k, value] of hash) {
            const [entity, field] = k.split('\u0000') as [string, string];
            expect(await admin.hget(entityKey(prefix, entity), field), k).toBe(encodeValue(value));
            expect(await admin.ttl(entityKey(prefix, entity))).toBeGreaterThan(3000);
          }
          for (const [k, set] of sets) {
            const [entity, field] = k.split('\u0000') as [string, string];
            expect(await admin.zrange(versionKey(prefix, entity, field), 0, -1), k).toEqual(
              [...set].sort((a, b) => a[0] - b[0]).map(([t, x]) => encodeValue({ timestamp: t, value: x })),
            );
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('versions: point-in-time online reads', () => {
  /** A second online store on the same prefix, as serving opens it: its own connection, the same versions. */
  function reader(ctx: TestContext, prefix: string, versions: OnlineVersions): OnlineStore {
    const redis = createRedisClient(REDIS_URL);
    ctx.onTestFinished(() => redis.close());
    return createOnlineStore(redis, { prefix, ttlSeconds: 3600, writeBatch: 500, versions });
  }

  it('reads what the offline log (training) reads as of the same time, for random writes in random batches', async (ctx) => {
    const versions = { columns: new Set(['v@7d']), horizonMs: 3_600_000, maxVersions: 512 };
    const { store, ns, prefix } = testStore(ctx, { versions });
    const online = reader(ctx, prefix, versions);
    const refs: FeatureRef[] = [{ name: 'v', window: '7d' }];
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ t: fc.integer({ min: 0, max: 40 }), v: fc.integer({ min: -100, max: 100 }) }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: -2, max: 45 }), { minLength: 1, maxLength: 10 }),
        async (writes, batchSize, times) => {
          const entity = `${ns}-${run++}`;
          const vectors = writes.map((w) => fv(entity, 'v', T0 + w.t * 1_000, w.v, '7d'));
          for (let i = 0; i < vectors.length; i += batchSize)
            await store.write(vectors.slice(i, i + batchSize));
          const points = times.map((t) => ({ entityId: entity, time: T0 + t * 1_000 }));
          const asOf = await online.readAsOf(points, refs);
          const frame = await store.getTrainingFrame(
            points.map((p, i) => ({ entityId: p.entityId, timestamp: p.time, label: i })),
            refs,
          );
          const latest = foldNewest(vectors.map((f) => ({ timestamp: f.timestamp, value: f.feature_value })));
          points.forEach((p, i) => {
            const trained = frame[i]!;
            const expected =
              trained.featureTimes['v@7d'] === null
                ? latest // nothing at or before the time: the latest stands, newer than the time
                : { timestamp: trained.featureTimes['v@7d'], value: trained.features['v@7d'] };
            expect(asOf[i]![0], `as of ${p.time - T0} ms`).toEqual(expected);
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('keeps the versions within the horizon and the newest before it, at most maxVersions, and no others', async (ctx) => {
    const versions = { columns: new Set(['v']), horizonMs: 10_000, maxVersions: 512 };
    const { store, ns, prefix } = testStore(ctx, { versions });
    const online = reader(ctx, prefix, versions);
    const entity = `${ns}-h`;
    // One value a second for 100 s, one write each: the set keeps 89..99 s (within 10 s of the newest) and 88 s
    // (the newest before them: the answer as of 88.5 s).
    for (let t = 0; t < 100; t++) await store.write([fv(entity, 'v', T0 + t * 1_000, t)]);
    const key = versionKey(prefix, entity, featureField('v', null));
    expect(await admin.zrange(key, 0, -1)).toEqual(
      Array.from({ length: 12 }, (_, i) => encodeValue({ timestamp: T0 + (88 + i) * 1_000, value: 88 + i })),
    );
    // The same values in other batches, in another order, leave the same set.
    const other = testStore(ctx, { versions });
    const shuffled = Array.from({ length: 100 }, (_, t) => t).sort(
      (a, b) => ((a * 37) % 100) - ((b * 37) % 100),
    );
    for (let i = 0; i < 100; i += 7)
      await other.store.write(shuffled.slice(i, i + 7).map((t) => fv(entity, 'v', T0 + t * 1_000, t)));
    expect(await admin.zrange(versionKey(other.prefix, entity, featureField('v', null)), 0, -1)).toEqual(
      await admin.zrange(key, 0, -1),
    );
    // Within the horizon every answer is exact.
    const times = Array.from({ length: 11 }, (_, i) => 89 + i);
    const rows = await online.readAsOf(
      times.map((t) => ({ entityId: entity, time: T0 + t * 1_000 + 500 })),
      [{ name: 'v' }],
    );
    expect(rows.map((r) => r[0]!.value)).toEqual(times);
    expect(await admin.ttl(key)).toBeGreaterThan(3000);

    const capped = { columns: new Set(['v']), horizonMs: 3_600_000, maxVersions: 5 };
    const small = testStore(ctx, { versions: capped });
    for (let t = 0; t < 20; t++) await small.store.write([fv(`${small.ns}-c`, 'v', T0 + t * 1_000, t)]);
    expect(await admin.zrange(versionKey(small.prefix, `${small.ns}-c`, 'v|'), 0, -1)).toEqual(
      [15, 16, 17, 18, 19].map((t) => encodeValue({ timestamp: T0 + t * 1_000, value: t })),
    );
  });
});

describe('TTL', () => {
  it('every written entity hash expires after ttlSeconds; a write that changes it refreshes the TTL, a stale one does not', async (ctx) => {
    const { store, ns, prefix } = testStore(ctx, { ttlSeconds: 120 });
    await store.write([fv(`${ns}-a`, 'x', T0 + 10, 1), fv(`${ns}-b`, 'x', T0 + 10, 1)]);
    for (const e of ['a', 'b']) {
      const ttl = await admin.ttl(entityKey(prefix, `${ns}-${e}`));
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
    }
    const key = entityKey(prefix, `${ns}-a`);
    await admin.expire(key, 5);
    await store.write([fv(`${ns}-a`, 'x', T0 + 5, 0)]);
    expect(await admin.ttl(key)).toBeLessThanOrEqual(5);
    await store.write([fv(`${ns}-a`, 'x', T0 + 20, 2)]);
    expect(await admin.ttl(key)).toBeGreaterThan(100);
  });
});

describe('getFeatureMatrix', () => {
  /** Our store connection's address as the server sees it, found by its CLIENT SETNAME. */
  async function clientAddress(connectionName: string): Promise<string> {
    const list = (await admin.client('LIST')) as string;
    const line = list.split('\n').find((l) => l.includes(` name=${connectionName} `));
    const addr = /(?:^| )addr=(\S+)/.exec(line ?? '')?.[1];
    if (!addr) throw new Error(`connection ${connectionName} not in CLIENT LIST`);
    return addr;
  }

  it('reads 1,000 entities x 20 features in exactly one round trip, with defaults for missing values', async (ctx) => {
    const { store, ns, connectionName } = testStore(ctx);
    const names = [
      'temperature_f',
      'humidity_pct',
      'usage_frequency_7d',
      'consumer_confidence',
      'last_quality_grade',
      ...Array.from({ length: 15 }, (_, i) => `f${i}`),
    ];
    const refs: FeatureRef[] = names.map((name, j) => (j % 4 === 3 ? { name, window: '1d' } : { name }));
    const entities = Array.from({ length: 1_000 }, (_, i) => `${ns}-${i}`);
    // Every third entity has nothing; the others miss the first two features.
    const value = (i: number, j: number): number => i * 100 + j + 0.5;
    const batch = entities.flatMap((e, i) =>
      i % 3 === 0
        ? []
        : refs.slice(2).map((r, k) => fv(e, r.name, T0 + i, value(i, k + 2), r.window ?? null)),
    );
    await store.write(batch);
    await store.getFeatures(entities[1]!, refs); // connected, scripts loaded: measure the read alone

    const addr = await clientAddress(connectionName);
    const monitor = await admin.monitor();
    ctx.onTestFinished(() => monitor.disconnect());
    const seen: string[][] = [];
    const marker = `end-${randomUUID()}`;
    let markerSeen: () => void = () => {};
    const markerArrived = new Promise<void>((r) => (markerSeen = r));
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === addr) seen.push(args);
      if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) markerSeen();
    });

    const before = store.redisStats();
    const started = performance.now();
    const m = await store.getFeatureMatrix(entities, refs);
    const ms = performance.now() - started;
    const after = store.redisStats();
    // MONITOR shows commands in execution order: once our marker (sent after the read) is there, so is the read.
    await admin.echo(marker);
    await markerArrived;

    expect(after.roundTrips - before.roundTrips).toBe(1);
    expect(after.socketWrites - before.socketWrites).toBe(1);
    expect(after.commands - before.commands).toBe(1_000);
    expect(seen).toHaveLength(1_000);
    expect(seen.every((a) => a[0]!.toLowerCase() === 'hmget' && a.length === 2 + 20)).toBe(true);
    ctx.annotate(`getFeatureMatrix 1000x20: ${ms.toFixed(1)} ms, 1 round trip, 1000 HMGET on the server`);

    expect(m.entities).toEqual(entities);
    expect(m.columns).toEqual(refs.map((r) => (r.window ? `${r.name}@${r.window}` : r.name)));
    m.rows.forEach((row, i) =>
      row.forEach((v, j) => {
        const missing = i % 3 === 0 || j < 2;
        expect(v).toBe(missing ? defaultValue(refs[j]!.name) : value(i, j));
      }),
    );
    expect(m.rows[0]!.slice(0, 5)).toEqual([70, 50, 0.5, 100, 5]);
  });
});

describe('getTrainingFrame', () => {
  it('is point-in-time correct: no value stamped after its label is used, and the one used is the latest before it', async (ctx) => {
    const { store, ns } = testStore(ctx);
    const refs: FeatureRef[] = [{ name: 'f0' }, { name: 'f1', window: '1h' }, { name: 'f0', window: '1h' }];
    const columns = ['f0', 'f1@1h', 'f0@1h'];
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(
          fc.record({
            e: fc.nat(3),
            r: fc.nat(2),
            t: fc.integer({ min: 0, max: 100 }),
            v: fc.integer({ min: -1_000, max: 1_000 }),
          }),
          { maxLength: 60 },
        ),
        fc.array(fc.record({ e: fc.nat(4), t: fc.integer({ min: -5, max: 105 }) }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer({ min: 1, max: 60 }),
        async (entityCount, history, labelSpecs, batchSize) => {
          const id = `${ns}-${run++}`;
          // Entity index == entityCount is one that never had a value.
          const entity = (e: number): string => `${id}-${e % (entityCount + 1)}`;
          const at = (t: number): number => T0 + t * 1_000;
          const vectors = history
            .filter((h) => h.e % (entityCount + 1) < entityCount)
            .map((h) => fv(entity(h.e), refs[h.r]!.name, at(h.t), h.v, refs[h.r]!.window ?? null));
          for (let i = 0; i < vectors.length; i += batchSize)
            await store.write(vectors.slice(i, i + batchSize));
          const labels = labelSpecs.map((l, i) => ({ entityId: entity(l.e), timestamp: at(l.t), label: i }));

          const frame = await store.getTrainingFrame(labels, refs);

          expect(frame.map((r) => [r.entityId, r.timestamp, r.label])).toEqual(
            labels.map((l) => [l.entityId, l.timestamp, l.label]),
          );
          frame.forEach((row) => {
            refs.forEach((ref, j) => {
              const c = columns[j]!;
              // Brute force: every value of this series at or before the label; the last write of a time wins.
              const candidates = vectors.filter(
                (v) =>
                  v.entity_id === row.entityId &&
                  v.feature_name === ref.name &&
                  v.window === (ref.window ?? null) &&
                  v.timestamp <= row.timestamp,
              );
              const latest = Math.max(...candidates.map((v) => v.timestamp));
              const expected = candidates.filter((v) => v.timestamp === latest).at(-1);
              const usedAt = row.featureTimes[c];
              if (usedAt !== null && usedAt !== undefined) expect(usedAt).toBeLessThanOrEqual(row.timestamp);
              expect([row.features[c], usedAt]).toEqual(
                expected === undefined ? [null, null] : [expected.feature_value, expected.timestamp],
              );
            });
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  it('returns nulls, not defaults, before the first value and for unknown entities', async (ctx) => {
    const { store, ns } = testStore(ctx);
    await store.write([fv(`${ns}-a`, 'temperature_f', T0 + 1_000, 55)]);
    const frame = await store.getTrainingFrame(
      [
        { entityId: `${ns}-a`, timestamp: T0 + 999, label: 0 },
        { entityId: `${ns}-a`, timestamp: T0 + 1_000, label: 1 },
        { entityId: `${ns}-zz`, timestamp: T0 + 5_000, label: 2 },
      ],
      [{ name: 'temperature_f' }],
    );
    expect(frame.map((r) => r.features['temperature_f'])).toEqual([null, 55, null]);
    expect(frame.map((r) => r.featureTimes['temperature_f'])).toEqual([null, T0 + 1_000, null]);
  });
});

describe('failures', () => {
  it('Redis down: MySQL (the source of truth) has the rows, the write fails REDIS_UNAVAILABLE, a retry is idempotent', async (ctx) => {
    const { store, ns } = testStore(ctx, { redisUrl: 'redis://127.0.0.1:1' });
    const e = await rejectionOf(store.write([fv(`${ns}-a`, 'x', T0, 1), fv(`${ns}-b`, 'x', T0, 2)]));
    expect(e.code).toBe('REDIS_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain('start Redis or set REDIS_URL');
    expect(await rowCount(ns)).toBe(2);
    const up = testStore(ctx);
    await up.store.write([fv(`${ns}-a`, 'x', T0, 1), fv(`${ns}-b`, 'x', T0, 2)]);
    expect(await rowCount(ns)).toBe(2);
  });

  it('a script flushed from the server is reloaded and the write still lands', async (ctx) => {
    const { store, ns } = testStore(ctx);
    await store.write([fv(`${ns}-a`, 'x', T0, 1)]);
    await admin.script('FLUSH');
    const before = store.redisStats().roundTrips;
    await store.write([fv(`${ns}-a`, 'x', T0 + 1, 2)]);
    expect(store.redisStats().roundTrips - before).toBe(2); // NOSCRIPT, then SCRIPT LOAD + EVALSHA
    expect(await store.getFeatures(`${ns}-a`, [{ name: 'x' }])).toEqual({ x: 2 });
  });
});

describe('online refill (Redis came back empty)', () => {
  it('writes back the newest value of every series the offline log keeps, in pages, and marks the store', async (ctx) => {
    const { store, prefix, ns } = testStore(ctx, { onlineOnlyWindows: ['1m'] });
    const refs: FeatureRef[] = [{ name: 'usage' }, { name: 'grade' }, { name: 'rate', window: '1h' }];
    // 7 entities (more than a page of 3), each series written out of order, and an online-only window.
    const entities = Array.from({ length: 7 }, (_, i) => `${ns}-${i}`);
    const values: FeatureVector[] = [];
    entities.forEach((e, i) => {
      for (const t of [3, 1, 2]) {
        values.push(fv(e, 'usage', T0 + t * 1000, i * 10 + t));
        values.push(fv(e, 'grade', T0 + t * 2000, i + t / 10));
        values.push(fv(e, 'rate', T0 + t * 3_600_000, i * 100 + t, '1h'));
      }
      values.push(fv(e, 'burst', T0 + 5000, 1, '1m'));
    });
    await store.write(values);
    // A fresh prefix has no marker: the first check fills (from the whole log of this file's database) and marks it.
    await store.ensureOnline();
    const before = await store.getFeatureMatrix(entities, refs);

    await dropPrefix(prefix); // Redis restarted without its data
    expect((await store.getFeatureMatrix(entities, refs)).rows).not.toEqual(before.rows);
    const r = await store.ensureOnline({ pageEntities: 3 });
    // Other tests of this file share the database: at least this test's 7 entities and their 3 logged series.
    expect(r.entities).toBeGreaterThanOrEqual(7);
    expect(r.values).toBeGreaterThanOrEqual(3 * 7);
    expect(await store.getFeatureMatrix(entities, refs)).toEqual(before);
    // The marker is back: the next check does nothing.
    expect((await store.ensureOnline()).values).toBe(0);
    // The online-only window is not in the offline log: it comes back with the next events, not from the refill.
    expect(await admin.hget(entityKey(prefix, entities[0]!), featureField('burst', '1m'))).toBeNull();
  });

  it('never sets back a value the sink wrote after Redis came back', async (ctx) => {
    const { store, prefix, ns } = testStore(ctx);
    const e = `${ns}-x`;
    await store.write([fv(e, 'usage', T0 + 1000, 1)]);
    await dropPrefix(prefix);
    // A newer value arrives online only (as when the offline write is still in flight), then the refill runs.
    await admin.hset(
      entityKey(prefix, e),
      featureField('usage', null),
      encodeValue({ timestamp: T0 + 9000, value: 9 }),
    );
    await store.ensureOnline();
    expect(await store.getFeatures(e, [{ name: 'usage' }])).toEqual({ usage: 9 });
  });
});
