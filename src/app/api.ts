// Assembles the serving side from config: the prediction cache, the sink topology that fills it, and the REST API
// over the cache, the feature store, the model registry and the dead-letter topics. `npm run api` runs it alone;
// the pipeline and the demo embed it with startApiService and stop it with the returned stop().
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { TagstreamError } from '../errors.ts';
import type { Config } from '../../config/schema.ts';
import { runTopology } from './pipeline.ts';
import { predictionCacheTopology } from './prediction-sink.ts';
import { createKafka, type KafkaClient } from '../io/kafka/client.ts';
import { createSql } from '../io/mysql/pool.ts';
import { AvroSerde, confluentRegistry } from '../io/registry/registry.ts';
import type { Logger } from '../log.ts';
import { createMetricsRegistry } from '../metrics/prometheus.ts';
import type { KafkaRunner } from '../runtime/kafka-runner.ts';
import { createModelRegistry } from '../ml/registry/registry.ts';
import {
  createPredictionCache,
  predictionCacheOptions,
  type PredictionCache,
} from '../serving/prediction-cache.ts';
import { createFeatureStore, featureStoreOptions } from '../store/feature-store.ts';
import { createDlqService } from '../api/dlq.ts';
import { kafkaProbe, mysqlProbe, redisProbe, registryProbe } from '../api/readiness.ts';
import { createApi } from '../api/server.ts';

export interface ApiServiceOptions {
  readonly log: Logger;
  /** Reuse the caller's Kafka client and serde (the pipeline's); default: new ones from config. */
  readonly kafka?: KafkaClient;
  readonly serde?: AvroSerde;
  /** Where the sink's pipeline metrics go (the pipeline's registry when embedded). */
  readonly metricsRegistry?: Registry;
  /** Run the prediction cache sink (default true); false when another instance fills the same cache. */
  readonly sink?: boolean;
  /** Override config.api.port, e.g. 0 in tests. */
  readonly port?: number;
}

export interface RunningApiService {
  /** The port the API listens on. */
  readonly port: number;
  readonly url: string;
  /** For live views (counts()) and tests. */
  readonly cache: PredictionCache;
  /** The sink's runner, and what it stored so far (re-deliveries not counted). */
  readonly sink: KafkaRunner | undefined;
  readonly stored: Readonly<{ predictions: number; alerts: number }>;
  /** Stops the API (in-flight requests finish), then the sink, then closes every connection. */
  stop(): Promise<void>;
}

export async function startApiService(
  config: Config,
  options: ApiServiceOptions,
): Promise<RunningApiService> {
  const { log } = options;
  const kafka =
    options.kafka ?? createKafka(config, log.child({ component: 'kafka' }), `${config.kafka.clientId}-api`);
  const serde = options.serde ?? new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  const cache = createPredictionCache({
    ...predictionCacheOptions(config),
    redisConnectionName: 'tagstream-api',
  });
  const features = createFeatureStore({
    ...featureStoreOptions(config),
    redisConnectionName: 'tagstream-api-features',
  });
  const sql = createSql(config.mysql.url, { connectionLimit: 2 });
  const dlq = createDlqService(kafka, serde, {
    topics: config.topics,
    replayGroupId: `${config.pipeline.groupId}-dlq-replay`,
    brokers: config.kafka.brokers,
    log: log.child({ component: 'dlq' }),
  });
  const probes = [
    kafkaProbe(kafka, config.kafka.brokers),
    registryProbe(config.schemaRegistry.url),
    mysqlProbe(sql),
    redisProbe(cache),
  ];
  let sink: KafkaRunner | undefined;
  const stored = { predictions: 0, alerts: 0 };
  const closeAll = async (): Promise<void> => {
    await sink?.stop().catch((e: unknown) => log.warn({ err: e }, 'stopping the prediction sink'));
    await dlq.close();
    await Promise.allSettled([...probes.map((p) => p.close?.()), cache.close(), features.close(), sql.end()]);
  };
  const api = createApi(
    { cache, features, models: createModelRegistry(sql), dlq, probes, log: log.child({ component: 'api' }) },
    {
      host: config.api.host,
      port: options.port ?? config.api.port,
      tokens: { read: config.api.readToken, admin: config.api.adminToken },
      rateLimitPerMinute: config.api.rateLimitPerMinute,
      bodyLimitBytes: config.api.bodyLimitBytes,
      ...(config.api.tls.certFile ? { tls: readTls(config.api.tls) } : {}),
    },
  );
  let port: number;
  try {
    if (options.sink ?? true) {
      sink = await runTopology(
        config,
        predictionCacheTopology(config, cache, (n) => {
          stored.predictions += n.predictions;
          stored.alerts += n.alerts;
        }),
        { kafka, serde, log, metrics: options.metricsRegistry ?? createMetricsRegistry() },
        `${config.pipeline.groupId}-predictions`,
      );
    }
    port = await api.listen();
  } catch (e) {
    await api.close().catch(() => undefined);
    await closeAll();
    throw e;
  }
  const scheme = config.api.tls.certFile ? 'https' : 'http';
  const url = `${scheme}://${config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host}:${port}`;
  const auth = config.api.readToken !== '' || config.api.adminToken !== '';
  log.info({ url, auth }, 'serving the REST API');
  if (!auth && !isLoopback(config.api.host))
    log.warn(
      { host: config.api.host },
      'the REST API is open to anyone who can reach it: set API_READ_TOKEN and API_ADMIN_TOKEN (docs/security.md)',
    );
  return {
    port,
    url,
    cache,
    sink,
    stored,
    async stop() {
      try {
        await api.close();
      } finally {
        await closeAll();
      }
    },
  };
}

/** The PEM files of api.tls, read once at start; a missing file is a clear CONFIG_INVALID. */
function readTls(tls: Config['api']['tls']): { cert: Buffer; key: Buffer } {
  const read = (key: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new TagstreamError(
        'CONFIG_INVALID',
        `api.tls.${key}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  };
  return { cert: read('certFile', tls.certFile), key: read('keyFile', tls.keyFile) };
}

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || host.startsWith('127.');
