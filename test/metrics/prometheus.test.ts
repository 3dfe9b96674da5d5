// prom-client metrics of the runtime, the feature store, serving and alerts, read back from the registry's text
// exposition, and the /metrics endpoint.
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { describe, expect, it, type TestContext } from 'vitest';
import { METRICS, METRIC_GROUPS } from '../../src/metrics/catalog.ts';
import {
  alertsCounter,
  createMetricsRegistry,
  prometheusFeatureStoreMetrics,
  prometheusPipelineMetrics,
  prometheusServingMetrics,
  registerAllMetrics,
  serveMetrics,
} from '../../src/metrics/prometheus.ts';

/** Serves the registry on a free port and closes the server when the test ends. */
async function served(ctx: TestContext, registry: Registry): Promise<string> {
  const { server, port } = await serveMetrics(registry, '127.0.0.1', 0);
  ctx.onTestFinished(() => close(server));
  return `http://127.0.0.1:${port}`;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
}

/** The sample lines of the exposition text (comments dropped). */
async function samples(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

describe('prometheusPipelineMetrics', () => {
  it('counts records in and out per topic, labelled by pipeline', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusPipelineMetrics(registry, 'ingest');
    m.recordsIn('rfid.scans', 1);
    m.recordsIn('rfid.scans', 2);
    m.recordsIn('pos.transactions', 1);
    m.recordsOut('clean.rfid.scans', 3);
    const lines = await samples(registry);
    expect(lines).toContain('tagstream_records_in_total{pipeline="ingest",topic="rfid.scans"} 3');
    expect(lines).toContain('tagstream_records_in_total{pipeline="ingest",topic="pos.transactions"} 1');
    expect(lines).toContain('tagstream_records_out_total{pipeline="ingest",topic="clean.rfid.scans"} 3');
  });

  it('does not create an out series for zero records', async () => {
    const registry = createMetricsRegistry(false);
    prometheusPipelineMetrics(registry, 'ingest').recordsOut('clean.rfid.scans', 0);
    expect((await samples(registry)).filter((l) => l.startsWith('tagstream_records_out_total'))).toEqual([]);
  });

  it('counts dead letters by source, stage and reason, and stage failures by stage and reason', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusPipelineMetrics(registry, 'ingest');
    m.deadLettered('rfid.scans', 'validate-scan', 'UNKNOWN_STORE');
    m.deadLettered('rfid.scans', 'validate-scan', 'UNKNOWN_STORE');
    m.deadLettered('rfid.scans', 'decode', 'DECODE_MAGIC_BYTE');
    m.stageFailed('decode', 'REGISTRY_UNAVAILABLE');
    const lines = await samples(registry);
    expect(lines).toContain(
      'tagstream_dlq_records_total{pipeline="ingest",source="rfid.scans",stage="validate-scan",reason="UNKNOWN_STORE"} 2',
    );
    expect(lines).toContain(
      'tagstream_dlq_records_total{pipeline="ingest",source="rfid.scans",stage="decode",reason="DECODE_MAGIC_BYTE"} 1',
    );
    expect(lines).toContain(
      'tagstream_stage_failures_total{pipeline="ingest",stage="decode",reason="REGISTRY_UNAVAILABLE"} 1',
    );
  });

  it('records committed batches, in-flight records and paused partitions', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusPipelineMetrics(registry, 'ingest');
    m.batchCommitted(500, 0.02);
    m.batchCommitted(250, 0.3);
    m.inFlight(17);
    m.inFlight(4);
    m.pausedPartitions(2);
    const lines = await samples(registry);
    expect(lines).toContain('tagstream_records_committed_total{pipeline="ingest"} 750');
    expect(lines).toContain('tagstream_commit_duration_seconds_count{pipeline="ingest"} 2');
    expect(lines).toContain('tagstream_commit_duration_seconds_sum{pipeline="ingest"} 0.32');
    expect(lines).toContain('tagstream_commit_duration_seconds_bucket{le="0.025",pipeline="ingest"} 1');
    expect(lines).toContain('tagstream_commit_duration_seconds_bucket{le="0.5",pipeline="ingest"} 2');
    expect(lines).toContain('tagstream_in_flight_records{pipeline="ingest"} 4');
    expect(lines).toContain('tagstream_paused_partitions{pipeline="ingest"} 2');
  });

  it('a registry without process metrics holds only the pipeline metrics', async () => {
    const registry = createMetricsRegistry(false);
    prometheusPipelineMetrics(registry, 'ingest');
    expect(registry.getMetricsAsArray().every((m) => m.name.startsWith('tagstream_'))).toBe(true);
    expect(
      registry
        .getMetricsAsArray()
        .map((m) => m.name)
        .sort(),
    ).toEqual(METRIC_GROUPS.pipeline.map((k) => METRICS[k].name).sort());
    expect(registry.getMetricsAsArray().map((m) => m.name)).toContain('tagstream_consumer_lag_records');
  });

  it('the default registry adds prefixed process metrics', async () => {
    const registry = createMetricsRegistry();
    expect(await registry.metrics()).toContain('tagstream_process_cpu_user_seconds_total');
  });

  // promtool: "non-counter metrics should not have _total suffix"; the per-type gauges stay.
  it('the default registry leaves out the gauges prom-client names *_total', async () => {
    const names = createMetricsRegistry()
      .getMetricsAsArray()
      .map((m) => m.name);
    expect(names).not.toContain('tagstream_nodejs_active_handles_total');
    expect(names).not.toContain('tagstream_nodejs_active_requests_total');
    expect(names).not.toContain('tagstream_nodejs_active_resources_total');
    expect(names).toContain('tagstream_nodejs_active_handles');
  });

  it('reports consumer lag per topic and partition, and drops the series of a revoked partition', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusPipelineMetrics(registry, 'ingest');
    m.consumerLag?.('rfid.scans', 0, 120);
    m.consumerLag?.('rfid.scans', 1, 7);
    m.consumerLag?.('rfid.scans', 0, 0);
    let lines = await samples(registry);
    expect(lines).toContain(
      'tagstream_consumer_lag_records{pipeline="ingest",topic="rfid.scans",partition="0"} 0',
    );
    expect(lines).toContain(
      'tagstream_consumer_lag_records{pipeline="ingest",topic="rfid.scans",partition="1"} 7',
    );
    m.consumerLag?.('rfid.scans', 1, null);
    lines = await samples(registry);
    expect(lines.filter((l) => l.includes('partition="1"'))).toEqual([]);
  });

  it('reports state entries per store', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusPipelineMetrics(registry, 'features');
    m.stateEntries?.('class-windows.windows', 40);
    m.stateEntries?.('class-windows.windows', 12);
    expect(await samples(registry)).toContain(
      'tagstream_state_entries{pipeline="features",store="class-windows.windows"} 12',
    );
  });

  it('computes the watermark delay at scrape time, so a stalled watermark shows a growing delay', async () => {
    const registry = createMetricsRegistry(false);
    let now = Date.UTC(2026, 5, 1, 12);
    const m = prometheusPipelineMetrics(registry, 'features', { now: () => now });
    m.watermark?.('class-windows', 2, now - 90_000);
    const series =
      'tagstream_watermark_delay_seconds{pipeline="features",stage="class-windows",partition="2"}';
    expect(await samples(registry)).toContain(`${series} 90`);
    now += 30_000;
    expect(await samples(registry)).toContain(`${series} 120`);
    m.watermark?.('class-windows', 2, now - 1_500);
    expect(await samples(registry)).toContain(`${series} 1.5`);
    m.watermark?.('class-windows', 2, null);
    expect(
      (await samples(registry)).filter((l) => l.startsWith('tagstream_watermark_delay_seconds')),
    ).toEqual([]);
  });

  it('counts late records by source topic and missed window', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusPipelineMetrics(registry, 'features');
    m.lateRecord?.('tagstream.class-events', '1m');
    m.lateRecord?.('tagstream.class-events', '1m');
    m.lateRecord?.('tagstream.class-events', '1h');
    const lines = await samples(registry);
    expect(lines).toContain(
      'tagstream_late_records_total{pipeline="features",topic="tagstream.class-events",window="1m"} 2',
    );
    expect(lines).toContain(
      'tagstream_late_records_total{pipeline="features",topic="tagstream.class-events",window="1h"} 1',
    );
  });

  // The doc comment promises that several pipelines, told apart by the pipeline label, can share a registry.
  it('two pipelines share one registry, each with its own label', async () => {
    const registry = createMetricsRegistry(false);
    const ingest = prometheusPipelineMetrics(registry, 'ingest');
    const features = prometheusPipelineMetrics(registry, 'features');
    ingest.recordsIn('rfid.scans', 2);
    features.recordsIn('clean.rfid.scans', 5);
    const lines = await samples(registry);
    expect(lines).toContain('tagstream_records_in_total{pipeline="ingest",topic="rfid.scans"} 2');
    expect(lines).toContain('tagstream_records_in_total{pipeline="features",topic="clean.rfid.scans"} 5');
  });
});

describe('prometheusFeatureStoreMetrics', () => {
  it('observes read latency by operation and write latency by store', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusFeatureStoreMetrics(registry);
    m.read('get_feature_matrix', 0.002);
    m.read('get_training_frame', 3);
    m.write('offline', 0.04);
    m.write('online', 0.003);
    const lines = await samples(registry);
    expect(lines).toContain('tagstream_feature_store_read_seconds_count{operation="get_feature_matrix"} 1');
    expect(lines).toContain(
      'tagstream_feature_store_read_seconds_bucket{le="5",operation="get_training_frame"} 1',
    );
    expect(lines).toContain('tagstream_feature_store_write_seconds_sum{store="offline"} 0.04');
    expect(lines).toContain('tagstream_feature_store_write_seconds_count{store="online"} 1');
  });
});

describe('prometheusServingMetrics', () => {
  it('observes inference duration and batch size, and counts predictions with their event age', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusServingMetrics(registry);
    m.inference('demand', 32, 0.004);
    m.predicted('demand', 0.2);
    m.predicted('demand', 3 * 3600);
    m.skipped('demand', 'no_model');
    const lines = await samples(registry);
    expect(lines).toContain('tagstream_inference_duration_seconds_count{service="demand"} 1');
    expect(lines).toContain('tagstream_inference_batch_size_bucket{le="32",service="demand"} 1');
    expect(lines).toContain('tagstream_inference_batch_size_bucket{le="16",service="demand"} 0');
    expect(lines).toContain('tagstream_predictions_total{service="demand"} 2');
    expect(lines).toContain('tagstream_predictions_skipped_total{service="demand",reason="no_model"} 1');
    // Replayed history hours old still lands in a bucket below +Inf.
    expect(lines).toContain('tagstream_event_to_prediction_seconds_bucket{le="14400",service="demand"} 2');
    expect(lines).toContain('tagstream_event_to_prediction_seconds_bucket{le="3600",service="demand"} 1');
  });

  it('keeps one model_version_info series per service, replacing it when the version changes', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusServingMetrics(registry);
    m.modelVersion('demand', 'v1', 'gbm');
    m.modelVersion('quality', 'v3', 'linear');
    m.modelVersion('demand', 'v2', 'random_forest');
    const info = (await samples(registry)).filter((l) => l.startsWith('tagstream_model_version_info'));
    expect(info.sort()).toEqual([
      'tagstream_model_version_info{service="demand",version="v2",algorithm="random_forest"} 1',
      'tagstream_model_version_info{service="quality",version="v3",algorithm="linear"} 1',
    ]);
  });

  it("sets a model's validation metrics, dropping the ones of the model it replaced", async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusServingMetrics(registry);
    m.modelMetrics('demand', { mae: 2.1, rmse: 3, note: 'text', bad: Number.NaN });
    m.modelMetrics('demand', { mae: 1.9 });
    const lines = (await samples(registry)).filter((l) => l.startsWith('tagstream_model_metric'));
    expect(lines).toEqual(['tagstream_model_metric{service="demand",metric="mae"} 1.9']);
  });

  it('records serving feature reads: latency and entities', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusServingMetrics(registry);
    m.featureRead(40, 0.003);
    m.featureRead(10, 0.001);
    const lines = await samples(registry);
    expect(lines).toContain('tagstream_serving_feature_read_seconds_count 2');
    expect(lines).toContain('tagstream_serving_feature_read_entities_total 50');
  });

  it("reports a service's drift PSI per column and its window rows; a window refilling drops the PSI", async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusServingMetrics(registry);
    m.drift('quality', { grade_at_out: 0.02, prediction: 0.31 }, 500);
    let lines = (await samples(registry)).filter((l) => l.startsWith('tagstream_drift'));
    expect(lines).toEqual([
      'tagstream_drift_psi{service="quality",feature="grade_at_out"} 0.02',
      'tagstream_drift_psi{service="quality",feature="prediction"} 0.31',
      'tagstream_drift_window_rows{service="quality"} 500',
    ]);
    m.drift('quality', null, 12); // a new model version: its window is filling
    lines = (await samples(registry)).filter((l) => l.startsWith('tagstream_drift'));
    expect(lines).toEqual(['tagstream_drift_window_rows{service="quality"} 12']);
  });

  it('two serving metric objects on one registry share the version series', async () => {
    const registry = createMetricsRegistry(false);
    prometheusServingMetrics(registry).modelVersion('demand', 'v1', 'gbm');
    prometheusServingMetrics(registry).modelVersion('demand', 'v2', 'gbm');
    const info = (await samples(registry)).filter((l) => l.startsWith('tagstream_model_version_info'));
    expect(info).toEqual(['tagstream_model_version_info{service="demand",version="v2",algorithm="gbm"} 1']);
  });
});

describe('alertsCounter', () => {
  it('counts alerts by rule and severity', async () => {
    const registry = createMetricsRegistry(false);
    const alerts = alertsCounter(registry);
    alerts.raised('maintenance', 'warning');
    alerts.raised('maintenance', 'warning');
    alerts.raised('drift', 'critical');
    const lines = await samples(registry);
    expect(lines).toContain('tagstream_alerts_total{rule="maintenance",severity="warning"} 2');
    expect(lines).toContain('tagstream_alerts_total{rule="drift",severity="critical"} 1');
  });
});

describe('registerAllMetrics', () => {
  it('declares every catalogue metric, with its type, and no series yet', async () => {
    const registry = createMetricsRegistry(false);
    const names = registerAllMetrics(registry);
    expect(names.sort()).toEqual(
      Object.values(METRICS)
        .map((m) => m.name)
        .sort(),
    );
    for (const spec of Object.values(METRICS)) {
      const metric = registry.getSingleMetric(spec.name);
      expect(metric, spec.name).toBeDefined();
      expect((await metric!.get()).type, spec.name).toBe(spec.type);
    }
    // Only the unlabelled metrics have a series (at 0) before anything is reported.
    const lines = await samples(registry);
    expect(lines.filter((l) => !l.endsWith(' 0'))).toEqual([]);
    expect(new Set(lines.map((l) => l.split(/[{ ]/)[0]!.replace(/_(bucket|sum|count)$/, '')))).toEqual(
      new Set(['tagstream_serving_feature_read_seconds', 'tagstream_serving_feature_read_entities_total']),
    );
  });

  it('puts every catalogue metric in exactly one group', () => {
    const grouped = Object.values(METRIC_GROUPS).flat();
    expect([...grouped].sort()).toEqual(Object.keys(METRICS).sort());
  });

  it('can run after the components declared their metrics, and they keep working', async () => {
    const registry = createMetricsRegistry(false);
    const m = prometheusPipelineMetrics(registry, 'ingest');
    registerAllMetrics(registry);
    m.recordsIn('rfid.scans', 2);
    expect(await samples(registry)).toContain(
      'tagstream_records_in_total{pipeline="ingest",topic="rfid.scans"} 2',
    );
  });
});

describe('serveMetrics', () => {
  it('answers GET /metrics with 200 and the exposition text', async (ctx) => {
    const registry = createMetricsRegistry(false);
    const pipeline = `p-${randomUUID()}`;
    prometheusPipelineMetrics(registry, pipeline).recordsIn('rfid.scans', 3);
    const base = await served(ctx, registry);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(registry.contentType);
    expect(await res.text()).toContain(
      `tagstream_records_in_total{pipeline="${pipeline}",topic="rfid.scans"} 3`,
    );
  });

  it('ignores a query string on /metrics', async (ctx) => {
    const base = await served(ctx, createMetricsRegistry(false));
    expect((await fetch(`${base}/metrics?name[]=x`)).status).toBe(200);
  });

  it('answers 404 elsewhere and for other methods', async (ctx) => {
    const base = await served(ctx, createMetricsRegistry(false));
    const other = await fetch(`${base}/`);
    expect(other.status).toBe(404);
    expect(await other.text()).toBe('not found: try /metrics\n');
    expect((await fetch(`${base}/metrics/extra`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(404);
  });

  it('binds a free port when asked for port 0', async (ctx) => {
    const registry = createMetricsRegistry(false);
    const { server, port } = await serveMetrics(registry, '127.0.0.1', 0);
    ctx.onTestFinished(() => close(server));
    expect(port).toBeGreaterThan(0);
    expect(server.listening).toBe(true);
  });

  it('rejects when the port is taken', async (ctx) => {
    const registry = createMetricsRegistry(false);
    const { server, port } = await serveMetrics(registry, '127.0.0.1', 0);
    ctx.onTestFinished(() => close(server));
    await expect(serveMetrics(registry, '127.0.0.1', port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
