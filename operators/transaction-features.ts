// Features of validated POS transactions: per transaction (value, item lines, average line value) and per rental
// class in the store (price, quantity, revenue contribution); each line also goes to 'class-events' for the
// per-class windows (rentals and revenue per hour and day).
import type { ClassEvent, FeatureRow, PosTransaction } from '../src/schemas/types.ts';
import type { Operator, Rec } from '../src/runtime/operator.ts';
import { classKey } from '../src/features/keys.ts';
import { row } from './features.ts';

export function transactionFeatures(): Operator<PosTransaction, FeatureRow> {
  return {
    name: 'transaction-features',
    process(rec, ctx) {
      const tx = rec.value;
      const t = tx.transaction_date;
      const origin = `${ctx.source.topic}:${ctx.source.partition}:${ctx.source.offset}`;
      const out: Rec<FeatureRow>[] = [
        row(
          'transaction',
          tx.transaction_id,
          {
            transaction_value: tx.total_amount,
            item_count: tx.items.length,
            avg_item_value: tx.total_amount / Math.max(1, tx.items.length),
          },
          t,
          'pos',
        ),
      ];
      for (const item of tx.items) {
        const key = classKey(tx.store_id, item.rental_class_num);
        const revenue = item.quantity * item.price;
        out.push(
          row(
            'class',
            key,
            { rental_price: item.price, rental_quantity: item.quantity, revenue_contribution: revenue },
            t,
            'pos',
          ),
        );
        const value: ClassEvent = {
          store_id: tx.store_id,
          rental_class_num: item.rental_class_num,
          kind: 'rental',
          event_time: t,
          quantity: item.quantity,
          revenue,
          scan_type: null,
          tag_id: null,
          from_status: null,
          to_status: null,
          origin,
        };
        ctx.emitSide('class-events', { key: Buffer.from(key), value, timestamp: t });
      }
      return out;
    },
  };
}
