// The composition root of the stream side: builds running topologies from config. runTopology() starts any
// topology (processors, sinks) on its consumer group: topics, schemas, processor, Kafka runner. startPipeline() is
// the job: the main topology, the sink topologies into MariaDB and Redis, and /metrics; with a bounded stop.
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Config } from '../../config/schema.ts';
import { dlqTopic } from '../../config/topics.ts';
import {
  createKafka,
  ensureTopics,
  mapKafkaError,
  retryRetriable,
  type KafkaClient,
} from '../io/kafka/client.ts';
import { createSql } from '../io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../io/registry/registry.ts';
import type { Logger } from '../log.ts';
import {
  createMetricsRegistry,
  prometheusFeatureStoreMetrics,
  prometheusPipelineMetrics,
  serveMetrics,
} from '../metrics/prometheus.ts';
import { systemClock, type Clock } from '../runtime/clock.ts';
import { settleAll } from '../runtime/deadline.ts';
import { KafkaRunner } from '../runtime/kafka-runner.ts';
import { RecordProcessor } from '../runtime/processor.ts';
import type { Topology } from '../runtime/topology.ts';
import { createFeatureStore, featureStoreOptions, type FeatureStoreHandle } from '../store/feature-store.ts';
import { featureStoreTopology } from './feature-sink.ts';
import { historyTopology } from './history-sink.ts';

export interface TopologyContext {
  readonly kafka: KafkaClient;
  readonly serde: AvroSerde;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly clock?: Clock;
}

/**
 * Starts one topology on the consumer group `groupId` (the config's pipeline.groupId by default): registers its
 * schemas, creates its topics (changelogs compacted, partitioned like their source) and runs it.
 */
export async function runTopology(
  config: Config,
  topology: Topology,
  ctx: TopologyContext,
  groupId: string = config.pipeline.groupId,
): Promise<KafkaRunner> {
  const { kafka, log } = ctx;
  const pipelineMetrics = prometheusPipelineMetrics(ctx.metrics, topology.name);
  const processor = await RecordProcessor.create(topology, ctx.serde, {
    pipelineVersion: config.pipeline.version,
    dlqTopic: (source) => dlqTopic(config.topics, source),
    applicationId: groupId,
    clock: ctx.clock ?? systemClock,
    metrics: pipelineMetrics,
    limits: { maxRecordBytes: config.pipeline.maxRecordBytes, maxKeyBytes: config.pipeline.maxKeyBytes },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const created = await ensureTopics(admin, [...processor.sourceTopics, ...processor.outputTopics], config);
    // A changelog mirrors its source partition by partition, and keeps only the latest value per key.
    for (const { topic, source } of processor.changelogTopics) {
      const counts = await retryRetriable(() => admin.partitionCounts([source]));
      created.push(
        ...(await ensureTopics(admin, [topic], config, {
          partitions: counts.get(source) ?? config.kafka.partitions,
          config: { 'cleanup.policy': 'compact' },
        })),
      );
    }
    if (created.length) log.debug({ topics: created }, 'created topics');
  } catch (e) {
    throw mapKafkaError(e, config.kafka.brokers, 'creating topics');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const runner = new KafkaRunner(kafka, processor, {
    groupId,
    brokers: config.kafka.brokers,
    guarantee: config.pipeline.processingGuarantee,
    maxBatch: config.pipeline.maxBatch,
    maxInFlight: config.pipeline.maxInFlight,
    // Sink nodes wait on their stores, not on the CPU: several partitions' writes in flight keep MariaDB busy.
    partitionsConcurrently: topology.branches.every((b) => b.sink.kind === 'node')
      ? config.pipeline.sinkPartitionsConcurrently
      : config.pipeline.partitionsConcurrently,
    shutdownTimeoutMs: config.pipeline.shutdownTimeoutMs,
    sessionTimeoutMs: config.pipeline.sessionTimeoutMs,
    fetch: {
      maxBytes: config.pipeline.fetchMaxBytes,
      maxBytesPerPartition: config.pipeline.fetchMaxBytesPerPartition,
    },
    punctuateMs: config.pipeline.punctuateMs,
    commitIntervalMs: config.pipeline.commitIntervalMs,
    restoreTimeoutMs: config.pipeline.restoreTimeoutMs,
    log: log.child({ component: topology.name }),
    metrics: pipelineMetrics,
  });
  await runner.start();
  return runner;
}

/**
 * Keeps the online store whole: at start and every featureStore.onlineCheckMs, refills Redis from the offline log
 * when it came back empty (FeatureStoreHandle.ensureOnline). A failed check (Redis or MariaDB away) is logged and
 * tried again at the next tick; the sink's own retries report the outage.
 */
export function onlineRefill(
  config: Config,
  store: FeatureStoreHandle,
  log: Logger,
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const check = (): Promise<void> =>
    (running ??= (async () => {
      try {
        const r = await store.ensureOnline();
        if (r.values > 0)
          log.warn(
            { values: r.values, entities: r.entities, seconds: Number(r.seconds.toFixed(1)) },
            `the online store in Redis was empty (restarted without its data?): refilled ${r.values} values of ${r.entities} entities from the offline log in ${r.seconds.toFixed(1)} s`,
          );
      } catch (e) {
        log.warn({ err: e }, 'could not check the online store in Redis; trying again at the next check');
      } finally {
        running = undefined;
      }
    })());
  const every = config.featureStore.onlineCheckMs;
  const timer = every > 0 ? setInterval(() => void check(), every) : undefined;
  timer?.unref();
  if (every > 0) void check();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/** Sink counters, for progress lines and tests. */
export interface SinkCounts {
  features: number;
  scansReceived: number;
  scansInserted: number;
}

export interface RunningPipeline {
  readonly runner: KafkaRunner;
  /** The sink topologies' runners (feature store, history), when started with the feature store. */
  readonly sinks: readonly KafkaRunner[];
  readonly counts: Readonly<SinkCounts>;
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
  const ctx: TopologyContext = {
    kafka: createKafka(config, log),
    serde: new AvroSerde(confluentRegistry(config.schemaRegistry.url)),
    log,
    metrics,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  };
  let server: Server | undefined;
  let metricsPort: number | undefined;
  const runners: KafkaRunner[] = [];
  const counts: SinkCounts = { features: 0, scansReceived: 0, scansInserted: 0 };
  let closeStore: (() => Promise<void>) | undefined;
  const stopAll = async (): Promise<void> => {
    try {
      // Side by side: each stop waits for its consumer's fetch in flight (kafkajs holds an idle one up to 5 s at the
      // broker) and its last commit, so one after another they add up; and one that times out does not leave the
      // others running.
      try {
        await settleAll(runners.map((r) => r.stop()));
      } finally {
        await closeStore?.();
      }
    } finally {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    }
  };
  try {
    if (options.serveMetrics ?? true) {
      ({ server, port: metricsPort } = await serveMetrics(metrics, config.metrics.host, config.metrics.port));
      log.info(`metrics on http://${config.metrics.host}:${metricsPort}/metrics`);
    }
    const main = await runTopology(config, topology, ctx);
    runners.push(main);
    if (options.featureStore) {
      const store = createFeatureStore(
        featureStoreOptions(config, { metrics: prometheusFeatureStoreMetrics(metrics) }),
      );
      const sql = createSql(config.mysql.url);
      const refill = onlineRefill(config, store, log);
      closeStore = async () => {
        await refill.stop();
        await store.close();
        await sql.end();
      };
      const { groupId } = config.pipeline;
      runners.push(
        await runTopology(
          config,
          historyTopology(config, sql, {
            onBatch: (received, inserted) => {
              counts.scansReceived += received;
              counts.scansInserted += inserted;
            },
          }),
          ctx,
          `${groupId}-history`,
        ),
      );
      runners.push(
        await runTopology(
          config,
          featureStoreTopology(config, store, (n) => (counts.features += n)),
          ctx,
          `${groupId}-feature-store`,
        ),
      );
    }
    return {
      runner: main,
      sinks: runners.slice(1),
      counts,
      metrics,
      metricsPort,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll().catch(() => undefined);
    throw e;
  }
}
