// The prediction cache's Lua scripts on the real Redis: latest and history by event time, the history bound, out-of-
// order and re-delivered predictions, re-predictions of one event, and alerts de-duplicated, capped and counted.
// Each test gets its own key prefix; the keys are deleted after.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command, type RedisClient } from '../../src/io/redis/client.ts';
import {
  createPredictionCache,
  predictionKeys,
  type PredictionCache,
  type PredictionCacheOptions,
} from '../../src/serving/prediction-cache.ts';
import { connectTestRedis, testConfig } from '../helpers/stack.ts';
import { alert, prediction, T0 } from './fakes.ts';

const config = testConfig();
const ROOT = `t-${randomUUID().slice(0, 8)}:`;
const MIN = 60_000;
let redis: RedisClient;

beforeAll(async () => {
  redis = await connectTestRedis(config);
});

afterAll(async () => {
  await redis?.pipeline([
    command(
      'eval',
      "for _, k in ipairs(redis.call('keys', ARGV[1])) do redis.call('del', k) end",
      0,
      `${ROOT}*`,
    ),
  ]);
  await redis?.close();
});

function cacheFor(options: Partial<PredictionCacheOptions> = {}): PredictionCache {
  const prefix = `${ROOT}${randomUUID().slice(0, 4)}:`;
  return createPredictionCache({ redisUrl: config.redis.url, prefix, ...options }, redis);
}

describe('predictions', () => {
  it('latest is the highest event time, whatever the arrival order; history is newest first within [from, to]', async () => {
    const cache = cacheFor();
    const at = (m: number, value: number) =>
      prediction({ event_time: T0 + m * MIN, predicted_at: T0 + m * MIN + 5, prediction: value });
    expect(await cache.write([at(2, 2), at(0, 0), at(3, 3), at(1, 1)])).toBe(4);
    expect((await cache.latest('demand', 'S1|TENT-40x60'))?.prediction).toBe(3);
    expect(await cache.latest('demand', 'other')).toBeUndefined();
    expect(await cache.latest('quality', 'S1|TENT-40x60')).toBeUndefined();
    const values = async (q: Parameters<PredictionCache['range']>[2]) =>
      (await cache.range('demand', 'S1|TENT-40x60', q)).map((p) => p.prediction);
    expect(await values({})).toEqual([3, 2, 1, 0]);
    expect(await values({ from: T0 + MIN, to: T0 + 2 * MIN })).toEqual([2, 1]);
    expect(await values({ from: T0 + MIN + 1 })).toEqual([3, 2]);
    expect(await values({ to: T0 })).toEqual([0]);
    expect(await values({ limit: 2 })).toEqual([3, 2]);
    expect(await values({ from: T0 + 10 * MIN })).toEqual([]);
    expect(await cache.range('demand', 'S1|TENT-40x60', { limit: 1 })).toEqual([at(3, 3)]);
  });

  it('a re-delivered batch changes nothing and is not counted again', async () => {
    const cache = cacheFor();
    const batch = [prediction(), prediction({ service: 'pack', entity_id: 'contract-1' })];
    expect(await cache.write(batch)).toBe(2);
    expect(await cache.write(batch)).toBe(0);
    expect(await cache.write([...batch].reverse())).toBe(0);
    expect(await cache.range('demand', 'S1|TENT-40x60')).toEqual([prediction()]);
    expect((await cache.counts()).predictions).toEqual({ demand: 1, pack: 1 });
  });

  it('an event predicted again keeps one entry: the later predicted_at wins, an earlier one is ignored', async () => {
    const cache = cacheFor();
    await cache.write([prediction({ prediction: 1, predicted_at: T0 + 100 })]);
    expect(await cache.write([prediction({ prediction: 2, predicted_at: T0 + 200 })])).toBe(0);
    expect(await cache.write([prediction({ prediction: 0, predicted_at: T0 + 50 })])).toBe(0);
    const history = await cache.range('demand', 'S1|TENT-40x60');
    expect(history.map((p) => [p.prediction, p.predicted_at])).toEqual([[2, T0 + 200]]);
    expect((await cache.counts()).predictions).toEqual({ demand: 1 });
  });

  it('keeps the newest historyPerEntity per entity; an event older than a full history is not stored or counted', async () => {
    const cache = cacheFor({ historyPerEntity: 3 });
    const at = (m: number) => prediction({ event_time: T0 + m * MIN, prediction: m });
    expect(await cache.write([0, 1, 2, 3, 4].map(at))).toBe(5);
    expect((await cache.range('demand', 'S1|TENT-40x60')).map((p) => p.prediction)).toEqual([4, 3, 2]);
    // Re-delivery of a trimmed entry, and an event older than everything kept: both dropped.
    expect(await cache.write([at(0), at(-5)])).toBe(0);
    // An out-of-order event inside the window takes a place and pushes the oldest out.
    expect(await cache.write([at(2.5)])).toBe(1);
    expect((await cache.range('demand', 'S1|TENT-40x60')).map((p) => p.prediction)).toEqual([4, 3, 2.5]);
    expect((await cache.counts()).predictions).toEqual({ demand: 6 });
  });

  it('the history index and the values hash stay in step when trimming', async () => {
    const prefix = `${ROOT}trim:`;
    const cache = createPredictionCache({ redisUrl: config.redis.url, prefix, historyPerEntity: 2 }, redis);
    await cache.write([1, 2, 3, 4, 5].map((m) => prediction({ event_time: T0 + m })));
    const k = predictionKeys(prefix, 'demand', 'S1|TENT-40x60');
    const [zcard, hlen] = await redis.pipeline([command('zcard', k.history), command('hlen', k.values)]);
    expect([zcard, hlen]).toEqual([2, 2]);
  });

  it('a batch of many entities is one round trip', async () => {
    const cache = cacheFor();
    const before = redis.stats().roundTrips;
    const batch = Array.from({ length: 300 }, (_, i) =>
      prediction({ entity_id: `tag-${i}`, service: 'maintenance' }),
    );
    expect(await cache.write(batch)).toBe(300);
    expect(redis.stats().roundTrips - before).toBe(1);
    expect((await cache.latest('maintenance', 'tag-299'))?.entity_id).toBe('tag-299');
  });
});

describe('alerts', () => {
  it('de-duplicates by alert_id, lists newest first by raised_at, filters, and counts per rule and severity', async () => {
    const cache = cacheFor();
    const a1 = alert({ alert_id: 'a1', raised_at: T0 + 1, severity: 'warning' });
    const a2 = alert({ alert_id: 'a2', raised_at: T0 + 3, severity: 'critical' });
    const a3 = alert({ alert_id: 'a3', raised_at: T0 + 2, rule: 'restock_shortfall', severity: 'critical' });
    expect(await cache.writeAlerts([a1, a2])).toBe(2);
    expect(await cache.writeAlerts([a3, a1, a2])).toBe(1);
    expect(await cache.recentAlerts()).toEqual([a2, a3, a1]);
    expect(await cache.recentAlerts({ limit: 2 })).toEqual([a2, a3]);
    expect(await cache.recentAlerts({ severity: 'critical' })).toEqual([a2, a3]);
    expect(await cache.recentAlerts({ rule: 'maintenance_risk' })).toEqual([a2, a1]);
    expect(await cache.recentAlerts({ rule: 'maintenance_risk', severity: 'info' })).toEqual([]);
    expect((await cache.counts()).alerts).toEqual({
      total: 3,
      bySeverity: { warning: 1, critical: 2 },
      byRule: { maintenance_risk: 2, restock_shortfall: 1 },
    });
  });

  it('keeps the newest recentAlerts with their data, and remembers more ids for de-duplication', async () => {
    const cache = cacheFor({ recentAlerts: 3, alertDedupWindow: 5 });
    const at = (i: number) => alert({ alert_id: `a${i}`, raised_at: T0 + i });
    expect(await cache.writeAlerts([1, 2, 3, 4, 5].map(at))).toBe(5);
    expect((await cache.recentAlerts()).map((a) => a.alert_id)).toEqual(['a5', 'a4', 'a3']);
    // An old id still remembered is a duplicate; a new one older than the recent window is counted, not listed.
    expect(await cache.writeAlerts([at(1), at(0)])).toBe(1);
    expect((await cache.recentAlerts()).map((a) => a.alert_id)).toEqual(['a5', 'a4', 'a3']);
    // A newer one pushes the oldest recent out.
    expect(await cache.writeAlerts([at(6)])).toBe(1);
    expect((await cache.recentAlerts()).map((a) => a.alert_id)).toEqual(['a6', 'a5', 'a4']);
    expect((await cache.counts()).alerts.total).toBe(7);
  });
});
