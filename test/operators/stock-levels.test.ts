// Stock levels on the operator harness: counts per class from status changes, published once per class and batch
// (and at each new bucket of event time, heldBucketMs) with the latest counts, stamped at the newest event time that
// changed them.
import { describe, expect, it } from 'vitest';
import { stockLevels } from '../../operators/stock-levels.ts';
import type { ClassEvent, FeatureRow } from '../../src/schemas/types.ts';
import { OperatorHarness } from './harness.ts';

const T0 = Date.UTC(2026, 5, 1, 14);

const change = (cls: string, from: string | null, to: string, t: number): ClassEvent => ({
  store_id: 'S1',
  rental_class_num: cls,
  kind: 'scan',
  event_time: t,
  quantity: 1,
  revenue: 0,
  scan_type: to === 'out' ? 'out' : 'in',
  tag_id: 'TAG',
  from_status: from,
  to_status: to,
  origin: 'clean.rfid.scans:0:1',
});

describe('stockLevels', () => {
  const batched = () => new OperatorHarness(() => stockLevels(), { autoCommit: false });
  const push = (h: OperatorHarness<ClassEvent, ClassEvent>, e: ClassEvent) =>
    h.push({ key: Buffer.from(`S1|${e.rental_class_num}`), value: e, timestamp: e.event_time });
  const stock = (h: OperatorHarness<ClassEvent, ClassEvent>) =>
    h.takeSide<FeatureRow>('stock').map((r) => [r.value.entity_id, r.value.timestamp, r.value.features]);

  it('passes every class event on, and sends one row per class and batch with its latest counts', () => {
    const h = batched();
    const events = [
      change('TENT', null, 'available', T0),
      change('TENT', null, 'available', T0 + 1),
      change('CHAIR', null, 'available', T0 + 2),
      change('TENT', 'available', 'out', T0 + 3),
      { ...change('TENT', null, null as unknown as string, T0 + 4), to_status: null }, // a rental line: no change
    ];
    for (const e of events) expect(push(h, e).map((r) => r.value)).toEqual([e]);
    expect(stock(h)).toEqual([]); // held until the end of the batch
    h.flush();
    expect(stock(h)).toEqual([
      ['S1|TENT', T0 + 3, { available_stock: 1, items_out: 1, items_in_repair: 0 }],
      ['S1|CHAIR', T0 + 2, { available_stock: 1, items_out: 0, items_in_repair: 0 }],
    ]);
    h.flush();
    expect(stock(h)).toEqual([]); // nothing held twice
    push(h, change('TENT', 'out', 'repair', T0 + 10));
    h.flush();
    expect(stock(h)).toEqual([
      ['S1|TENT', T0 + 10, { available_stock: 1, items_out: 0, items_in_repair: 1 }],
    ]);
  });

  it('stamps a row at the newest event time of the batch, also when events arrive out of order', () => {
    const h = batched();
    push(h, change('TENT', null, 'available', T0 + 50));
    push(h, change('TENT', null, 'available', T0 + 20));
    h.flush();
    expect(stock(h)).toEqual([
      ['S1|TENT', T0 + 50, { available_stock: 2, items_out: 0, items_in_repair: 0 }],
    ]);
  });

  it('after a failed batch (state restored from the changelog) sends nothing the batch held', () => {
    const h = batched();
    push(h, change('TENT', null, 'available', T0));
    h.flush();
    h.commit();
    stock(h);
    push(h, change('TENT', 'available', 'out', T0 + 1));
    h.restart(); // the batch failed before its flush: its counts and held row are gone
    h.flush();
    expect(stock(h)).toEqual([]);
    push(h, change('TENT', 'available', 'out', T0 + 1));
    h.flush();
    expect(stock(h)).toEqual([['S1|TENT', T0 + 1, { available_stock: 0, items_out: 1, items_in_repair: 0 }]]);
  });

  it('with heldBucketMs, sends a class held row before an event of a later bucket changes its counts', () => {
    const HOUR = 3_600_000;
    const h = new OperatorHarness(() => stockLevels({ heldBucketMs: HOUR }), { autoCommit: false });
    push(h, change('TENT', null, 'available', T0));
    push(h, change('TENT', null, 'available', T0 + 10 * 60_000));
    push(h, change('CHAIR', null, 'available', T0 + 20 * 60_000));
    expect(stock(h)).toEqual([]);
    push(h, change('TENT', 'available', 'out', T0 + HOUR + 1)); // the next hour
    expect(stock(h)).toEqual([
      ['S1|TENT', T0 + 10 * 60_000, { available_stock: 2, items_out: 0, items_in_repair: 0 }],
    ]);
    push(h, change('TENT', 'out', 'repair', T0 + HOUR + 2)); // same bucket: held
    expect(stock(h)).toEqual([]);
    h.flush();
    expect(stock(h)).toEqual([
      ['S1|CHAIR', T0 + 20 * 60_000, { available_stock: 1, items_out: 0, items_in_repair: 0 }],
      ['S1|TENT', T0 + HOUR + 2, { available_stock: 1, items_out: 0, items_in_repair: 1 }],
    ]);
  });
});
