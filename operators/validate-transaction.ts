// VALIDATE for POS transactions: required fields, at least one item, quantities >= 1, prices >= 0, total = sum of items.
import type { PosTransaction, TransactionItem } from '../src/schemas/types.ts';
import { recordError } from '../src/errors.ts';
import type { Operator } from '../src/runtime/operator.ts';
import {
  asObject,
  checkEventTime,
  checkStore,
  requireArray,
  requireNumber,
  requireString,
  type ValidationRules,
} from './validation-rules.ts';

function item(raw: unknown, i: number): TransactionItem {
  const o = asObject(raw);
  const rental_class_num = requireString(o, 'rental_class_num', `items[${i}].rental_class_num`);
  const quantity = requireNumber(o, 'quantity');
  const price = requireNumber(o, 'price');
  if (!Number.isInteger(quantity) || quantity < 1)
    throw recordError('BAD_QUANTITY', `items[${i}].quantity ${quantity} must be an integer >= 1`, {
      field: `items[${i}].quantity`,
    });
  if (price < 0)
    throw recordError('BAD_PRICE', `items[${i}].price ${price} must be >= 0`, { field: `items[${i}].price` });
  return { rental_class_num, quantity, price };
}

export function validateTransaction(rules: ValidationRules): Operator<unknown, PosTransaction> {
  return {
    name: 'validate-transaction',
    process(rec, ctx) {
      const o = asObject(rec.value);
      const transaction_id = requireString(o, 'transaction_id');
      const contract_no = requireString(o, 'contract_no');
      const store_id = requireString(o, 'store_id');
      const customer_id = requireString(o, 'customer_id');
      const transaction_date = requireNumber(o, 'transaction_date');
      const event_date = requireNumber(o, 'event_date');
      const total_amount = requireNumber(o, 'total_amount');
      const rawItems = requireArray(o, 'items');
      if (rawItems.length === 0)
        throw recordError('EMPTY_ITEMS', 'a transaction needs at least one item', { field: 'items' });
      const items = rawItems.map(item);
      checkStore(store_id, rules);
      checkEventTime('transaction_date', transaction_date, ctx.clock.now(), rules);
      const sum = items.reduce((acc, it) => acc + it.quantity * it.price, 0);
      if (Math.abs(sum - total_amount) > rules.totalTolerance)
        throw recordError(
          'TOTAL_MISMATCH',
          `total_amount ${total_amount} differs from the sum of items ${sum.toFixed(2)} by more than ${rules.totalTolerance}`,
          { field: 'total_amount' },
        );
      const tx: PosTransaction = {
        transaction_id,
        contract_no,
        store_id,
        customer_id,
        transaction_date,
        event_date,
        items,
        total_amount,
      };
      return [{ key: rec.key, value: tx, timestamp: transaction_date }];
    },
  };
}
