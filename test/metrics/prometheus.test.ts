// prom-client metrics of the runtime, read back from the registry's text exposition, and the /metrics endpoint.
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { describe, expect, it, type TestContext } from 'vitest';
import {
  createMetricsRegistry,
  prometheusPipelineMetrics,
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
    ).toEqual([
      'tagstream_commit_duration_seconds',
      'tagstream_dlq_records_total',
      'tagstream_in_flight_records',
      'tagstream_paused_partitions',
      'tagstream_records_committed_total',
      'tagstream_records_in_total',
      'tagstream_records_out_total',
      'tagstream_stage_failures_total',
    ]);
  });

  it('the default registry adds prefixed process metrics', async () => {
    const registry = createMetricsRegistry();
    expect(await registry.metrics()).toContain('tagstream_process_cpu_user_seconds_total');
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
