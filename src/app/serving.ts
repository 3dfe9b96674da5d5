// Assembles the serving side of a pipeline instance: the model watcher (production models, hot swap), the online
// store and id_transactions readers the scoring stages use, and the serving topology on its own consumer group.
import type { Registry } from 'prom-client';
import type { Config } from '../../config/schema.ts';
import { servingTopology } from '../../pipelines/serving.ts';
import { zoneOf } from '../features/zones.ts';
import { createKafka } from '../io/kafka/client.ts';
import { createSql } from '../io/mysql/pool.ts';
import { createRedisClient } from '../io/redis/client.ts';
import { AvroSerde, confluentRegistry } from '../io/registry/registry.ts';
import type { Logger } from '../log.ts';
import { createModelRegistry } from '../ml/registry/registry.ts';
import { ModelWatcher } from '../ml/registry/watcher.ts';
import { alertsCounter, prometheusServingMetrics } from '../metrics/prometheus.ts';
import { DriftMonitor, redisDriftWindows } from '../serving/drift.ts';
import { noopServingMetrics, type ServingMetrics, type ServingSink } from '../serving/metrics.ts';
import { labelHistorySource, rentalHistories } from '../serving/history.ts';
import type { ServingDeps } from '../serving/scoring.ts';
import {
  SinkProgress,
  featureProgressTopic,
  onlineProgress,
  sqlProgress,
  type ReadProgress,
} from '../serving/sink-progress.ts';
import { partitionOf } from '../io/kafka/partition.ts';
import { createOnlineStore } from '../store/online.ts';
import { onlineStoreOptions } from '../store/feature-store.ts';
import { startPipeline, type RunningPipeline } from './pipeline.ts';

export interface RunningServing {
  readonly pipeline: RunningPipeline;
  readonly watcher: ModelWatcher;
  stop(): Promise<void>;
}

export interface ServingOptions {
  readonly log: Logger;
  readonly metricsRegistry?: Registry;
  readonly servingMetrics?: ServingMetrics;
  /** Wall clock; injected by tests. */
  readonly now?: () => number;
}

/**
 * The config of the serving consumer group: the same settings under `<groupId><groupSuffix>`, with its own number of
 * partitions at once (serving.partitionsConcurrently).
 */
export function servingConfig(config: Config): Config {
  return {
    ...config,
    pipeline: {
      ...config.pipeline,
      groupId: `${config.pipeline.groupId}${config.serving.groupSuffix}`,
      partitionsConcurrently: config.serving.partitionsConcurrently,
    },
  };
}

export async function startServing(config: Config, options: ServingOptions): Promise<RunningServing> {
  const { log } = options;
  const registry = options.metricsRegistry;
  const prom = registry ? prometheusServingMetrics(registry) : undefined;
  const metrics = options.servingMetrics ?? prom ?? noopServingMetrics;
  const alerts = registry ? alertsCounter(registry) : undefined;
  const sql = createSql(config.mysql.url);
  const redis = createRedisClient(config.redis.url, { connectionName: 'tagstream-serving' });
  const kafka = createKafka(config, log.child({ component: 'models' }));
  const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  const watcher = new ModelWatcher({
    config,
    kafka,
    serde,
    registry: createModelRegistry(sql),
    log: log.child({ component: 'model-watcher' }),
    onSwap: (service, version, previous) => {
      const m = watcher.current(service);
      metrics.modelVersion(service, version, m?.algorithm ?? 'unknown');
      if (m) prom?.modelMetrics(service, m.metrics);
      log.info({ service, version, previous }, 'serving a new model version');
    },
  });
  const close = async (): Promise<void> => {
    await watcher.stop().catch(() => undefined);
    await redis.close().catch(() => undefined);
    await sql.end().catch(() => undefined);
  };
  try {
    await watcher.start();
    const zone = zoneOf(config);
    const history = labelHistorySource(sql, {
      zoneOf: zone,
      historyDays: config.serving.historyDays,
      dedupWindowMs: config.windows.dedupWindowMs,
    });
    const wait = config.serving.sinkWaitMs;
    /** Set by stop(): a wait on a sink gives up (STOPPING), since the sinks may stop first. */
    let stopping = false;
    const progressOf = (sink: ServingSink, read: ReadProgress): SinkProgress =>
      new SinkProgress({
        read,
        stallMs: wait,
        sink: `the ${sink} sink`,
        log: log.child({ component: 'serving' }),
        onWait: (s) => metrics.sinkWait(sink, s),
        onStale: (n) => metrics.sinkStale(sink, n),
        stopping: () => stopping,
      });
    const online = createOnlineStore(redis, onlineStoreOptions(config));
    const historyProgress = progressOf('history', sqlProgress(sql));
    const featureProgress = progressOf('feature-store', onlineProgress(online));
    // A class's rows and progress are on the partition of its key, in each feature topic as in class-events.
    const featureTopics = [config.topics.featuresRealtime, config.topics.featuresWindowed];
    const deps: ServingDeps = {
      online,
      models: watcher,
      demandHistory: history.demand,
      classRentals: history.rentals,
      rentalHistory: (items) => rentalHistories(sql, items, config.windows.dedupWindowMs),
      ...(wait > 0
        ? {
            historyStored: (positions) => historyProgress.awaitStored(positions),
            featuresStored: (events) =>
              featureProgress.awaitStored(
                events.flatMap(({ classKey, origin }) => {
                  const q = partitionOf(classKey, config.kafka.partitions);
                  return featureTopics.map((t) => ({
                    ...origin,
                    topic: featureProgressTopic(t, q, origin.topic),
                  }));
                }),
              ),
          }
        : {}),
      metrics,
      log: log.child({ component: 'serving' }),
      now: options.now ?? Date.now,
      zoneOf: zone,
      storeIds: config.validation.storeIds,
      historicalWindow: `${config.collectors.historical.windowDays}d`,
      collapseClassForecasts: config.serving.collapseClassForecasts,
      batch: { maxBatch: config.serving.maxBatch, maxWaitMs: config.serving.maxWaitMs },
      pricing: config.serving.pricing,
      packHorizonDays: config.serving.packHorizonDays,
      maintenanceK: config.serving.maintenanceK,
      // The drift windows live in Redis under the feature store's prefix, shared by every serving instance.
      drift: new DriftMonitor({
        settings: { ...config.serving.alerts.drift, throttleMs: config.serving.alerts.throttleMs },
        windows: redisDriftWindows(redis, config.featureStore.redisPrefix),
        metrics,
        log: log.child({ component: 'drift' }),
        now: options.now ?? Date.now,
        onAlert: (a) => alerts?.raised(a.rule, a.severity),
      }),
    };
    const pipeline = await startPipeline(
      servingConfig(config),
      servingTopology(config, deps, (a) => alerts?.raised(a.rule, a.severity)),
      {
        log: log.child({ pipeline: 'serving' }),
        // The job (src/app/job.ts) serves /metrics for the shared registry.
        serveMetrics: false,
        ...(options.metricsRegistry === undefined ? {} : { metricsRegistry: options.metricsRegistry }),
      },
    );
    return {
      pipeline,
      watcher,
      async stop() {
        stopping = true;
        try {
          await pipeline.stop();
        } finally {
          await close();
        }
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}
