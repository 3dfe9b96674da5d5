// Assembles a running pipeline from config: topics, schemas, processor, Kafka runner, /metrics; and a bounded stop.
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Config } from '../../config/schema.ts';
import { createKafka, ensureTopics, mapKafkaError, retryRetriable } from '../io/kafka/client.ts';
import { AvroSerde, confluentRegistry } from '../io/registry/registry.ts';
import type { Logger } from '../log.ts';
import {
  createMetricsRegistry,
  prometheusFeatureStoreMetrics,
  prometheusPipelineMetrics,
  serveMetrics,
} from '../metrics/prometheus.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import { KafkaRunner } from '../runtime/kafka-runner.ts';
import { RecordProcessor } from '../runtime/processor.ts';
import type { Topology } from '../runtime/topology.ts';
import { createFeatureStore, featureStoreOptions } from '../store/feature-store.ts';
import { createSql } from '../io/mysql/pool.ts';
import { FeatureSink } from './feature-sink.ts';
import { HistorySink } from './history-sink.ts';

export interface RunningPipeline {
  readonly runner: KafkaRunner;
  /** Present when started with the feature store. */
  readonly sink: FeatureSink | undefined;
  readonly metrics: Registry;
  readonly metricsPort: number | undefined;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  /** Serve /metrics (default true); tests pass false or port 0. */
  readonly serveMetrics?: boolean;
  readonly metricsRegistry?: Registry;
  readonly instanceId?: string;
  /**
   * Also run the sinks into MariaDB and Redis, each in a consumer group of its own: features.* into the feature
   * store, and clean scans into id_transactions / id_item_master (the history the batch collectors and training read).
   */
  readonly featureStore?: boolean;
}

export async function startPipeline(
  config: Config,
  topology: Topology,
  options: StartOptions,
): Promise<RunningPipeline> {
  const { log } = options;
  const metrics = options.metricsRegistry ?? createMetricsRegistry();
  const pipelineMetrics = prometheusPipelineMetrics(metrics, topology.name);
  const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  const processor = await RecordProcessor.create(topology, serde, {
    pipelineVersion: config.pipeline.version,
    dlqPrefix: config.topics.dlqPrefix,
    applicationId: config.pipeline.groupId,
    clock: options.clock ?? systemClock,
    metrics: pipelineMetrics,
  });
  const kafka = createKafka(config, log.child({ component: 'kafka' }));
  const admin = kafka.admin();
  try {
    await admin.connect();
    const created = await ensureTopics(admin, [...processor.sourceTopics, ...processor.outputTopics], config);
    // A changelog mirrors its source partition by partition, and keeps only the latest value per key.
    for (const { topic, source } of processor.changelogTopics) {
      const [meta] = (await retryRetriable(() => admin.fetchTopicMetadata({ topics: [source] }))).topics;
      created.push(
        ...(await ensureTopics(admin, [topic], config, {
          partitions: meta?.partitions.length ?? config.kafka.partitions,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        })),
      );
    }
    if (created.length) log.info({ topics: created }, 'created topics');
  } catch (e) {
    throw mapKafkaError(e, config.kafka.brokers, 'creating topics');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const runner = new KafkaRunner(kafka, processor, {
    groupId: config.pipeline.groupId,
    brokers: config.kafka.brokers,
    guarantee: config.pipeline.processingGuarantee,
    maxBatch: config.pipeline.maxBatch,
    maxInFlight: config.pipeline.maxInFlight,
    partitionsConcurrently: config.pipeline.partitionsConcurrently,
    shutdownTimeoutMs: config.pipeline.shutdownTimeoutMs,
    punctuateMs: config.pipeline.punctuateMs,
    restoreTimeoutMs: config.pipeline.restoreTimeoutMs,
    log: log.child({ component: 'runner' }),
    metrics: pipelineMetrics,
    ...(options.instanceId === undefined ? {} : { instanceId: options.instanceId }),
  });
  let server: Server | undefined;
  let metricsPort: number | undefined;
  if (options.serveMetrics ?? true) {
    ({ server, port: metricsPort } = await serveMetrics(metrics, config.metrics.host, config.metrics.port));
    log.info({ url: `http://${config.metrics.host}:${metricsPort}/metrics` }, 'serving metrics');
  }
  await runner.start();
  let sink: FeatureSink | undefined;
  let history: HistorySink | undefined;
  let closeStore: (() => Promise<void>) | undefined;
  if (options.featureStore) {
    const store = createFeatureStore(
      featureStoreOptions(config, { metrics: prometheusFeatureStoreMetrics(metrics) }),
    );
    const sql = createSql(config.mysql.url);
    closeStore = async () => {
      await store.close();
      await sql.end();
    };
    history = new HistorySink(kafka, serde, sql, {
      groupId: `${config.pipeline.groupId}-history`,
      topic: `${config.topics.cleanPrefix}${config.topics.scans}`,
      brokers: config.kafka.brokers,
      log: log.child({ component: 'history-sink' }),
      dedupWindowMs: config.windows.dedupWindowMs,
    });
    await history.start();
    sink = new FeatureSink(kafka, serde, store, {
      groupId: `${config.pipeline.groupId}-feature-store`,
      topics: [config.topics.featuresRealtime, config.topics.featuresWindowed],
      brokers: config.kafka.brokers,
      log: log.child({ component: 'feature-sink' }),
    });
    await sink.start();
  }
  return {
    runner,
    sink,
    metrics,
    metricsPort,
    async stop() {
      try {
        await runner.stop();
        await sink?.stop();
        await history?.stop();
        await closeStore?.();
      } finally {
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      }
    },
  };
}
