// Stock of each rental class in each store from the item status changes class events carry (state per class): available units, units
// out, and units in repair, published as features when they change. Passes every class event on unchanged.
import type { ClassEvent } from '../src/schemas/types.ts';
import type { Operator } from '../src/runtime/operator.ts';
import { classKey } from '../src/features/keys.ts';
import { row } from './features.ts';

type Counts = Record<string, number>;

export function stockLevels(): Operator<ClassEvent, ClassEvent> {
  const storeName = 'stock-levels.counts';
  return {
    name: 'stock-levels',
    stores: [storeName],
    process(rec, ctx) {
      const e = rec.value;
      if (e.to_status) {
        const key = classKey(e.store_id, e.rental_class_num);
        const store = ctx.store<Counts>(storeName);
        const c: Counts = { ...(store.get(key) ?? {}) };
        if (e.from_status) c[e.from_status] = Math.max(0, (c[e.from_status] ?? 0) - 1);
        c[e.to_status] = (c[e.to_status] ?? 0) + 1;
        store.put(key, c);
        const features = {
          available_stock: c['available'] ?? 0,
          items_out: c['out'] ?? 0,
          items_in_repair: c['repair'] ?? 0,
        };
        ctx.emitSide('stock', row('class', key, features, e.event_time, 'rfid'));
      }
      return [rec];
    },
  };
}
