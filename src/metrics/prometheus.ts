// prom-client implementation of the runtime's metrics, and the /metrics HTTP endpoint for Prometheus.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PipelineMetrics } from '../runtime/metrics.ts';

export function createMetricsRegistry(withProcessMetrics = true): Registry {
  const registry = new Registry();
  if (withProcessMetrics) collectDefaultMetrics({ register: registry, prefix: 'tagstream_' });
  return registry;
}

/** Counters and gauges of one pipeline, labelled by pipeline name so several can share a registry. */
export function prometheusPipelineMetrics(registry: Registry, pipeline: string): PipelineMetrics {
  const recordsIn = new Counter({
    name: 'tagstream_records_in_total',
    help: 'Records consumed from a source topic',
    labelNames: ['pipeline', 'topic'] as const,
    registers: [registry],
  });
  const recordsOut = new Counter({
    name: 'tagstream_records_out_total',
    help: 'Records produced to an output topic (dead letters excluded)',
    labelNames: ['pipeline', 'topic'] as const,
    registers: [registry],
  });
  const dlq = new Counter({
    name: 'tagstream_dlq_records_total',
    help: 'Records sent to a dead-letter topic, by source topic, failing stage and reason code',
    labelNames: ['pipeline', 'source', 'stage', 'reason'] as const,
    registers: [registry],
  });
  const failed = new Counter({
    name: 'tagstream_stage_failures_total',
    help: 'Stage failures that were not the record\'s fault (a dependency failed); the batch is retried',
    labelNames: ['pipeline', 'stage', 'reason'] as const,
    registers: [registry],
  });
  const commit = new Histogram({
    name: 'tagstream_commit_duration_seconds',
    help: 'Time to produce a batch\'s outputs and commit its offsets',
    labelNames: ['pipeline'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const committed = new Counter({
    name: 'tagstream_records_committed_total',
    help: 'Input records whose outputs and offsets are committed',
    labelNames: ['pipeline'] as const,
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'tagstream_in_flight_records',
    help: 'Records produced and not yet acknowledged',
    labelNames: ['pipeline'] as const,
    registers: [registry],
  });
  const paused = new Gauge({
    name: 'tagstream_paused_partitions',
    help: 'Partitions paused by backpressure',
    labelNames: ['pipeline'] as const,
    registers: [registry],
  });
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
  };
}

/** Serves GET /metrics; resolves with the bound port (0 in config picks a free one). */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<{ server: Server; port: number }> {
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
