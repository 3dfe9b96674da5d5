// Stock of each rental class in each store from the item status changes class events carry (state per class):
// available units, units out, and units in repair. Passes every class event on unchanged. The levels are published
// like the window updates (Kafka Streams' record cache, operators/window-aggregate.ts): held until the end of the
// batch and sent once per class with its latest counts, stamped at the newest event time that changed them in the
// batch (so no row holds an event stamped after it). A busy class's stock changes with nearly every scan; one row
// per class and batch instead of one per scan is most of features.realtime on a backlog. Training and serving
// read the same rows (the offline log, and the online store's versions as of an event), so both see the batch's
// intermediate levels as the row before it. A class's held row also goes out before an event of another bucket of
// event time changes it (`heldBucketMs`, operators/lib/held.ts): rows at least that fine whatever the batch size.
import type { ClassEvent } from '../src/schemas/types.ts';
import type { Operator } from '../src/runtime/operator.ts';
import { classKey } from '../src/features/keys.ts';
import { row } from './features.ts';
import { crossesBucket } from './lib/held.ts';

type Counts = Record<string, number>;

/** The row of a class's stock levels, stamped at `time`. */
const levels = (key: string, c: Counts, time: number) =>
  row(
    'class',
    key,
    { available_stock: c['available'] ?? 0, items_out: c['out'] ?? 0, items_in_repair: c['repair'] ?? 0 },
    time,
    'rfid',
  );

export function stockLevels(opts: { heldBucketMs?: number } = {}): Operator<ClassEvent, ClassEvent> {
  const bucketMs = opts.heldBucketMs ?? 0;
  const storeName = 'stock-levels.counts';
  // Classes changed in this batch, their counts and newest event time; keyed by the partition's store, as
  // window-aggregate keeps its held updates: a failed batch's partition gets a new store (restored from the
  // changelog) and so nothing the batch held.
  const pending = new WeakMap<object, Map<string, { counts: Counts; time: number }>>();
  return {
    name: 'stock-levels',
    stores: [storeName],
    process(rec, ctx) {
      const e = rec.value;
      if (e.to_status) {
        const key = classKey(e.store_id, e.rental_class_num);
        const store = ctx.store<Counts>(storeName);
        let held = pending.get(store);
        if (!held) pending.set(store, (held = new Map()));
        let before = held.get(key);
        if (before && crossesBucket(before.time, e.event_time, bucketMs)) {
          ctx.emitSide('stock', levels(key, before.counts, before.time));
          held.delete(key);
          before = undefined;
        }
        const c: Counts = { ...(store.get(key) ?? {}) };
        if (e.from_status) c[e.from_status] = Math.max(0, (c[e.from_status] ?? 0) - 1);
        c[e.to_status] = (c[e.to_status] ?? 0) + 1;
        store.put(key, c);
        held.set(key, { counts: c, time: Math.max(e.event_time, before?.time ?? -Infinity) });
      }
      return [rec];
    },
    onFlush(ctx) {
      const held = pending.get(ctx.store<Counts>(storeName));
      if (!held || held.size === 0) return [];
      for (const [key, { counts, time }] of held) ctx.emitSide('stock', levels(key, counts, time));
      held.clear();
      return [];
    },
  };
}
