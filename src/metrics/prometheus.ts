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

/** A metric already in the registry under that name (another pipeline made it), or a new one. */
export function shared<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

type Labels = readonly string[];

/** Declares metrics on one registry, reusing any of the same name, so several pipelines can share it. */
export function metricFactory(registry: Registry) {
  return {
    counter: (name: string, help: string, labelNames: Labels) =>
      shared(registry, name, () => new Counter({ name, help, labelNames, registers: [registry] })),
    gauge: (name: string, help: string, labelNames: Labels) =>
      shared(registry, name, () => new Gauge({ name, help, labelNames, registers: [registry] })),
    histogram: (name: string, help: string, labelNames: Labels, buckets: number[]) =>
      shared(registry, name, () => new Histogram({ name, help, labelNames, buckets, registers: [registry] })),
  };
}

/** Counters and gauges of one pipeline, labelled by pipeline name so several can share a registry. */
export function prometheusPipelineMetrics(registry: Registry, pipeline: string): PipelineMetrics {
  const m = metricFactory(registry);
  const recordsIn = m.counter('tagstream_records_in_total', 'Records consumed from a source topic', [
    'pipeline',
    'topic',
  ]);
  const recordsOut = m.counter(
    'tagstream_records_out_total',
    'Records produced to an output topic (dead letters excluded)',
    ['pipeline', 'topic'],
  );
  const dlq = m.counter(
    'tagstream_dlq_records_total',
    'Records sent to a dead-letter topic, by source topic, failing stage and reason code',
    ['pipeline', 'source', 'stage', 'reason'],
  );
  const failed = m.counter(
    'tagstream_stage_failures_total',
    "Stage failures that were not the record's fault (a dependency failed); the batch is retried",
    ['pipeline', 'stage', 'reason'],
  );
  const commit = m.histogram(
    'tagstream_commit_duration_seconds',
    "Time to produce a batch's outputs and commit its offsets",
    ['pipeline'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  const committed = m.counter(
    'tagstream_records_committed_total',
    'Input records whose outputs and offsets are committed',
    ['pipeline'],
  );
  const inFlight = m.gauge('tagstream_in_flight_records', 'Records produced and not yet acknowledged', [
    'pipeline',
  ]);
  const paused = m.gauge('tagstream_paused_partitions', 'Partitions paused by backpressure', ['pipeline']);
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
