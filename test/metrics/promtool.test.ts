// Every tagstream metric, with samples, passes Prometheus' linter (`promtool check metrics`): names, units,
// suffixes and help text follow the conventions; and the compose Prometheus config passes `promtool check config`. promtool must be installed (.ci/run does it); no skipping.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../src/metrics/catalog.ts';
import {
  alertsCounter,
  createMetricsRegistry,
  prometheusFeatureStoreMetrics,
  prometheusPipelineMetrics,
  prometheusServingMetrics,
  registerAllMetrics,
} from '../../src/metrics/prometheus.ts';
import { PROMTOOL, checkMetrics, promtoolVersion, sampledFamilies } from './promtool.ts';

/** Reports something through every implementation, so that every metric has a series. */
function populate(registry: Registry): void {
  registerAllMetrics(registry);
  const p = prometheusPipelineMetrics(registry, 'ingest');
  p.recordsIn('rfid.scans', 10);
  p.recordsOut('clean.rfid.scans', 9);
  p.deadLettered('rfid.scans', 'validate-scan', 'UNKNOWN_STORE');
  p.stageFailed('decode', 'REGISTRY_UNAVAILABLE');
  p.batchCommitted(10, 0.02);
  p.inFlight(3);
  p.pausedPartitions(0);
  p.consumerLag?.('rfid.scans', 0, 42);
  p.stateEntries?.('class-windows.windows', 120);
  p.watermark?.('class-windows', 0, Date.now() - 5_000);
  p.lateRecord?.('tagstream.class-events', '1m');
  const store = prometheusFeatureStoreMetrics(registry);
  store.read('get_feature_matrix', 0.002);
  store.write('offline', 0.03);
  const serving = prometheusServingMetrics(registry);
  serving.inference('demand', 16, 0.004);
  serving.predicted('demand', 12);
  serving.skipped('demand', 'no_model');
  serving.modelVersion('demand', '20260601-1', 'gradient_boosting');
  serving.modelMetrics('demand', { mae: 1.97 });
  serving.drift('quality', { grade_at_out: 0.02, prediction: 0.31 }, 500);
  serving.featureRead(16, 0.001);
  serving.featuresAhead('class', 3);
  serving.sinkWait('feature-store', 0.02);
  serving.sinkStale('history', 1);
  alertsCounter(registry).raised('maintenance', 'warning');
}

describe('promtool check metrics', () => {
  it('is installed', () => {
    expect(promtoolVersion()).toMatch(/^promtool, version \d+\.\d+/);
  });

  it('passes the full exposition, process metrics included, with a sample for every tagstream metric', async () => {
    const registry = createMetricsRegistry(true);
    populate(registry);
    const text = await registry.metrics();
    const sampled = sampledFamilies(text);
    for (const spec of Object.values(METRICS)) expect(sampled, spec.name).toContain(spec.name);
    expect(checkMetrics(text)).toEqual({ status: 0, output: '' });
  });

  it('accepts the Prometheus configuration docker-compose.yml mounts', () => {
    promtoolVersion();
    const config = fileURLToPath(new URL('../../config/prometheus/prometheus.yml', import.meta.url));
    const res = spawnSync(PROMTOOL, ['check', 'config', config], { encoding: 'utf8' });
    expect(res.status, `${res.stdout}${res.stderr}`).toBe(0);
  });

  // promtool passes an empty input too: make sure it really lints what it is given.
  it('rejects a gauge named like a counter (the linter is really running)', () => {
    const bad = '# HELP x_total A gauge.\n# TYPE x_total gauge\nx_total 1\n';
    const res = checkMetrics(bad);
    expect(res.status).not.toBe(0);
    expect(res.output).toContain('non-counter metrics should not have "_total" suffix');
  });
});
