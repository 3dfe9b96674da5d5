// Stock of each rental class in each store from the item status changes class events carry (state per class): available units, units
// out, and units in repair, published as features when they change. Passes every class event on unchanged.
import type { ClassEvent } from '../src/schemas/types.ts';
import type { Operator } from '../src/runtime/operator.ts';
import { classKey } from '../src/features/keys.ts';
import { feature } from './features.ts';

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
        const t = e.event_time;
        for (const [name, status] of [
          ['available_stock', 'available'],
          ['items_out', 'out'],
          ['items_in_repair', 'repair'],
        ] as const)
          ctx.emitSide('stock', feature('class', key, name, c[status] ?? 0, 'inventory', t, 'rfid'));
      }
      return [rec];
    },
  };
}
