// The real pipeline's /metrics on the real broker and registry: consumer lag per partition (back to 0 once caught
// up, transaction markers included), state store sizes, the window stage's watermark delay and late records; and
// `promtool check metrics` passes on what a running pipeline serves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { tagstreamTopology } from '../../pipelines/tagstream.ts';
import { startPipeline, type RunningPipeline } from '../../src/app/pipeline.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { createLogger } from '../../src/log.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { RfidScan } from '../../src/schemas/types.ts';
import { requireStack, testConfig, testKafka, waitForCommitted } from '../helpers/stack.ts';
import { checkMetrics, promtoolVersion } from './promtool.ts';

// Idle channels stop holding the watermark back after 2 s, so windows and lateness happen within the test.
const config = testConfig({ windows: { idleTimeoutMs: 2_000 }, pipeline: { punctuateMs: 250 } });
const { scans, transactions, cleanPrefix, classEvents } = config.topics;
const NOW = Date.now();
const STORES = ['S1', 'S2', 'S3'];

const scan = (i: number, eventTime: number): RfidScan => ({
  tag_id: `TAG-${i}`,
  rental_class_num: `RC-${i % 4}`,
  scan_type: i % 2 === 0 ? 'out' : 'return',
  scan_date: eventTime,
  reader_id: `R-${i % 3}`,
  store_id: STORES[i % 3]!,
  quality_grade: 4,
  notes: null,
});

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let running: RunningPipeline;
let encode: (s: RfidScan) => Buffer;

async function produce(values: RfidScan[]): Promise<void> {
  await producer.send({
    topic: scans,
    acks: -1,
    messages: values.map((v) => ({ key: v.tag_id, value: encode(v) })),
  });
}

async function exposition(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

const lines = (text: string, name: string): string[] =>
  text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

const value = (line: string): number => Number(line.slice(line.lastIndexOf(' ') + 1));

/** Polls /metrics until `done` holds; fails with the last exposition's relevant lines. */
async function until(what: string, done: (text: string) => boolean, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await exposition();
    if (done(text)) return text;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${what} not seen within ${timeoutMs} ms; tagstream lines:\n${text
      .split('\n')
      .filter((l) => l.startsWith('tagstream_') && !l.includes('_process_') && !l.includes('_nodejs_'))
      .join('\n')}`,
  );
}

beforeAll(async () => {
  promtoolVersion();
  await requireStack(config);
  kafka = testKafka(config);
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [scans, transactions].map((topic) => ({ topic, numPartitions: 3 })),
    waitForLeaders: true,
  });
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  encode = await new AvroSerde(confluentRegistry(config.schemaRegistry.url)).encoderFor<RfidScan>(
    scans,
    loadSchema('rfidScan'),
  );
  running = await startPipeline(config, tagstreamTopology(config), {
    log: createLogger('test', 'error'),
    serveMetrics: true,
  });
});

afterAll(async () => {
  await running?.stop();
  await producer?.disconnect();
  await admin?.disconnect();
});

describe('a running pipeline’s /metrics', () => {
  it('reports lag, state, watermark delay and late records, and passes promtool', async () => {
    await produce(Array.from({ length: 300 }, (_, i) => scan(i, NOW - 10 * 60_000 + i * 1_000)));
    await waitForCommitted(admin, config.pipeline.groupId, [scans], 60_000);

    // Idleness lets the watermark of every class-events partition follow the wall clock.
    const pipeline = 'pipeline="tagstream"';
    let text = await until('a watermark delay per class-events partition', (t) => {
      const delays = lines(t, 'tagstream_watermark_delay_seconds');
      return delays.length === 3 && delays.every((l) => l.includes('stage="class-windows"'));
    });
    expect(
      lines(text, 'tagstream_state_entries').find((l) => l.includes('store="class-windows.windows"')),
    ).toMatch(/} [1-9]\d*$/);

    // Three hours old: the 1m, 5m and 1h windows it belongs to closed long ago.
    await produce([0, 1, 2].map((i) => scan(i, NOW - 3 * 3_600_000)));
    text = await until('late records', (t) =>
      lines(t, 'tagstream_late_records_total').some((l) => l.includes('window="1m"')),
    );
    for (const l of lines(text, 'tagstream_late_records_total'))
      expect(l).toMatch(
        new RegExp(
          `^tagstream_late_records_total\\{${pipeline},topic="${classEvents.replace(/\./g, '\\.')}",window="(1m|5m|1h|1d|7d)"\\} [1-9]`,
        ),
      );

    // Caught up: every assigned source partition with records, transactional internal topics included, at 0.
    text = await until('consumer lag back to 0', (t) => {
      const lag = lines(t, 'tagstream_consumer_lag_records');
      return (
        lag.some((l) => l.includes(`topic="${scans}"`)) &&
        lag.some((l) => l.includes(`topic="${cleanPrefix}${scans}"`)) &&
        lag.some((l) => l.includes(`topic="${classEvents}"`)) &&
        lag.every((l) => value(l) === 0)
      );
    });
    expect(lines(text, 'tagstream_records_in_total').length).toBeGreaterThan(0);

    expect(checkMetrics(text)).toEqual({ status: 0, output: '' });
  });
});
