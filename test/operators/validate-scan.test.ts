// validate-scan on the in-process driver: each rule dead-letters with its code; valid scans come out clean,
// lower-cased, stamped with their event time.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RfidScan } from '../../src/schemas/types.ts';
import {
  CLEAN_SCANS,
  DAY_MS,
  DLQ_SCANS,
  SCANS,
  T0,
  ingestDriver,
  readOnlyDeadLetter,
  sampleScan,
  scanSchema,
} from '../helpers/ingest.ts';
import type { TestDriver } from '../../src/runtime/test-driver.ts';

const MARGIN = 5 * 60_000;
const MAX_AGE = 3 * 365 * DAY_MS;

/** Pipes one scan and returns the dead letter it produced, checking it is the only output. */
async function rejected(driver: TestDriver, scan: RfidScan, code: string): Promise<string> {
  const key = scan.tag_id;
  await driver.pipe(SCANS, scanSchema, scan, { key });
  const dl = await readOnlyDeadLetter(driver, DLQ_SCANS);
  expect(dl.error_code).toBe(code);
  expect(dl.stage).toBe('validate-scan');
  expect(dl.pipeline).toBe('ingest');
  expect(dl.key?.toString()).toBe(key);
  return dl.error_message;
}

/** Pipes one scan and returns the clean record it produced, checking it is the only output. */
async function accepted(driver: TestDriver, scan: RfidScan, opts: { timestamp?: number } = {}) {
  await driver.pipe(SCANS, scanSchema, scan, { key: scan.tag_id, ...opts });
  expect(driver.topicsWritten()).toEqual([CLEAN_SCANS]);
  const out = await driver.read<RfidScan>(CLEAN_SCANS);
  expect(out).toHaveLength(1);
  return out[0]!;
}

describe('validate-scan: valid scans', () => {
  it('come out on clean.rfid.scans equal to the input, keyed, with timestamp = scan_date', async () => {
    const { driver } = await ingestDriver();
    const scan = sampleScan({ notes: 'ok', scan_date: T0 - 42_000 });
    const out = await accepted(driver, scan, { timestamp: T0 + 999 });
    expect(out).toEqual({ key: scan.tag_id, value: scan, timestamp: T0 - 42_000 });
  });

  it.each(['in', 'out', 'return', 'damage', 'repair'])('accept scan_type %s', async (scan_type) => {
    const { driver } = await ingestDriver();
    const scan = sampleScan({ scan_type });
    expect((await accepted(driver, scan)).value.scan_type).toBe(scan_type);
  });

  it('lower-case scan_type', async () => {
    const { driver } = await ingestDriver();
    const scan = sampleScan({ scan_type: 'RETURN' });
    expect((await accepted(driver, scan)).value).toEqual({ ...scan, scan_type: 'return' });
  });

  it.each([1, 5])('accept quality_grade %i', async (quality_grade) => {
    const { driver } = await ingestDriver();
    expect((await accepted(driver, sampleScan({ quality_grade }))).value.quality_grade).toBe(quality_grade);
  });

  it('accept any store when the store list is empty', async () => {
    const { driver } = await ingestDriver({ validation: { storeIds: [] } });
    const store_id = `store-${randomUUID().slice(0, 8)}`;
    expect((await accepted(driver, sampleScan({ store_id }))).value.store_id).toBe(store_id);
  });
});

describe('validate-scan: rules', () => {
  it('MISSING_FIELD for an empty required string', async () => {
    const { driver } = await ingestDriver();
    expect(await rejected(driver, sampleScan({ reader_id: '' }), 'MISSING_FIELD')).toContain('reader_id');
  });

  it('MISSING_FIELD for a blank required string', async () => {
    const { driver } = await ingestDriver();
    expect(await rejected(driver, sampleScan({ rental_class_num: '   ' }), 'MISSING_FIELD')).toContain(
      'rental_class_num',
    );
  });

  it('MISSING_FIELD for a scan written with an older schema that has no store_id', async () => {
    const { driver } = await ingestDriver();
    const legacySchemaMissingStoreId = {
      ...scanSchema,
      fields: scanSchema.fields.filter((f) => f.name !== 'store_id'),
    };
    const { store_id: _dropped, ...legacy } = sampleScan();
    const bytes = (await driver.serde.encoderFor<unknown>(SCANS, legacySchemaMissingStoreId))(legacy);
    await driver.pipeRaw(SCANS, bytes, { key: legacy.tag_id });
    const dl = await readOnlyDeadLetter(driver, DLQ_SCANS);
    expect(dl.error_code).toBe('MISSING_FIELD');
    expect(dl.error_message).toBe('required field store_id is missing or empty');
    expect(dl.stage).toBe('validate-scan');
    expect(dl.value?.equals(bytes)).toBe(true);
  });

  it('UNKNOWN_SCAN_TYPE', async () => {
    const { driver } = await ingestDriver();
    expect(await rejected(driver, sampleScan({ scan_type: 'Lost' }), 'UNKNOWN_SCAN_TYPE')).toContain(
      '"lost"',
    );
  });

  it('UNKNOWN_SCAN_TYPE for a scan type with spaces', async () => {
    const { driver } = await ingestDriver();
    await rejected(driver, sampleScan({ scan_type: 'out ' }), 'UNKNOWN_SCAN_TYPE');
  });

  it('UNKNOWN_STORE', async () => {
    const { driver } = await ingestDriver();
    expect(await rejected(driver, sampleScan({ store_id: 'S9' }), 'UNKNOWN_STORE')).toContain('S9');
  });

  it('UNKNOWN_STORE follows the configured store list', async () => {
    const { driver } = await ingestDriver({ validation: { storeIds: ['north'] } });
    await rejected(driver, sampleScan({ store_id: 'S1' }), 'UNKNOWN_STORE');
    await accepted(driver, sampleScan({ store_id: 'north' }));
  });

  it.each([0, 6, -1])('BAD_QUALITY_GRADE for %i', async (quality_grade) => {
    const { driver } = await ingestDriver();
    await rejected(driver, sampleScan({ quality_grade }), 'BAD_QUALITY_GRADE');
  });

  it('EVENT_TIME_FUTURE just beyond the margin; accepted just inside it', async () => {
    const { driver } = await ingestDriver();
    expect(await rejected(driver, sampleScan({ scan_date: T0 + MARGIN + 1 }), 'EVENT_TIME_FUTURE')).toContain(
      `${MARGIN} ms ahead`,
    );
    await accepted(driver, sampleScan({ scan_date: T0 + MARGIN }));
  });

  it('EVENT_TIME_FUTURE follows the fake clock: the same scan is accepted once the clock moves on', async () => {
    const { driver } = await ingestDriver();
    const scan = sampleScan({ scan_date: T0 + MARGIN + 1_000 });
    await rejected(driver, scan, 'EVENT_TIME_FUTURE');
    driver.clock.advance(999);
    await rejected(driver, scan, 'EVENT_TIME_FUTURE');
    driver.clock.advance(1);
    expect((await accepted(driver, scan)).timestamp).toBe(T0 + MARGIN + 1_000);
  });

  it('EVENT_TIME_FUTURE uses the configured margin', async () => {
    const { driver } = await ingestDriver({ validation: { futureMarginMs: 0 } });
    await rejected(driver, sampleScan({ scan_date: T0 + 1 }), 'EVENT_TIME_FUTURE');
    await accepted(driver, sampleScan({ scan_date: T0 }));
  });

  it('EVENT_TIME_TOO_OLD just beyond max age; accepted at it', async () => {
    const { driver } = await ingestDriver();
    expect(
      await rejected(driver, sampleScan({ scan_date: T0 - MAX_AGE - 1 }), 'EVENT_TIME_TOO_OLD'),
    ).toContain('1095 days');
    await accepted(driver, sampleScan({ scan_date: T0 - MAX_AGE }));
  });

  it('EVENT_TIME_TOO_OLD follows the fake clock', async () => {
    const { driver } = await ingestDriver({ validation: { maxAgeDays: 1 } });
    const scan = sampleScan({ scan_date: T0 - 3_600_000 });
    await accepted(driver, scan);
    driver.clock.advance(DAY_MS - 3_600_000 + 1);
    await rejected(driver, scan, 'EVENT_TIME_TOO_OLD');
  });
});
