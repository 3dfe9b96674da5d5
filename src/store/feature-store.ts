// The feature store: MySQL (ml_feature_store) is the source of truth, Redis the online cache of the latest values.
// Writes go to MySQL and Redis at once (a failure of either retries both); serving reads Redis (with documented
// defaults), training reads MySQL as of.
import { isProgressRow } from '../features/progress-rows.ts';
import type { Config } from '../../config/schema.ts';
import { recordError } from '../errors.ts';
import { createSql, type Sql } from '../io/mysql/pool.ts';
import { createRedisClient, type RedisClient, type RedisStats } from '../io/redis/client.ts';
import { settleAll } from '../runtime/deadline.ts';
import { columnName, type FeatureRef } from '../features/keys.ts';
import { FEATURE_TYPES, servingAsOfColumns, trainingFeatureColumns } from '../features/vocabulary.ts';
import type { FeatureVector } from '../schemas/types.ts';
import { defaultValue } from './defaults.ts';
import { createOfflineStore } from './offline.ts';
import { createOnlineStore, type OnlineStoreOptions, type OnlineVersions } from './online.ts';
import type { FeatureMatrix, FeatureStore, LabelPoint, TrainingRow } from './types.ts';

export interface FeatureStoreOptions {
  readonly mysqlUrl: string;
  readonly redisUrl: string;
  /** Redis key prefix (default 'ts:'): keys are `<prefix>feat:<entity_id>`. */
  readonly prefix?: string;
  /** Online TTL per entity, refreshed by every write that changes it (default 3600). */
  readonly ttlSeconds?: number;
  /** Rows per INSERT and values per Redis script call (default 500). */
  readonly writeBatch?: number;
  /** is_real_time of a value in MySQL (default: true for every value). */
  readonly isRealTime?: (f: FeatureVector) => boolean;
  /** Redis CLIENT SETNAME, to find the connection in CLIENT LIST / MONITOR. */
  readonly redisConnectionName?: string;
  /** Windows whose values go to the online store only, not the offline log (fine-grained windows are many rows). */
  readonly onlineOnlyWindows?: readonly string[];
  /** Which values the offline log keeps besides (default: all); the online store gets every value. */
  readonly offline?: (f: FeatureVector) => boolean;
  /** Read and write latency hooks (e.g. src/metrics prometheusFeatureStoreMetrics); none by default. */
  readonly metrics?: FeatureStoreMetrics;
  /** Features the online store keeps versions of for point-in-time reads (none: latest values only). */
  readonly versions?: OnlineVersions;
}

export type FeatureStoreReadOperation = 'get_features' | 'get_feature_matrix' | 'get_training_frame';

/** Latencies the store reports, as our own interface (the Prometheus implementation is in src/metrics/). */
export interface FeatureStoreMetrics {
  /** One read call, failed ones included: its operation and seconds. */
  read(operation: FeatureStoreReadOperation, seconds: number): void;
  /** One batch written to one store, failed ones included; a batch with nothing for a store is not timed there. */
  write(store: 'offline' | 'online', seconds: number): void;
}

/** Runs `fn` and reports its duration, whether it resolves or rejects. */
async function timed<T>(fn: () => Promise<T>, report: ((seconds: number) => void) | undefined): Promise<T> {
  if (!report) return fn();
  const started = performance.now();
  try {
    return await fn();
  } finally {
    report((performance.now() - started) / 1000);
  }
}

/** The store, plus the Redis connection's counters (round trips, socket writes) for tests and benchmarks. */
export interface RefillResult {
  /** Values written back to the online store (0 when it was not empty). */
  readonly values: number;
  readonly entities: number;
  readonly seconds: number;
}

export interface FeatureStoreHandle extends FeatureStore {
  redisStats(): RedisStats;
  /**
   * Refills the online store from the offline log when Redis came back empty (its marker key is gone): the newest
   * value of every series the log keeps, a page of entities at a time, written with the online store's own rule
   * (newest event time wins), so that values the sink writes meanwhile are never set back. Features the offline log
   * does not keep (featureStore.offlineFeatures, onlineOnlyWindows) come back with the next events. Then marks the
   * store filled. Does nothing while the marker is there.
   */
  ensureOnline(opts?: { pageEntities?: number }): Promise<RefillResult>;
}

export function featureStoreOptions(
  config: Config,
  hooks: { readonly metrics?: FeatureStoreMetrics } = {},
): FeatureStoreOptions {
  return {
    mysqlUrl: config.mysql.url,
    redisUrl: config.redis.url,
    ...onlineStoreOptions(config),
    onlineOnlyWindows: config.featureStore.onlineOnlyWindows,
    ...(config.featureStore.offlineFeatures === 'models'
      ? { offline: trainedOn(`${config.collectors.historical.windowDays}d`) }
      : {}),
    ...(hooks.metrics === undefined ? {} : { metrics: hooks.metrics }),
  };
}

/**
 * The online store as configured (featureStore): its key prefix, TTL, script batch and versions. The feature store
 * (the writer) and serving (a reader) both open it from here, so they agree on where and what the versions are.
 */
export function onlineStoreOptions(config: Config): OnlineStoreOptions {
  const { redisPrefix, onlineTtlSeconds, writeBatch, versions: v } = config.featureStore;
  return {
    prefix: redisPrefix,
    ttlSeconds: onlineTtlSeconds,
    writeBatch,
    ...(v.features === 'none'
      ? {}
      : {
          versions: {
            columns: servingAsOfColumns(`${config.collectors.historical.windowDays}d`),
            horizonMs: v.horizonMs,
            maxVersions: v.max,
          },
        }),
  };
}

/**
 * The offline log's default content: of the features the streaming stages compute (FEATURE_TYPES: a row per scan,
 * transaction and window), those training reads (trainingFeatureColumns); everything else as it comes: the
 * collectors' few daily values, the historical collector's included even where a streamed feature has its name
 * (its nightly `turnover_ltd` snapshot, source `historical`: src/batch/history.ts).
 */
export function trainedOn(historicalWindow: string): (f: FeatureVector) => boolean {
  const columns = trainingFeatureColumns(historicalWindow);
  return (f) =>
    f.source === 'historical' ||
    !Object.hasOwn(FEATURE_TYPES, f.feature_name) ||
    columns.has(columnName({ name: f.feature_name, window: f.window ?? '' }));
}

/** Rejects what neither store can hold, before anything is written (so a bad value never half-lands). */
export function validateFeatures(features: readonly FeatureVector[]): void {
  for (const f of features) {
    if (!f.entity_id || !f.feature_name)
      throw recordError('MISSING_FIELD', 'feature without entity_id or feature_name', {
        entity_id: f.entity_id,
        feature_name: f.feature_name,
      });
    if (!Number.isFinite(f.feature_value) || !Number.isSafeInteger(f.timestamp))
      throw recordError(
        'NOT_FINITE',
        `feature ${f.feature_name} of ${f.entity_id}: value must be finite and timestamp an integer ms`,
        {
          entity_id: f.entity_id,
          feature_name: f.feature_name,
          value: f.feature_value,
          timestamp: f.timestamp,
        },
      );
  }
}

export function createFeatureStore(options: FeatureStoreOptions): FeatureStoreHandle {
  const sql: Sql = createSql(options.mysqlUrl);
  const redis: RedisClient = createRedisClient(
    options.redisUrl,
    options.redisConnectionName === undefined ? {} : { connectionName: options.redisConnectionName },
  );
  const writeBatch = options.writeBatch ?? 500;
  const offline = createOfflineStore(sql, {
    writeBatch,
    ...(options.isRealTime === undefined ? {} : { isRealTime: options.isRealTime }),
  });
  const online = createOnlineStore(redis, {
    prefix: options.prefix ?? 'ts:',
    ttlSeconds: options.ttlSeconds ?? 3600,
    writeBatch,
    ...(options.versions === undefined ? {} : { versions: options.versions }),
  });

  // What the offline log keeps, as one predicate (undefined: everything): not an online-only window, and what
  // options.offline keeps.
  const skip = options.onlineOnlyWindows ?? [];
  const keep = options.offline;
  const offlineKeeps =
    skip.length === 0 && keep === undefined
      ? undefined
      : (f: FeatureVector): boolean =>
          (f.window === null || !skip.includes(f.window)) && (keep === undefined || keep(f));

  const metrics = options.metrics;
  const timeRead = (op: FeatureStoreReadOperation) =>
    metrics && ((seconds: number) => metrics.read(op, seconds));
  const timeWrite = (store: 'offline' | 'online') =>
    metrics && ((seconds: number) => metrics.write(store, seconds));

  async function matrix(entityIds: readonly string[], refs: readonly FeatureRef[]): Promise<FeatureMatrix> {
    const values = await online.read(entityIds, refs);
    const defaults = refs.map((r) => defaultValue(r.name));
    return {
      entities: [...entityIds],
      columns: refs.map(columnName),
      rows: values.map((row) => row.map((v, j) => (v === null ? defaults[j]! : v.value))),
    };
  }

  return {
    async write(features) {
      if (features.length === 0) return;
      validateFeatures(features);
      // Both at once: Redis's round trips overlap MySQL's statements. If either fails the caller retries the whole
      // batch, and both writes are idempotent (upsert; newest-by-event-time wins online).
      // Progress cells (src/features/progress-rows.ts) are for serving only, never logged.
      const logged = features.filter((f) => !isProgressRow(f) && (offlineKeeps?.(f) ?? true));
      await settleAll([
        logged.length > 0 ? timed(() => offline.write(logged), timeWrite('offline')) : undefined,
        timed(() => online.write(features), timeWrite('online')),
      ]);
    },

    async getFeatures(entityId, refs) {
      const m = await timed(() => matrix([entityId], refs), timeRead('get_features'));
      const row = m.rows[0] ?? [];
      return Object.fromEntries(m.columns.map((c, j) => [c, row[j]!]));
    },

    getFeatureMatrix: (entityIds, refs) =>
      timed(() => matrix(entityIds, refs), timeRead('get_feature_matrix')),

    async getTrainingFrame(
      labels: readonly LabelPoint[],
      refs: readonly FeatureRef[],
    ): Promise<TrainingRow[]> {
      const { values, times } = await timed(
        () => offline.asOfColumns(labels, refs),
        timeRead('get_training_frame'),
      );
      const columns = refs.map(columnName);
      return labels.map((l, i) => {
        const features: Record<string, number | null> = {};
        const featureTimes: Record<string, number | null> = {};
        for (let j = 0; j < columns.length; j++) {
          const at = times[j]![i]!;
          features[columns[j]!] = Number.isNaN(at) ? null : values[j]![i]!;
          featureTimes[columns[j]!] = Number.isNaN(at) ? null : at;
        }
        return { entityId: l.entityId, timestamp: l.timestamp, label: l.label, features, featureTimes };
      });
    },

    redisStats: () => redis.stats(),

    async ensureOnline(opts = {}) {
      const started = performance.now();
      if (await online.isFilled()) return { values: 0, entities: 0, seconds: 0 };
      let after = '';
      let values = 0;
      let entities = 0;
      for (;;) {
        const rows = await offline.latest(after, opts.pageEntities ?? 500);
        if (rows.length === 0) break;
        await online.write(
          rows.map((r) => ({
            entity_id: r.entityId,
            entity_type: r.entityType,
            feature_name: r.featureName,
            feature_value: r.value,
            feature_type: '',
            timestamp: r.timestamp,
            window: r.window === '' ? null : r.window,
            window_start: null,
            window_end: null,
            confidence: 1,
            source: 'offline-refill',
          })),
        );
        values += rows.length;
        entities += new Set(rows.map((r) => r.entityId)).size;
        after = rows[rows.length - 1]!.entityId;
      }
      await online.markFilled();
      return { values, entities, seconds: (performance.now() - started) / 1000 };
    },

    async close() {
      await Promise.allSettled([redis.close(), sql.end()]);
    },
  };
}
