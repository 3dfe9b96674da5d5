// `npm run bench:ingest`: events per second through the ingest pipeline on the real broker and registry
// (decode, validate, encode, exactly-once commit). Produces N scans first, then times the pipeline alone.
import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import { cleanTopic, dlqTopic } from '../config/topics.ts';
import { loadConfig, parseConfig, rawConfig } from '../config/load.ts';
import { ingestTopology } from '../pipelines/ingest.ts';
import { startPipeline } from '../src/app/pipeline.ts';
import { createKafka } from '../src/io/kafka/client.ts';
import { AvroSerde, confluentRegistry } from '../src/io/registry/registry.ts';
import { createLogger } from '../src/log.ts';
import { loadSchema } from '../src/schemas/catalog.ts';
import type { RfidScan } from '../src/schemas/types.ts';

const opts = new Command('bench:ingest')
  .description('Measure ingest pipeline throughput on the running stack (npm run stack -- up first)')
  .option('-n, --records <n>', 'scans to push through', '50000')
  .option('--guarantee <g>', 'exactly_once or at_least_once', 'exactly_once')
  .option('--max-batch <n>', 'pipeline.maxBatch', '2000')
  .parse()
  .opts<{ records: string; guarantee: string; maxBatch: string }>();

const n = Number(opts.records);
const id = randomUUID().slice(0, 8);
const base = loadConfig();
const config = parseConfig({
  ...rawConfig(process.env),
  topics: { scans: `bench-${id}.rfid.scans`, transactions: `bench-${id}.pos.transactions` },
  pipeline: { groupId: `bench-${id}`, processingGuarantee: opts.guarantee, maxBatch: Number(opts.maxBatch) },
  kafka: base.kafka,
});
const log = createLogger('bench', 'error');
const kafka = createKafka(config, log);
const admin = kafka.admin();
await admin.connect();
await admin.createTopics([{ topic: config.topics.scans, partitions: 3, replicationFactor: 1 }]);
const encode = await new AvroSerde(confluentRegistry(config.schemaRegistry.url)).encoderFor<RfidScan>(
  config.topics.scans,
  loadSchema('rfidScan'),
);
const producer = kafka.producer({ idempotent: true });
await producer.connect();
const now = Date.now();
process.stderr.write(`producing ${n} scans to ${config.topics.scans} ...\n`);
for (let i = 0; i < n; i += 5000) {
  const messages = Array.from({ length: Math.min(5000, n - i) }, (_, j) => {
    const k = i + j;
    return {
      topic: config.topics.scans,
      key: `TAG-${k}`,
      value: encode({
        tag_id: `TAG-${k}`,
        rental_class_num: `RC-${k % 40}`,
        scan_type: 'out',
        scan_date: now - k,
        reader_id: 'R1',
        store_id: 'S1',
        quality_grade: 4,
        notes: null,
      }),
    };
  });
  await producer.send(messages);
}
await producer.disconnect();

const t0 = performance.now();
const running = await startPipeline(config, ingestTopology(config), {
  log,
  serveMetrics: false,
});
let firstAt = 0;
while (running.runner.recordsProcessed < n) {
  if (!firstAt && running.runner.recordsProcessed > 0) firstAt = performance.now();
  await new Promise((r) => setTimeout(r, 20));
}
const t1 = performance.now();
await running.stop();
await admin
  .deleteTopics([
    config.topics.scans,
    cleanTopic(config.topics, config.topics.scans),
    dlqTopic(config.topics, config.topics.scans),
  ])
  .catch(() => undefined);
await admin.disconnect();
const steady = (t1 - firstAt) / 1000;
console.log(
  `ingest ${opts.guarantee} maxBatch=${opts.maxBatch}: ${n} records in ${((t1 - t0) / 1000).toFixed(1)} s including group join; ` +
    `${Math.round(n / steady)} records/s from the first commit on; rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`,
);
process.exit(0);
