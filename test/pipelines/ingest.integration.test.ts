// The ingest pipeline on the real broker and registry: 10,000 valid records and 500 bad ones; exactly the valid
// ones come out, exactly the bad ones land in the DLQ with their reason, offsets are committed, a rerun is a no-op.
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { ingestTopology } from '../../pipelines/ingest.ts';
import { startPipeline } from '../../src/app/pipeline.ts';
import { AvroSerde, confluentRegistry } from '../../src/io/registry/registry.ts';
import { encodeWire } from '../../src/io/registry/wire.ts';
import { createLogger } from '../../src/log.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { DeadLetter, PosTransaction, RfidScan } from '../../src/schemas/types.ts';
import {
  endOffsets,
  readTopic,
  requireStack,
  testConfig,
  testKafka,
  waitForCommitted,
} from '../helpers/stack.ts';

const config = testConfig();
const { scans, transactions, cleanPrefix, dlqPrefix } = config.topics;
const NOW = Date.now();
const DAY = 86_400_000;
const VALID_SCANS = 6_000;
const VALID_TX = 4_000;
const SCAN_TYPES = ['in', 'out', 'return', 'damage', 'repair'];

const scan = (i: number, over: Partial<RfidScan> = {}): RfidScan => ({
  tag_id: `TAG-${i}`,
  rental_class_num: `RC-${i % 40}`,
  scan_type: SCAN_TYPES[i % 5] as string,
  scan_date: NOW - (i % 1000) * 60_000,
  reader_id: `R-${i % 7}`,
  store_id: `S${(i % 3) + 1}`,
  quality_grade: (i % 5) + 1,
  notes: i % 10 === 0 ? 'dock door' : null,
  ...over,
});

const tx = (i: number, over: Partial<PosTransaction> = {}): PosTransaction => {
  const items = [
    { rental_class_num: `RC-${i % 40}`, quantity: (i % 4) + 1, price: 12.5 },
    { rental_class_num: `RC-${(i + 1) % 40}`, quantity: 2, price: 3.25 },
  ];
  return {
    transaction_id: `TX-${i}`,
    contract_no: `C-${i}`,
    store_id: `S${(i % 3) + 1}`,
    customer_id: `CU-${i % 97}`,
    transaction_date: NOW - (i % 500) * 60_000,
    event_date: Math.floor(NOW / DAY) + 3,
    items,
    total_amount: items.reduce((s, it) => s + it.quantity * it.price, 0),
    ...over,
  };
};

/** One group of bad records per reason; values are the bytes to produce. */
type BadGroup = { topic: string; code: string; make: (i: number) => Buffer };

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const expectedBad = new Map<string, number>(); // `${topic}|${code}` -> count
let badTotal = 0;

async function produce(topic: string, messages: Array<{ key: string; value: Buffer }>): Promise<void> {
  for (let i = 0; i < messages.length; i += 1000)
    await producer.send({ topic, messages: messages.slice(i, i + 1000), acks: -1 });
}

beforeAll(async () => {
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

  const serde = new AvroSerde(confluentRegistry(config.schemaRegistry.url));
  const encScan = await serde.encoderFor<RfidScan>(scans, loadSchema('rfidScan'));
  const encTx = await serde.encoderFor<PosTransaction>(transactions, loadSchema('posTransaction'));
  // A legacy reader firmware writes scans without store_id, with a record schema of its own registered under the
  // topic's subject for that record (TopicRecordNameStrategy: <topic>-<record full name>).
  const legacy = loadSchema('rfidScan');
  const legacySchema = {
    ...legacy,
    name: 'LegacyScan',
    fields: legacy.fields.filter((f) => f.name !== 'store_id'),
  };
  const legacyId = await confluentRegistry(config.schemaRegistry.url).register(
    `${scans}-dev.tagstream.LegacyScan`,
    legacySchema,
  );
  const legacyType = avro.Type.forSchema(legacySchema as avro.Schema);
  const encLegacy = (v: Omit<RfidScan, 'store_id'>): Buffer => encodeWire(legacyId, legacyType.toBuffer(v));

  const groups: BadGroup[] = [
    { topic: scans, code: 'DECODE_MAGIC_BYTE', make: (i) => Buffer.from(`garbage ${i} \u0001\u0002`) },
    {
      topic: transactions,
      code: 'DECODE_UNKNOWN_SCHEMA',
      make: (i) => encodeWire(900_000 + i, Buffer.from([2, 4, 6])),
    },
    { topic: scans, code: 'DECODE_MALFORMED', make: (i) => encScan(scan(i)).subarray(0, 9) },
    {
      topic: scans,
      code: 'MISSING_FIELD',
      make: (i) => {
        const { store_id: _s, ...rest } = scan(i);
        return encLegacy(rest);
      },
    },
    { topic: scans, code: 'UNKNOWN_SCAN_TYPE', make: (i) => encScan(scan(i, { scan_type: 'teleport' })) },
    { topic: scans, code: 'UNKNOWN_STORE', make: (i) => encScan(scan(i, { store_id: 'S99' })) },
    { topic: scans, code: 'EVENT_TIME_FUTURE', make: (i) => encScan(scan(i, { scan_date: NOW + DAY })) },
    {
      topic: scans,
      code: 'EVENT_TIME_TOO_OLD',
      make: (i) => encScan(scan(i, { scan_date: NOW - 5 * 365 * DAY })),
    },
    { topic: scans, code: 'BAD_QUALITY_GRADE', make: (i) => encScan(scan(i, { quality_grade: 9 })) },
    {
      topic: transactions,
      code: 'BAD_QUANTITY',
      make: (i) =>
        encTx(tx(i, { items: [{ rental_class_num: 'RC-1', quantity: 0, price: 5 }], total_amount: 0 })),
    },
    {
      topic: transactions,
      code: 'BAD_PRICE',
      make: (i) =>
        encTx(tx(i, { items: [{ rental_class_num: 'RC-1', quantity: 1, price: -5 }], total_amount: -5 })),
    },
    { topic: transactions, code: 'TOTAL_MISMATCH', make: (i) => encTx(tx(i, { total_amount: 1 })) },
    { topic: transactions, code: 'EMPTY_ITEMS', make: (i) => encTx(tx(i, { items: [], total_amount: 0 })) },
    { topic: transactions, code: 'MISSING_FIELD', make: (i) => encTx(tx(i, { customer_id: '' })) },
  ];
  const bad: Record<string, Array<{ key: string; value: Buffer }>> = { [scans]: [], [transactions]: [] };
  for (let i = 0; i < 500; i++) {
    const g = groups[i % groups.length] as BadGroup;
    bad[g.topic]?.push({ key: `bad-${i}`, value: g.make(100_000 + i) });
    const k = `${g.topic}|${g.code}`;
    expectedBad.set(k, (expectedBad.get(k) ?? 0) + 1);
    badTotal++;
  }
  const scanMsgs = Array.from({ length: VALID_SCANS }, (_, i) => ({
    key: `TAG-${i}`,
    value: encScan(scan(i)),
  }));
  const txMsgs = Array.from({ length: VALID_TX }, (_, i) => ({ key: `TX-${i}`, value: encTx(tx(i)) }));
  // Interleave bad records with good ones so that failures happen mid-batch.
  await produce(scans, [...scanMsgs.slice(0, 3000), ...(bad[scans] ?? []), ...scanMsgs.slice(3000)]);
  await produce(transactions, [
    ...txMsgs.slice(0, 2000),
    ...(bad[transactions] ?? []),
    ...txMsgs.slice(2000),
  ]);
}, 120_000);

afterAll(async () => {
  await producer?.disconnect();
  await admin?.disconnect();
});

describe('ingest pipeline on Kafka', () => {
  const log = createLogger('test', 'error');
  let cleanScans: Awaited<ReturnType<typeof readTopic>> = [];
  let cleanTx: Awaited<ReturnType<typeof readTopic>> = [];
  let dlqScans: Awaited<ReturnType<typeof readTopic>> = [];
  let dlqTx: Awaited<ReturnType<typeof readTopic>> = [];
  // An independent consumer: knows only the broker and the registry address.
  const independent = new SchemaRegistry({ host: config.schemaRegistry.url });

  it('routes exactly the valid records downstream and the bad ones to the DLQ, committing offsets', async () => {
    const running = await startPipeline(config, ingestTopology(config), {
      log,
      serveMetrics: false,
    });
    try {
      await waitForCommitted(admin, config.pipeline.groupId, [scans, transactions], 120_000);
    } finally {
      await running.stop();
    }
    const badScans = [...expectedBad]
      .filter(([k]) => k.startsWith(`${scans}|`))
      .reduce((s, [, n]) => s + n, 0);
    cleanScans = await readTopic(kafka, `${cleanPrefix}${scans}`, VALID_SCANS);
    cleanTx = await readTopic(kafka, `${cleanPrefix}${transactions}`, VALID_TX);
    dlqScans = await readTopic(kafka, `${dlqPrefix}${scans}`, badScans);
    dlqTx = await readTopic(kafka, `${dlqPrefix}${transactions}`, badTotal - badScans);
    expect(cleanScans).toHaveLength(VALID_SCANS);
    expect(cleanTx).toHaveLength(VALID_TX);
    expect(dlqScans.length + dlqTx.length).toBe(500);

    const scanKeys = new Set(cleanScans.map((r) => r.key?.toString()));
    expect(scanKeys).toEqual(new Set(Array.from({ length: VALID_SCANS }, (_, i) => `TAG-${i}`)));
    const txKeys = new Set(cleanTx.map((r) => r.key?.toString()));
    expect(txKeys).toEqual(new Set(Array.from({ length: VALID_TX }, (_, i) => `TX-${i}`)));

    const seen = new Map<string, number>();
    for (const r of [...dlqScans, ...dlqTx]) {
      const dl = (await independent.decode(r.value as Buffer)) as DeadLetter;
      expect(dl.key?.toString()).toBe(r.key?.toString());
      expect(dl.key?.toString()).toMatch(/^bad-\d+$/);
      expect(dl.pipeline).toBe('ingest');
      expect(dl.pipeline_version).toBe(config.pipeline.version);
      expect(dl.error_message.length).toBeGreaterThan(5);
      const k = `${dl.topic}|${dl.error_code}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    expect(seen).toEqual(expectedBad);

    // The same counts, per reason, on /metrics.
    const dlqMetric = await running.metrics.getSingleMetric('tagstream_dlq_records_total')?.get();
    const byReason = new Map<string, number>();
    for (const v of dlqMetric?.values ?? []) {
      const k = `${String(v.labels['source'])}|${String(v.labels['reason'])}`;
      byReason.set(k, (byReason.get(k) ?? 0) + v.value);
    }
    expect(byReason).toEqual(expectedBad);

    const [committed] = await admin.fetchOffsets({ groupId: config.pipeline.groupId, topics: [scans] });
    const ends = await endOffsets(admin, scans);
    for (const p of committed?.partitions ?? []) expect(BigInt(p.offset)).toBe(ends.get(p.partition));
  });

  it('writes records that an independent consumer decodes with only the broker and registry addresses', async () => {
    const first = cleanScans[0];
    expect(first).toBeDefined();
    const value = (await independent.decode(first?.value as Buffer)) as RfidScan;
    expect(value.tag_id).toBe(first?.key?.toString());
    expect(SCAN_TYPES).toContain(value.scan_type);
    const txValue = (await independent.decode(cleanTx[0]?.value as Buffer)) as PosTransaction;
    expect(txValue.items.length).toBe(2);
    expect(txValue.total_amount).toBeCloseTo(
      txValue.items.reduce((s, it) => s + it.quantity * it.price, 0),
      6,
    );
    // The original bytes of a dead letter are kept as they were produced.
    const dl = (await independent.decode(dlqScans[0]?.value as Buffer)) as DeadLetter;
    expect(dl.value).toBeInstanceOf(Buffer);
  });

  it('re-processes nothing when run again on the same group', async () => {
    const outputs = [
      `${cleanPrefix}${scans}`,
      `${cleanPrefix}${transactions}`,
      `${dlqPrefix}${scans}`,
      `${dlqPrefix}${transactions}`,
    ];
    const before = await Promise.all(outputs.map((t) => endOffsets(admin, t)));
    const running = await startPipeline(config, ingestTopology(config), {
      log,
      serveMetrics: false,
    });
    try {
      await waitForCommitted(admin, config.pipeline.groupId, [scans, transactions], 60_000);
      // Give the group time to fetch; anything consumed would show up in the count.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(running.runner.recordsProcessed).toBe(0);
    } finally {
      await running.stop();
    }
    const after = await Promise.all(outputs.map((t) => endOffsets(admin, t)));
    expect(after).toEqual(before);
  });
});
