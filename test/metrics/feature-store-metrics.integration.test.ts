// The feature store's latency hooks on the real MariaDB and Redis, into prom-client histograms: one read
// observation per call and operation, one write observation per store and batch (none offline for a batch of
// online-only windows). The file's database is its own (tagstream_test_<id>, dropped after), and so is its Redis prefix.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import { createSql } from '../../src/io/mysql/pool.ts';
import { createMetricsRegistry, prometheusFeatureStoreMetrics } from '../../src/metrics/prometheus.ts';
import type { FeatureVector } from '../../src/schemas/types.ts';
import {
  createFeatureStore,
  featureStoreOptions,
  type FeatureStoreHandle,
} from '../../src/store/feature-store.ts';
import { createTestDatabase, dropTestDatabase, testDatabaseUrl } from '../helpers/stack.ts';

const base = loadConfig();
const MYSQL_URL = testDatabaseUrl(base, randomUUID().slice(0, 8));
const PREFIX = `t-${randomUUID().slice(0, 8)}:`;
const T0 = Date.UTC(2026, 0, 1);
const registry = createMetricsRegistry(false);
let store: FeatureStoreHandle;

const feature = (entity: string, name: string, window: string | null, value: number): FeatureVector => ({
  entity_id: entity,
  entity_type: 'class',
  feature_name: name,
  feature_value: value,
  feature_type: 'demand',
  timestamp: T0,
  window,
  window_start: null,
  window_end: null,
  confidence: 1,
  source: 'test',
});

beforeAll(async () => {
  await createTestDatabase(MYSQL_URL);
  const config = {
    ...base,
    mysql: { url: MYSQL_URL },
    featureStore: { ...base.featureStore, redisPrefix: PREFIX },
  };
  store = createFeatureStore(
    featureStoreOptions(config, { metrics: prometheusFeatureStoreMetrics(registry) }),
  );
});

afterAll(async () => {
  await store?.close();
  const redis = new Redis(base.redis.url);
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.unlink(...keys);
  redis.disconnect();
  const sql = createSql(MYSQL_URL);
  await dropTestDatabase(sql, MYSQL_URL);
  await sql.end();
});

const sample = async (series: string): Promise<number> => {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
};

describe('feature store latency hooks', () => {
  it('time every write per store and every read per operation', async () => {
    const e = `S1|TENT-${randomUUID().slice(0, 6)}`;
    await store.write([feature(e, 'rentals', '1d', 3), feature(e, 'rentals', '1m', 1)]);
    // Only an online-only window (1m, 5m by default) and a value no model reads (offlineFeatures: models): nothing
    // for the offline log, so no offline observation.
    await store.write([feature(e, 'rentals', '5m', 2), feature(e, 'rentals', '1h', 4)]);
    await store.getFeatures(e, [{ name: 'rentals', window: '1d' }]);
    await store.getFeatureMatrix([e], [{ name: 'rentals', window: '5m' }]);
    await store.getTrainingFrame(
      [{ entityId: e, timestamp: T0 + 1, label: 1 }],
      [{ name: 'rentals', window: '1d' }],
    );

    expect(await sample('tagstream_feature_store_write_seconds_count{store="offline"}')).toBe(1);
    expect(await sample('tagstream_feature_store_write_seconds_count{store="online"}')).toBe(2);
    expect(await sample('tagstream_feature_store_read_seconds_count{operation="get_features"}')).toBe(1);
    expect(await sample('tagstream_feature_store_read_seconds_count{operation="get_feature_matrix"}')).toBe(
      1,
    );
    expect(await sample('tagstream_feature_store_read_seconds_count{operation="get_training_frame"}')).toBe(
      1,
    );
    expect(await sample('tagstream_feature_store_write_seconds_sum{store="online"}')).toBeGreaterThan(0);
  });
});
