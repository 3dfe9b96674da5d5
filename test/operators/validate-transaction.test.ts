// validate-transaction on the in-process driver: each rule dead-letters with its code; valid transactions
// come out clean, stamped with their transaction time.
import { describe, expect, it } from 'vitest';
import type { TestDriver } from '../../src/runtime/test-driver.ts';
import type { PosTransaction } from '../../src/schemas/types.ts';
import {
  CLEAN_TRANSACTIONS,
  DAY_MS,
  DLQ_TRANSACTIONS,
  T0,
  TRANSACTIONS,
  ingestDriver,
  readOnlyDeadLetter,
  sampleTransaction,
  transactionSchema,
} from '../helpers/ingest.ts';

async function rejected(driver: TestDriver, tx: PosTransaction, code: string): Promise<string> {
  await driver.pipe(TRANSACTIONS, transactionSchema, tx, { key: tx.contract_no });
  const dl = await readOnlyDeadLetter(driver, DLQ_TRANSACTIONS);
  expect(dl.error_code).toBe(code);
  expect(dl.stage).toBe('validate-transaction');
  expect(dl.topic).toBe(TRANSACTIONS);
  expect(dl.key?.toString()).toBe(tx.contract_no);
  return dl.error_message;
}

async function accepted(driver: TestDriver, tx: PosTransaction, opts: { timestamp?: number } = {}) {
  await driver.pipe(TRANSACTIONS, transactionSchema, tx, { key: tx.contract_no, ...opts });
  expect(driver.topicsWritten()).toEqual([CLEAN_TRANSACTIONS]);
  const out = await driver.read<PosTransaction>(CLEAN_TRANSACTIONS);
  expect(out).toHaveLength(1);
  return out[0]!;
}

describe('validate-transaction: valid transactions', () => {
  it('come out on clean.pos.transactions equal to the input, keyed, with timestamp = transaction_date', async () => {
    const { driver } = await ingestDriver();
    const tx = sampleTransaction({ transaction_date: T0 - 7_000 });
    expect(await accepted(driver, tx, { timestamp: T0 + 5 })).toEqual({
      key: tx.contract_no,
      value: tx,
      timestamp: T0 - 7_000,
    });
  });

  it('accept a free item (price 0)', async () => {
    const { driver } = await ingestDriver();
    const tx = sampleTransaction({
      items: [{ rental_class_num: 'SPARE', quantity: 2, price: 0 }],
      total_amount: 0,
    });
    expect((await accepted(driver, tx)).value).toEqual(tx);
  });

  it('TOTAL_MISMATCH tolerance: a total within 0.01 of the sum is accepted', async () => {
    const { driver } = await ingestDriver();
    await accepted(driver, sampleTransaction({ total_amount: 210.005 }));
    await accepted(driver, sampleTransaction({ total_amount: 209.995 }));
  });

  it('floating-point sums do not cause a mismatch', async () => {
    const { driver } = await ingestDriver();
    const items = [1, 2, 3].map((i) => ({ rental_class_num: `C${i}`, quantity: 1, price: 0.1 }));
    await accepted(driver, sampleTransaction({ items, total_amount: 0.3 }));
  });
});

describe('validate-transaction: rules', () => {
  it('MISSING_FIELD for an empty required string', async () => {
    const { driver } = await ingestDriver();
    expect(await rejected(driver, sampleTransaction({ customer_id: '' }), 'MISSING_FIELD')).toContain(
      'customer_id',
    );
  });

  it('MISSING_FIELD for an item with an empty rental class', async () => {
    const { driver } = await ingestDriver();
    const items = [{ rental_class_num: '', quantity: 1, price: 210 }];
    expect(await rejected(driver, sampleTransaction({ items }), 'MISSING_FIELD')).toContain(
      'rental_class_num',
    );
  });

  it('MISSING_FIELD for a transaction written with an older schema that has no customer_id', async () => {
    const { driver } = await ingestDriver();
    const legacySchema = {
      ...transactionSchema,
      fields: transactionSchema.fields.filter((f) => f.name !== 'customer_id'),
    };
    const { customer_id: _dropped, ...legacy } = sampleTransaction();
    const bytes = (await driver.serde.encoderFor<unknown>(TRANSACTIONS, legacySchema))(legacy);
    await driver.pipeRaw(TRANSACTIONS, bytes, { key: legacy.contract_no });
    const dl = await readOnlyDeadLetter(driver, DLQ_TRANSACTIONS);
    expect([dl.error_code, dl.error_message, dl.stage]).toEqual([
      'MISSING_FIELD',
      'required field customer_id is missing or empty',
      'validate-transaction',
    ]);
    expect(dl.value?.equals(bytes)).toBe(true);
  });

  it('EMPTY_ITEMS', async () => {
    const { driver } = await ingestDriver();
    await rejected(driver, sampleTransaction({ items: [], total_amount: 0 }), 'EMPTY_ITEMS');
  });

  it.each([0, -3])('BAD_QUANTITY for quantity %i, naming the item', async (quantity) => {
    const { driver } = await ingestDriver();
    const items = [
      { rental_class_num: 'A', quantity: 1, price: 10 },
      { rental_class_num: 'B', quantity, price: 10 },
    ];
    expect(
      await rejected(driver, sampleTransaction({ items, total_amount: 10 + quantity * 10 }), 'BAD_QUANTITY'),
    ).toContain('items[1].quantity');
  });

  it('BAD_PRICE for a negative price', async () => {
    const { driver } = await ingestDriver();
    const items = [{ rental_class_num: 'A', quantity: 2, price: -0.01 }];
    expect(await rejected(driver, sampleTransaction({ items, total_amount: -0.02 }), 'BAD_PRICE')).toContain(
      'items[0].price',
    );
  });

  it('TOTAL_MISMATCH beyond the tolerance, either way', async () => {
    const { driver } = await ingestDriver();
    expect(await rejected(driver, sampleTransaction({ total_amount: 210.02 }), 'TOTAL_MISMATCH')).toContain(
      '210.00',
    );
    await rejected(driver, sampleTransaction({ total_amount: 200 }), 'TOTAL_MISMATCH');
  });

  it('TOTAL_MISMATCH uses the configured tolerance', async () => {
    const { driver } = await ingestDriver({ validation: { totalTolerance: 1 } });
    await accepted(driver, sampleTransaction({ total_amount: 210.9 }));
    await rejected(driver, sampleTransaction({ total_amount: 211.5 }), 'TOTAL_MISMATCH');
  });

  it('UNKNOWN_STORE', async () => {
    const { driver } = await ingestDriver();
    expect(await rejected(driver, sampleTransaction({ store_id: 'S4' }), 'UNKNOWN_STORE')).toContain('S4');
  });

  it('EVENT_TIME_FUTURE just beyond the margin; accepted just inside it', async () => {
    const { driver } = await ingestDriver();
    await rejected(driver, sampleTransaction({ transaction_date: T0 + 300_001 }), 'EVENT_TIME_FUTURE');
    await accepted(driver, sampleTransaction({ transaction_date: T0 + 300_000 }));
  });

  it('EVENT_TIME_FUTURE follows the fake clock', async () => {
    const { driver } = await ingestDriver();
    const tx = sampleTransaction({ transaction_date: T0 + 400_000 });
    await rejected(driver, tx, 'EVENT_TIME_FUTURE');
    driver.clock.set(T0 + 100_000);
    await accepted(driver, tx);
  });

  it('EVENT_TIME_TOO_OLD', async () => {
    const { driver } = await ingestDriver();
    await rejected(
      driver,
      sampleTransaction({ transaction_date: T0 - 1095 * DAY_MS - 1 }),
      'EVENT_TIME_TOO_OLD',
    );
    await accepted(driver, sampleTransaction({ transaction_date: T0 - 1095 * DAY_MS }));
  });
});
