// prom-client implementations of our metrics interfaces (the runtime's PipelineMetrics, the feature store's
// FeatureStoreMetrics, serving's ServingMetrics, the alert counter), and the /metrics HTTP endpoint for Prometheus.
// Every metric is declared from the catalogue in catalog.ts; registerAllMetrics declares them all at once.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PipelineMetrics } from '../runtime/metrics.ts';
import type { ServingMetrics } from '../serving/metrics.ts';
import type { FeatureStoreMetrics } from '../store/feature-store.ts';
import { METRICS, PROCESS_METRICS_PREFIX, type MetricSpec } from './catalog.ts';

/**
 * prom-client's default metrics include three gauges named `*_total` (the sums of nodejs_active_handles,
 * _requests and _resources by type), which promtool rejects: a `_total` suffix promises a counter. The per-type
 * gauges stay, and `sum()` gives the totals.
 */
const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export function createMetricsRegistry(withProcessMetrics = true): Registry {
  const registry = new Registry();
  if (withProcessMetrics) {
    collectDefaultMetrics({ register: registry, prefix: PROCESS_METRICS_PREFIX });
    for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(`${PROCESS_METRICS_PREFIX}${name}`);
  }
  return registry;
}

/** A metric already in the registry under that name (another pipeline made it), or a new one. */
export function shared<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

/**
 * Declares a catalogue metric, or finds it when another component of the process already did (several pipelines
 * share a registry). A new metric goes into catalog.ts first, so the docs/metrics.md table and the dashboard test see it.
 */
function counterOf(registry: Registry, s: MetricSpec): Counter {
  return shared(
    registry,
    s.name,
    () => new Counter({ name: s.name, help: s.help, labelNames: [...s.labels], registers: [registry] }),
  );
}

function gaugeOf(registry: Registry, s: MetricSpec, collect?: (this: Gauge) => void): Gauge {
  return shared(
    registry,
    s.name,
    () =>
      new Gauge({
        name: s.name,
        help: s.help,
        labelNames: [...s.labels],
        registers: [registry],
        ...(collect ? { collect } : {}),
      }),
  );
}

function histogramOf(registry: Registry, s: MetricSpec): Histogram {
  return shared(
    registry,
    s.name,
    () =>
      new Histogram({
        name: s.name,
        help: s.help,
        labelNames: [...s.labels],
        buckets: [...(s.buckets ?? [])],
        registers: [registry],
      }),
  );
}

interface WatermarkSeries {
  readonly labels: { pipeline: string; stage: string; partition: string };
  watermarkMs: number;
  readonly now: () => number;
}

/** The latest watermark per (pipeline, stage, partition), per registry; the delay is computed at scrape time. */
const watermarks = new WeakMap<Registry, Map<string, WatermarkSeries>>();

function watermarksOf(registry: Registry): Map<string, WatermarkSeries> {
  let m = watermarks.get(registry);
  if (!m) watermarks.set(registry, (m = new Map()));
  return m;
}

/**
 * The watermark delay gauge: set when scraped, so that a watermark that stops moving shows a delay that keeps
 * growing (a stuck channel, a stalled partition) instead of the delay it had at its last record.
 */
function watermarkDelayGauge(registry: Registry): Gauge {
  const series = watermarksOf(registry);
  return gaugeOf(registry, METRICS.watermarkDelay, function collect(this: Gauge) {
    this.reset();
    for (const s of series.values()) this.set(s.labels, (s.now() - s.watermarkMs) / 1000);
  });
}

export interface PipelineMetricsOptions {
  /** Wall clock for the watermark delay (default Date.now). */
  readonly now?: () => number;
}

/** The runtime's metrics of one pipeline, labelled by pipeline name so several can share a registry. */
export function prometheusPipelineMetrics(
  registry: Registry,
  pipeline: string,
  options: PipelineMetricsOptions = {},
): PipelineMetrics {
  const now = options.now ?? Date.now;
  const recordsIn = counterOf(registry, METRICS.recordsIn);
  const recordsOut = counterOf(registry, METRICS.recordsOut);
  const dlq = counterOf(registry, METRICS.dlq);
  const failed = counterOf(registry, METRICS.stageFailures);
  const commit = histogramOf(registry, METRICS.commitDuration);
  const committed = counterOf(registry, METRICS.committed);
  const inFlight = gaugeOf(registry, METRICS.inFlight);
  const paused = gaugeOf(registry, METRICS.paused);
  const lag = gaugeOf(registry, METRICS.consumerLag);
  const state = gaugeOf(registry, METRICS.stateEntries);
  watermarkDelayGauge(registry);
  const wms = watermarksOf(registry);
  const late = counterOf(registry, METRICS.lateRecords);
  return {
    recordsIn: (topic, n) => recordsIn.inc({ pipeline, topic }, n),
    recordsOut: (topic, n) => n > 0 && recordsOut.inc({ pipeline, topic }, n),
    deadLettered: (source, stage, reason) => dlq.inc({ pipeline, source, stage, reason }),
    stageFailed: (stage, reason) => failed.inc({ pipeline, stage, reason }),
    batchCommitted: (records, seconds) => {
      commit.observe({ pipeline }, seconds);
      committed.inc({ pipeline }, records);
    },
    inFlight: (n) => inFlight.set({ pipeline }, n),
    pausedPartitions: (n) => paused.set({ pipeline }, n),
    consumerLag: (topic, partition, records) => {
      const labels = { pipeline, topic, partition: String(partition) };
      if (records === null) lag.remove(labels);
      else lag.set(labels, records);
    },
    stateEntries: (store, entries) => state.set({ pipeline, store }, entries),
    // Called after every record of a window stage: an update in place, no allocation.
    watermark: (stage, partition, watermarkMs) => {
      const key = `${pipeline}\u0000${stage}\u0000${partition}`;
      const series = wms.get(key);
      if (watermarkMs === null) wms.delete(key);
      else if (series) series.watermarkMs = watermarkMs;
      else wms.set(key, { labels: { pipeline, stage, partition: String(partition) }, watermarkMs, now });
    },
    lateRecord: (topic, window) => late.inc({ pipeline, topic, window }),
  };
}

/**
 * Feature store latency, for createFeatureStore's `metrics` option:
 * `createFeatureStore(featureStoreOptions(config, { metrics: prometheusFeatureStoreMetrics(registry) }))`.
 */
export function prometheusFeatureStoreMetrics(registry: Registry): FeatureStoreMetrics {
  const read = histogramOf(registry, METRICS.featureStoreRead);
  const write = histogramOf(registry, METRICS.featureStoreWrite);
  return {
    read: (operation, seconds) => read.observe({ operation }, seconds),
    write: (store, seconds) => write.observe({ store }, seconds),
  };
}

/** ServingMetrics, plus the validation metrics of the model each service serves (the dashboard's model quality). */
export interface PrometheusServingMetrics extends ServingMetrics {
  /**
   * The validation metrics of the model a service now serves (e.g. ModelVersion.metrics_json parsed): finite
   * numbers only, and the service's previous values are dropped, so a metric the new model lacks disappears.
   */
  modelMetrics(service: string, metrics: Readonly<Record<string, unknown>>): void;
}

/** Per registry and service: the labels of its model_version_info series and its model_metric names. */
const servedModels = new WeakMap<
  Registry,
  {
    versions: Map<string, { service: string; version: string; algorithm: string }>;
    metrics: Map<string, string[]>;
    /** Per service, the columns of its drift PSI series. */
    drift: Map<string, string[]>;
  }
>();

export function prometheusServingMetrics(registry: Registry): PrometheusServingMetrics {
  const duration = histogramOf(registry, METRICS.inferenceDuration);
  const batchSize = histogramOf(registry, METRICS.inferenceBatchSize);
  const eventToPrediction = histogramOf(registry, METRICS.eventToPrediction);
  const predictions = counterOf(registry, METRICS.predictions);
  const skipped = counterOf(registry, METRICS.predictionsSkipped);
  const versionInfo = gaugeOf(registry, METRICS.modelVersion);
  const modelMetric = gaugeOf(registry, METRICS.modelMetric);
  const featureRead = histogramOf(registry, METRICS.servingFeatureRead);
  const featureEntities = counterOf(registry, METRICS.servingFeatureEntities);
  const featuresAhead = counterOf(registry, METRICS.servingFeaturesAhead);
  const sinkWait = histogramOf(registry, METRICS.servingSinkWait);
  const sinkStale = counterOf(registry, METRICS.servingSinkStale);
  const driftPsi = gaugeOf(registry, METRICS.driftPsi);
  const driftRows = gaugeOf(registry, METRICS.driftWindowRows);
  let served = servedModels.get(registry);
  if (!served)
    servedModels.set(registry, (served = { versions: new Map(), metrics: new Map(), drift: new Map() }));
  const { versions, metrics, drift } = served;
  return {
    inference: (service, n, seconds) => {
      duration.observe({ service }, seconds);
      batchSize.observe({ service }, n);
    },
    predicted: (service, seconds) => {
      predictions.inc({ service });
      eventToPrediction.observe({ service }, seconds);
    },
    skipped: (service, reason) => skipped.inc({ service, reason }),
    modelVersion: (service, version, algorithm) => {
      const previous = versions.get(service);
      if (previous && (previous.version !== version || previous.algorithm !== algorithm))
        versionInfo.remove(previous);
      const labels = { service, version, algorithm };
      versions.set(service, labels);
      versionInfo.set(labels, 1);
    },
    modelMetrics: (service, values) => {
      for (const metric of metrics.get(service) ?? []) modelMetric.remove({ service, metric });
      const kept = Object.entries(values).filter(
        (e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]),
      );
      for (const [metric, v] of kept) modelMetric.set({ service, metric }, v);
      metrics.set(
        service,
        kept.map(([metric]) => metric),
      );
    },
    featureRead: (entities, seconds) => {
      featureRead.observe(seconds);
      featureEntities.inc(entities);
    },
    featuresAhead: (kind, values) => featuresAhead.inc({ kind }, values),
    sinkWait: (sink, seconds) => sinkWait.observe({ sink }, seconds),
    sinkStale: (sink, partitions) => sinkStale.inc({ sink }, partitions),
    drift: (service, psi, rows) => {
      driftRows.set({ service }, rows);
      // A window still filling (a new model) has no PSI yet: the previous model's series go.
      const columns = psi === null ? [] : Object.keys(psi);
      for (const feature of drift.get(service) ?? [])
        if (!columns.includes(feature)) driftPsi.remove({ service, feature });
      for (const feature of columns) driftPsi.set({ service, feature }, psi![feature]!);
      drift.set(service, columns);
    },
  };
}

/** Counts raised alerts; the serving code calls it once per alert it publishes. */
export interface AlertMetrics {
  raised(rule: string, severity: string): void;
}

/** `tagstream_alerts_total{rule,severity}`. */
export function alertsCounter(registry: Registry): AlertMetrics {
  const alerts = counterOf(registry, METRICS.alerts);
  return { raised: (rule, severity) => alerts.inc({ rule, severity }) };
}

/**
 * Declares every tagstream metric on the registry (no series yet), so that the full list is there to inspect;
 * returns their names. Process metrics come from createMetricsRegistry(true).
 */
export function registerAllMetrics(registry: Registry): string[] {
  prometheusPipelineMetrics(registry, 'declared');
  prometheusFeatureStoreMetrics(registry);
  prometheusServingMetrics(registry);
  alertsCounter(registry);
  return Object.values(METRICS).map((m) => m.name);
}

/** Serves GET /metrics; resolves with the bound port (0 in config picks a free one). */
export async function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        })
        .catch((e: unknown) => {
          res.writeHead(500).end(String(e));
        });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
