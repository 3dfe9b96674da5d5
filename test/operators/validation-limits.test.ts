// Bounded inputs: every string and array a source record carries has a limit that fits every column and key it
// reaches downstream, a field over it is dead-lettered as FIELD_TOO_LONG naming the field, and a record or key over
// pipeline.maxRecordBytes / maxKeyBytes is dead-lettered undecoded, cut to its start so the dead letter fits.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FIELD_LIMITS } from '../../operators/validation-rules.ts';
import type { TestDriver } from '../../src/runtime/test-driver.ts';
import type { DeadLetter, PosTransaction, RfidScan } from '../../src/schemas/types.ts';
import {
  CLEAN_SCANS,
  CLEAN_TRANSACTIONS,
  DLQ_SCANS,
  DLQ_TRANSACTIONS,
  SCANS,
  TRANSACTIONS,
  ingestDriver,
  readOnlyDeadLetter,
  sampleScan,
  sampleTransaction,
  scanSchema,
  transactionSchema,
} from '../helpers/ingest.ts';

/** Declared widths of the columns of a table in schemas/sql (VARCHAR(n) as n, TEXT as 65,535 bytes / 4). */
function columnWidths(table: string): Map<string, number> {
  const sql = ['001_core.sql', '002_ml.sql']
    .map((f) => readFileSync(new URL(`../../schemas/sql/${f}`, import.meta.url), 'utf8'))
    .join('\n');
  const body = new RegExp(`CREATE TABLE IF NOT EXISTS ${table} \\(([\\s\\S]*?)\\n\\)`).exec(sql)?.[1];
  if (!body) throw new Error(`no table ${table} in schemas/sql`);
  const widths = new Map<string, number>();
  for (const m of body.matchAll(/^\s*(\w+)\s+(VARCHAR\((\d+)\)|TEXT)/gm))
    widths.set(m[1]!, m[3] === undefined ? Math.floor(65_535 / 4) : Number(m[3]));
  return widths;
}

describe('field limits fit the columns they reach', () => {
  it('scan fields fit id_transactions and id_item_master', () => {
    for (const table of ['id_transactions', 'id_item_master']) {
      const widths = columnWidths(table);
      for (const field of [
        'tag_id',
        'rental_class_num',
        'reader_id',
        'store_id',
        'scan_type',
        'notes',
      ] as const)
        if (widths.has(field))
          expect(FIELD_LIMITS[field], `${table}.${field}`).toBeLessThanOrEqual(widths.get(field)!);
    }
  });

  it('entity ids (item, class key store|class, transaction) fit ml_feature_store.target_entity', () => {
    const entity = columnWidths('ml_feature_store').get('target_entity')!;
    expect(FIELD_LIMITS.tag_id).toBeLessThanOrEqual(entity);
    expect(FIELD_LIMITS.store_id + 1 + FIELD_LIMITS.rental_class_num).toBeLessThanOrEqual(entity);
    expect(FIELD_LIMITS.transaction_id).toBeLessThanOrEqual(entity);
  });
});

async function scanOutcome(scan: RfidScan): Promise<{ driver: TestDriver; topics: string[] }> {
  const { driver } = await ingestDriver({ validation: { storeIds: [] } });
  await driver.pipe(SCANS, scanSchema, scan, { key: 'k' });
  return { driver, topics: driver.topicsWritten() };
}

async function transactionOutcome(tx: PosTransaction): Promise<{ driver: TestDriver; topics: string[] }> {
  const { driver } = await ingestDriver({ validation: { storeIds: [] } });
  await driver.pipe(TRANSACTIONS, transactionSchema, tx, { key: 'k' });
  return { driver, topics: driver.topicsWritten() };
}

describe('a field over its limit is FIELD_TOO_LONG, one at its limit passes', () => {
  for (const field of ['tag_id', 'rental_class_num', 'reader_id', 'store_id', 'notes'] as const) {
    it(`scan ${field}`, async () => {
      const limit = FIELD_LIMITS[field];
      const ok = await scanOutcome(sampleScan({ [field]: 'x'.repeat(limit) }));
      expect(ok.topics).toEqual([CLEAN_SCANS]);
      const over = await scanOutcome(sampleScan({ [field]: 'x'.repeat(limit + 1) }));
      const dl = await readOnlyDeadLetter(over.driver, DLQ_SCANS);
      expect(dl.error_code).toBe('FIELD_TOO_LONG');
      expect(dl.error_message).toBe(`${field} has ${limit + 1} characters, over its limit of ${limit}`);
    });
  }

  for (const field of ['transaction_id', 'contract_no', 'customer_id', 'store_id'] as const) {
    it(`transaction ${field}`, async () => {
      const limit = FIELD_LIMITS[field];
      const ok = await transactionOutcome(sampleTransaction({ [field]: 'x'.repeat(limit) }));
      expect(ok.topics).toContain(CLEAN_TRANSACTIONS);
      const over = await transactionOutcome(sampleTransaction({ [field]: 'x'.repeat(limit + 1) }));
      const dl = await readOnlyDeadLetter(over.driver, DLQ_TRANSACTIONS);
      expect(dl.error_code).toBe('FIELD_TOO_LONG');
      expect(dl.error_message).toContain(`${field} has ${limit + 1} characters`);
    });
  }

  it("an item's rental_class_num, named by its index", async () => {
    const long = 'x'.repeat(FIELD_LIMITS.rental_class_num + 1);
    const tx = sampleTransaction();
    const over = await transactionOutcome({
      ...tx,
      items: [tx.items[0]!, { ...tx.items[1]!, rental_class_num: long }],
    });
    const dl = await readOnlyDeadLetter(over.driver, DLQ_TRANSACTIONS);
    expect(dl.error_code).toBe('FIELD_TOO_LONG');
    expect(dl.error_message).toContain('items[1].rental_class_num has');
  });

  it('items: at most FIELD_LIMITS.items per transaction', async () => {
    const item = { rental_class_num: 'CHAIR', quantity: 1, price: 1 };
    const n = FIELD_LIMITS.items;
    const ok = await transactionOutcome(
      sampleTransaction({ items: Array.from({ length: n }, () => item), total_amount: n }),
    );
    expect(ok.topics).toContain(CLEAN_TRANSACTIONS);
    const over = await transactionOutcome(
      sampleTransaction({ items: Array.from({ length: n + 1 }, () => item), total_amount: n + 1 }),
    );
    const dl = await readOnlyDeadLetter(over.driver, DLQ_TRANSACTIONS);
    expect(dl.error_code).toBe('FIELD_TOO_LONG');
    expect(dl.error_message).toBe(`items has ${n + 1} entries, over its limit of ${n}`);
  });
});

describe('records and keys over the byte limits are dead-lettered undecoded', () => {
  it('RECORD_TOO_LARGE: the dead letter keeps the first 1,024 bytes of the value and the key', async () => {
    const { driver } = await ingestDriver();
    const big = Buffer.alloc(70_000, 7);
    await driver.pipeRaw(SCANS, big, { key: 'tag-1' });
    expect(driver.topicsWritten()).toEqual([DLQ_SCANS]);
    const [out] = await driver.read<DeadLetter>(DLQ_SCANS);
    const dl = out!.value;
    expect(dl.error_code).toBe('RECORD_TOO_LARGE');
    expect(dl.stage).toBe('decode');
    expect(dl.error_message).toContain('70000 bytes, over pipeline.maxRecordBytes (65536)');
    expect(dl.value?.equals(big.subarray(0, 1_024))).toBe(true);
    expect(dl.key?.toString()).toBe('tag-1');
    expect(out!.key).toBe('tag-1');
  });

  it('KEY_TOO_LONG: the dead letter has no Kafka key, and its envelope keeps the start of the key', async () => {
    const { driver } = await ingestDriver({}, { limits: { maxRecordBytes: 65_536, maxKeyBytes: 16 } });
    const key = 'k'.repeat(2_000);
    const value = await driver.encode(SCANS, scanSchema, sampleScan());
    await driver.pipeRaw(SCANS, value, { key });
    expect(driver.topicsWritten()).toEqual([DLQ_SCANS]);
    const [out] = await driver.read<DeadLetter>(DLQ_SCANS);
    const dl = out!.value;
    expect(dl.error_code).toBe('KEY_TOO_LONG');
    expect(dl.key?.toString()).toBe(key.slice(0, 1_024));
    expect(dl.value?.equals(value)).toBe(true);
    expect(out!.key ?? null).toBeNull();
  });

  it('a record within the limits passes as before', async () => {
    const { driver } = await ingestDriver({}, { limits: { maxRecordBytes: 65_536, maxKeyBytes: 16 } });
    const scan = sampleScan({ store_id: 'S1' });
    await driver.pipe(SCANS, scanSchema, scan, { key: 'short-key' });
    expect(driver.topicsWritten()).toEqual([CLEAN_SCANS]);
  });
});
