// The ingest pipeline end to end on the in-process driver: undecodable bytes, the dead-letter envelope,
// and the guarantee that every input ends in exactly one of clean.* or dlq.*.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeWire } from '../../src/io/registry/wire.ts';
import { valueSubject } from '../../src/io/registry/registry.ts';
import { SCAN_TYPES } from '../../src/features/vocabulary.ts';
import type { DeadLetter, RfidScan } from '../../src/schemas/types.ts';
import {
  CLEAN_SCANS,
  CLEAN_TRANSACTIONS,
  DAY_MS,
  DLQ_SCANS,
  DLQ_TRANSACTIONS,
  SCANS,
  T0,
  TRANSACTIONS,
  ingestDriver,
  readOnlyDeadLetter,
  recordingMetrics,
  sampleScan,
  sampleTransaction,
  scanSchema,
  transactionSchema,
} from '../helpers/ingest.ts';

describe('ingest: undecodable bytes go to the DLQ at stage decode', () => {
  it('garbage is DECODE_MAGIC_BYTE, with the full envelope', async () => {
    const { driver } = await ingestDriver({}, { pipelineVersion: '1.2.3' });
    driver.clock.advance(12_345);
    const key = `tag-${randomUUID()}`;
    const garbage = Buffer.from('{"tag_id":"not avro"}');
    await driver.pipeRaw(SCANS, garbage, { key, timestamp: 77 });
    expect(driver.topicsWritten()).toEqual([DLQ_SCANS]);
    const [out] = await driver.read<DeadLetter>(DLQ_SCANS);
    expect(out!.key).toBe(key);
    expect(out!.timestamp).toBe(T0 + 12_345);
    expect(out!.value).toEqual({
      key: Buffer.from(key),
      value: garbage,
      topic: SCANS,
      partition: 0,
      offset: 0,
      error_code: 'DECODE_MAGIC_BYTE',
      error_message: `magic byte is ${'{'.charCodeAt(0)}, expected 0: not Confluent wire format`,
      failed_at: T0 + 12_345,
      pipeline: 'ingest',
      pipeline_version: '1.2.3',
      stage: 'decode',
    });
  });

  it('an unknown schema id (a valid header with id 999) is DECODE_UNKNOWN_SCHEMA', async () => {
    const { driver } = await ingestDriver();
    const bytes = encodeWire(999, Buffer.from([0x02, 0x41]));
    await driver.pipeRaw(SCANS, bytes, { key: 'k' });
    const dl = await readOnlyDeadLetter(driver, DLQ_SCANS);
    expect([dl.error_code, dl.stage]).toEqual(['DECODE_UNKNOWN_SCHEMA', 'decode']);
    expect(dl.error_message).toContain('999');
    expect(dl.value?.equals(bytes)).toBe(true);
  });

  it('a truncated Avro body is DECODE_MALFORMED', async () => {
    const { driver } = await ingestDriver();
    const whole = await driver.encode(SCANS, scanSchema, sampleScan());
    const truncated = whole.subarray(0, whole.length - 4);
    await driver.pipeRaw(SCANS, truncated, { key: 'k' });
    const dl = await readOnlyDeadLetter(driver, DLQ_SCANS);
    expect([dl.error_code, dl.stage]).toEqual(['DECODE_MALFORMED', 'decode']);
    expect(dl.value?.equals(truncated)).toBe(true);
  });

  it('a tombstone (null value, no key) is DECODE_MAGIC_BYTE with null key and value in the envelope', async () => {
    const { driver } = await ingestDriver();
    await driver.pipeRaw(TRANSACTIONS, null);
    expect(driver.topicsWritten()).toEqual([DLQ_TRANSACTIONS]);
    const [out] = await driver.read<DeadLetter>(DLQ_TRANSACTIONS);
    expect(out!.key).toBeNull();
    expect(out!.value).toMatchObject({
      key: null,
      value: null,
      topic: TRANSACTIONS,
      error_code: 'DECODE_MAGIC_BYTE',
    });
  });

  it("a scan sent to the transactions topic is refused at decoding: its schema is another topic's", async () => {
    const { driver } = await ingestDriver();
    const elsewhere = `elsewhere-${randomUUID()}`;
    const bytes = await driver.encode(elsewhere, scanSchema, sampleScan());
    await driver.pipeRaw(TRANSACTIONS, bytes);
    const dl = await readOnlyDeadLetter(driver, DLQ_TRANSACTIONS);
    expect([dl.error_code, dl.stage]).toEqual(['DECODE_WRONG_SUBJECT', 'decode']);
    expect(dl.error_message).toContain(`${elsewhere}-value, not under ${TRANSACTIONS}-value`);
  });

  it("a schema registered under the topic's record-name subject is the topic's too (RecordNameStrategy)", async () => {
    const { driver } = await ingestDriver();
    const scan = sampleScan();
    // Registered only under the record's full name, as a producer with RecordNameStrategy does.
    const id = await driver.registry.register('dev.tagstream.RfidScan', scanSchema);
    const { default: avro } = await import('avsc');
    const bytes = encodeWire(id, avro.Type.forSchema(scanSchema as never).toBuffer(scan));
    await driver.pipeRaw(SCANS, bytes, { key: scan.tag_id });
    expect(driver.topicsWritten()).toEqual([CLEAN_SCANS]);
  });
});

describe('ingest: the dead-letter envelope', () => {
  it('keeps the original key and value bytes, topic, partition and offset; failed_at is the fake clock', async () => {
    const { driver } = await ingestDriver({}, { pipelineVersion: `v-${randomUUID()}` });
    const good = sampleScan();
    await driver.pipe(SCANS, scanSchema, good, { key: good.tag_id });
    const bad = sampleScan({ store_id: 'S404' });
    const badBytes = await driver.encode(SCANS, scanSchema, bad);
    driver.clock.set(T0 + DAY_MS);
    await driver.pipeRaw(SCANS, badBytes, { key: bad.tag_id });
    expect((await driver.read<RfidScan>(CLEAN_SCANS)).map((r) => r.value)).toEqual([good]);
    const [out] = await driver.read<DeadLetter>(DLQ_SCANS);
    const dl = out!.value;
    expect(dl.key?.equals(Buffer.from(bad.tag_id))).toBe(true);
    expect(dl.value?.equals(badBytes)).toBe(true);
    expect([dl.topic, dl.partition, dl.offset]).toEqual([SCANS, 0, 1]);
    expect(dl.failed_at).toBe(T0 + DAY_MS);
    expect(out!.timestamp).toBe(T0 + DAY_MS);
    expect(dl.pipeline).toBe('ingest');
    expect(dl.pipeline_version).toMatch(/^v-/);
    expect(dl.stage).toBe('validate-scan');
    expect(dl.error_code).toBe('UNKNOWN_STORE');
  });

  it('offsets count per source topic', async () => {
    const { driver } = await ingestDriver();
    await driver.pipeRaw(SCANS, Buffer.from('x'));
    await driver.pipeRaw(TRANSACTIONS, Buffer.from('x'));
    await driver.pipeRaw(SCANS, Buffer.from('x'));
    expect((await driver.read<DeadLetter>(DLQ_SCANS)).map((r) => r.value.offset)).toEqual([0, 1]);
    expect((await driver.read<DeadLetter>(DLQ_TRANSACTIONS)).map((r) => r.value.offset)).toEqual([0]);
  });

  it('follows configured topic names and the DLQ prefix', async () => {
    const { driver } = await ingestDriver(
      { topics: { scans: 'scans.v2', cleanPrefix: 'valid.' } },
      { dlqPrefix: 'dead.' },
    );
    const scan = sampleScan();
    await driver.pipe('scans.v2', scanSchema, scan);
    await driver.pipeRaw('scans.v2', Buffer.from('x'));
    expect(driver.topicsWritten().sort()).toEqual(['dead.scans.v2', 'valid.scans.v2']);
    expect((await driver.read<RfidScan>('valid.scans.v2'))[0]!.value).toEqual(scan);
  });

  it('registers the source, clean and dead-letter schemas under <topic>-value at start-up', async () => {
    const { driver } = await ingestDriver();
    const subjects = driver.registry.subjects();
    expect([...subjects.keys()].sort()).toEqual(
      [SCANS, CLEAN_SCANS, DLQ_SCANS, TRANSACTIONS, CLEAN_TRANSACTIONS, DLQ_TRANSACTIONS]
        .map((t) => valueSubject(t))
        .sort(),
    );
    // A producer writing the catalogue schema finds the id the pipeline registered; clean.* shares it.
    const [scanId] = subjects.get(valueSubject(SCANS))!;
    expect(subjects.get(valueSubject(CLEAN_SCANS))).toEqual([scanId]);
    expect((await driver.encode(SCANS, scanSchema, sampleScan())).readUInt32BE(1)).toBe(scanId);
    expect(await driver.registry.schemaById(scanId!)).toEqual(scanSchema);
    expect(subjects.get(valueSubject(DLQ_SCANS))).toEqual(subjects.get(valueSubject(DLQ_TRANSACTIONS)));
  });
});

describe('ingest: metrics', () => {
  it('counts records in, out and dead-lettered with source, stage and reason', async () => {
    const metrics = recordingMetrics();
    const { driver } = await ingestDriver({}, { metrics });
    await driver.pipe(SCANS, scanSchema, sampleScan());
    await driver.pipe(SCANS, scanSchema, sampleScan({ scan_type: 'stolen' }));
    await driver.pipe(TRANSACTIONS, transactionSchema, sampleTransaction());
    await driver.pipeRaw(TRANSACTIONS, Buffer.from([0, 0, 0, 0]));
    expect(metrics.calls).toEqual([
      ['recordsIn', SCANS, 1],
      ['recordsOut', CLEAN_SCANS, 1],
      ['recordsIn', SCANS, 1],
      ['deadLettered', SCANS, 'validate-scan', 'UNKNOWN_SCAN_TYPE'],
      ['recordsIn', TRANSACTIONS, 1],
      ['recordsOut', CLEAN_TRANSACTIONS, 1],
      ['recordsIn', TRANSACTIONS, 1],
      ['deadLettered', TRANSACTIONS, 'decode', 'DECODE_MAGIC_BYTE'],
    ]);
  });
});

// ---- Nothing is dropped silently -------------------------------------------------------------------------

type Input =
  | { readonly kind: 'valid'; readonly scan: RfidScan }
  | { readonly kind: 'invalid'; readonly scan: RfidScan; readonly code: string }
  | { readonly kind: 'bytes'; readonly bytes: Buffer; readonly code: string };

const MARGIN = 5 * 60_000;
const MAX_AGE = 1095 * DAY_MS;

const validScan = fc
  .record({
    scan_type: fc.constantFrom(...SCAN_TYPES).chain((t) => fc.constantFrom(t, t.toUpperCase())),
    store_id: fc.constantFrom('S1', 'S2', 'S3'),
    quality_grade: fc.integer({ min: 1, max: 5 }),
    scan_date: fc.integer({ min: T0 - MAX_AGE, max: T0 + MARGIN }),
    notes: fc.option(fc.string(), { nil: null }),
  })
  .map((over) => sampleScan(over));

const input: fc.Arbitrary<Input> = fc.oneof(
  validScan.map((scan) => ({ kind: 'valid', scan }) as const),
  validScan.chain((s) =>
    fc
      .constantFrom<[Partial<RfidScan>, string]>(
        [{ tag_id: '' }, 'MISSING_FIELD'],
        [{ scan_type: 'lost' }, 'UNKNOWN_SCAN_TYPE'],
        [{ store_id: 'S0' }, 'UNKNOWN_STORE'],
        [{ quality_grade: 9 }, 'BAD_QUALITY_GRADE'],
        [{ scan_date: T0 + MARGIN + 1 }, 'EVENT_TIME_FUTURE'],
        [{ scan_date: T0 - MAX_AGE - 1 }, 'EVENT_TIME_TOO_OLD'],
      )
      .map(([over, code]) => ({ kind: 'invalid', scan: { ...s, ...over }, code }) as const),
  ),
  fc
    .uint8Array({ maxLength: 40 })
    .map((b) => ({ kind: 'bytes', bytes: Buffer.from([1, ...b]), code: 'DECODE_MAGIC_BYTE' }) as const),
  fc
    .uint8Array({ maxLength: 4 })
    .map((b) => ({ kind: 'bytes', bytes: Buffer.from(b), code: 'DECODE_MAGIC_BYTE' }) as const),
);

describe('ingest: every input ends in exactly one of clean or dlq', () => {
  it('for random mixes of valid and invalid scans, count(clean) + count(dlq) = count(in)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(input, { maxLength: 25 }), async (inputs) => {
        const { driver } = await ingestDriver();
        for (const [i, x] of inputs.entries()) {
          const key = `in-${i}`;
          if (x.kind === 'bytes') await driver.pipeRaw(SCANS, x.bytes, { key });
          else await driver.pipe(SCANS, scanSchema, x.scan, { key });
        }
        const clean = await driver.read<RfidScan>(CLEAN_SCANS);
        const dlq = await driver.read<DeadLetter>(DLQ_SCANS);
        expect(driver.topicsWritten()).toEqual([]);
        expect(clean.length + dlq.length).toBe(inputs.length);

        const keys = [...clean, ...dlq].map((r) => r.key).sort();
        expect(keys).toEqual(inputs.map((_, i) => `in-${i}`).sort());

        for (const r of clean) {
          const x = inputs[Number(r.key!.slice(3))]!;
          expect(x.kind).toBe('valid');
          if (x.kind !== 'valid') continue;
          expect(r.value).toEqual({ ...x.scan, scan_type: x.scan.scan_type.toLowerCase() });
          expect(r.timestamp).toBe(x.scan.scan_date);
        }
        for (const r of dlq) {
          const x = inputs[Number(r.key!.slice(3))]!;
          expect(x.kind).not.toBe('valid');
          if (x.kind === 'valid') continue;
          expect(r.value.error_code).toBe(x.code);
          expect(r.value.offset).toBe(Number(r.key!.slice(3)));
        }
      }),
      { numRuns: 60 },
    );
  });
});
