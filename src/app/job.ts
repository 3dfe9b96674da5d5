// The job from config, in one place: the streaming topology with its sink nodes, the serving flows, the REST API
// and the nightly retrain, each optional, started in that order on one metrics registry and stopped in the reverse
// order. `npm run pipeline`, `npm run api` and the demo start what they run through startJob, so every entry point
// builds the same thing the same way.
import type { Registry } from 'prom-client';
import type { Config } from '../../config/schema.ts';
import { tagstreamTopology } from '../../pipelines/tagstream.ts';
import { isTagstreamError } from '../errors.ts';
import { migrate } from '../io/mysql/migrate.ts';
import type { Logger } from '../log.ts';
import { createMetricsRegistry, serveMetrics } from '../metrics/prometheus.ts';
import { settleAll } from '../runtime/deadline.ts';
import { startApiService, type RunningApiService } from './api.ts';
import { startPipeline, type RunningPipeline } from './pipeline.ts';
import { startRetrain } from './retrain.ts';
import { startServing, type RunningServing } from './serving.ts';

export interface JobParts {
  /** The streaming topology (ingest, features, windows) and the feature-store and history sink nodes. */
  readonly streams?: boolean;
  /** The serving flows (scoring, the six services, alert rules); default: config.serving.enabled. */
  readonly serving?: boolean;
  /** The REST API and its prediction cache sink (`sink: false` when another instance fills the cache). */
  readonly api?: false | { readonly port?: number; readonly sink?: boolean };
  /** The nightly retrain (config.serving.retrain; it does nothing unless enabled there). */
  readonly retrain?: boolean;
}

export interface JobOptions {
  readonly log: Logger;
  /** Serve /metrics (default: when the job runs streams or serving). */
  readonly serveMetrics?: boolean;
}

export interface RunningJob {
  readonly main: RunningPipeline | undefined;
  readonly serving: RunningServing | undefined;
  readonly api: RunningApiService | undefined;
  readonly metrics: Registry;
  /** The port /metrics listens on, when served. */
  readonly metricsPort: number | undefined;
  /**
   * Resolves with the error when a consumer of the job fails for good: it crashed, or met a fatal error
   * (TagstreamError.isFatal: a refused login, a missing grant or ACL, TLS), on which it stopped at once with its
   * batch uncommitted. The caller stops the rest of the job.
   */
  readonly failure: Promise<Error>;
  stop(): Promise<void>;
}

export async function startJob(config: Config, parts: JobParts, options: JobOptions): Promise<RunningJob> {
  const { log } = options;
  const streams = parts.streams === true;
  const servingOn = parts.serving ?? config.serving.enabled;
  const metrics = createMetricsRegistry();
  let main: RunningPipeline | undefined;
  let serving: RunningServing | undefined;
  let api: RunningApiService | undefined;
  let retrain: ReturnType<typeof startRetrain>;
  let closeMetrics: (() => Promise<void>) | undefined;
  let metricsPort: number | undefined;
  // Side by side: each part's consumers wait for their fetch in flight (up to kafkajs's 5 s at the broker) and their
  // last commit, so one after another they add up. Serving does not wait for the sinks of `main` while stopping
  // (src/serving/sink-progress.ts, STOPPING). The first failure is thrown once all have stopped.
  const stop = async (): Promise<void> => {
    try {
      await settleAll([retrain?.stop(), api?.stop(), serving?.stop(), main?.stop()]);
    } finally {
      await closeMetrics?.();
    }
  };
  try {
    if (streams || servingOn) {
      await migrate(config.mysql.url);
    } else if (parts.api) {
      // The API alone: the registry tables may be missing on a fresh database; an unreachable MySQL is reported
      // by /readyz instead of stopping the start.
      await migrate(config.mysql.url).catch((e: unknown) => {
        if (isTagstreamError(e) && e.code === 'MYSQL_UNAVAILABLE')
          log.warn({ err: e }, 'MySQL is not reachable: /v1/models fails until it is (see /readyz)');
        else throw e;
      });
    }
    if (options.serveMetrics ?? (streams || servingOn)) {
      const { server, port } = await serveMetrics(metrics, config.metrics.host, config.metrics.port);
      metricsPort = port;
      closeMetrics = () => new Promise<void>((resolve) => server.close(() => resolve()));
      log.info(`metrics on http://${config.metrics.host}:${port}/metrics`);
    }
    if (streams)
      main = await startPipeline(config, tagstreamTopology(config), {
        log,
        featureStore: true,
        serveMetrics: false,
        metricsRegistry: metrics,
      });
    if (servingOn) serving = await startServing(config, { log, metricsRegistry: metrics });
    if (parts.api)
      api = await startApiService(config, {
        log,
        metricsRegistry: metrics,
        ...(parts.api.sink === undefined ? {} : { sink: parts.api.sink }),
        ...(parts.api.port === undefined ? {} : { port: parts.api.port }),
      });
    if (parts.retrain) retrain = startRetrain(config, { log });
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  const runners = [main?.runner, ...(main?.sinks ?? []), serving?.pipeline.runner, api?.sink].filter(
    (r) => r !== undefined,
  );
  return {
    main,
    serving,
    api,
    metrics,
    metricsPort,
    failure: Promise.race(runners.map((r) => r.failure)),
    stop,
  };
}
