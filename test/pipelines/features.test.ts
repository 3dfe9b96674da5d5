// The feature topology on the in-process driver: real computations of item, transaction and per-class features,
// windows closing on idle wall-clock time, and state surviving a restart from the changelog.
import { isProgressRow } from '../../src/features/progress-rows.ts';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { tagstreamTopology } from '../../pipelines/tagstream.ts';
import { TestDriver } from '../../src/runtime/test-driver.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import { rowCells } from '../../src/features/vector.ts';
import type { FeatureRow, FeatureVector, PosTransaction, RfidScan } from '../../src/schemas/types.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1, 14); // 10:00 in New York (S1)
// One partition per topic: class-events then merges two channels, clean scans and clean transactions.
const config = parseConfig({ kafka: { partitions: 1 }, windows: { idleTimeoutMs: 30_000, graceMs: 60_000 } });

const scan = (tag: string, type: string, t: number, grade = 5, over: Partial<RfidScan> = {}): RfidScan => ({
  tag_id: tag,
  rental_class_num: 'TENT',
  scan_type: type,
  scan_date: t,
  reader_id: 'R1',
  store_id: 'S1',
  quality_grade: grade,
  notes: null,
  ...over,
});

async function setup(): Promise<TestDriver> {
  return TestDriver.create(tagstreamTopology(config), {
    startTime: T0 + 30 * DAY,
    applicationId: 'features-test',
  });
}

async function pipeScan(d: TestDriver, s: RfidScan): Promise<void> {
  await d.pipe('rfid.scans', loadSchema('rfidScan'), s, { key: s.tag_id, timestamp: s.scan_date });
}

/** The feature rows of a topic as store cells (one per value), in order. */
/** The feature cells of a topic's rows (progress rows left out, as the feature-store sink leaves them out of the store). */
async function readCells(d: TestDriver, topic: string): Promise<Array<{ value: FeatureVector }>> {
  return (await d.read<FeatureRow>(topic))
    .filter((r) => !isProgressRow(r.value))
    .flatMap((r) => rowCells(r.value).map((value) => ({ value })));
}

const byName = (
  fs: Array<{ value: FeatureVector }>,
  entity: string,
  name: string,
  window: string | null = null,
): FeatureVector[] =>
  fs
    .map((f) => f.value)
    .filter((f) => f.entity_id === entity && f.feature_name === name && f.window === window);

describe('feature topology', () => {
  it('computes item features from the scan history', async () => {
    const d = await setup();
    await pipeScan(d, scan('A', 'in', T0));
    await pipeScan(d, scan('A', 'out', T0 + 1 * DAY));
    await pipeScan(d, scan('A', 'return', T0 + 2 * DAY, 4));
    await pipeScan(d, scan('A', 'in', T0 + 2 * DAY + HOUR, 4));
    await pipeScan(d, scan('A', 'out', T0 + 5 * DAY, 4));
    await pipeScan(d, scan('A', 'out', T0 + 5 * DAY + 500, 4, { reader_id: 'R2' })); // second reader: duplicate
    await pipeScan(d, scan('A', 'return', T0 + 6 * DAY, 3));
    await pipeScan(d, scan('A', 'out', T0 + 12 * DAY, 3));
    const fs = await readCells(d, 'features.realtime.rows');
    // Two `out` scans within 7 days of day 6; the window of the day-12 scan is (day 5, day 12]: day 5 is out.
    expect(byName(fs, 'A', 'usage_frequency_7d').map((f) => f.feature_value)).toEqual([
      0,
      1 / 7,
      1 / 7,
      1 / 7,
      2 / 7,
      2 / 7,
      1 / 7,
    ]);
    expect(byName(fs, 'A', 'turnover_ltd').at(-1)?.feature_value).toBe(3);
    expect(byName(fs, 'A', 'quality_degradation_rate').map((f) => f.feature_value)).toEqual([0, -1]);
    expect(byName(fs, 'A', 'days_since_last_use').at(-2)?.feature_value).toBeCloseTo(1, 9);
    expect(byName(fs, 'A', 'last_scan_type').at(-1)?.feature_value).toBe(2);
    expect(byName(fs, 'A', 'scan_hour')[0]?.feature_value).toBe(10);
    expect(byName(fs, 'A', 'scan_day_of_week')[0]?.feature_value).toBe(0); // 2026-06-01 is a Monday
  });

  it("follows each batch's class rows with a progress row naming the clean offsets they cover, on both feature topics", async () => {
    const d = await setup();
    await pipeScan(d, scan('A', 'in', T0));
    await pipeScan(d, scan('B', 'out', T0 + 1_000, 5, { rental_class_num: 'CHAIR' }));
    for (const topic of ['features.realtime.rows', 'features.windowed.rows']) {
      const rows = (await d.read<FeatureRow>(topic)).map((r) => r.value);
      const progress = rows.flatMap((r, i) => (isProgressRow(r) ? [i] : []));
      // One per batch of class events (each scan is a batch here), after the class rows of that batch.
      expect(progress.length, topic).toBe(2);
      expect(rows[progress[1]!]!.features).toEqual({ 'clean.rfid.scans:0': 1 });
      expect(rows.at(-1), topic).toBe(rows[progress[1]!]);
      const chair = rows.findIndex((r) => r.entity_id === 'S1|CHAIR');
      expect(chair, topic).toBeGreaterThan(progress[0]!);
      expect(chair, topic).toBeLessThan(progress[1]!);
    }
  });

  it('computes transaction and per-class features, and windowed rentals per hour and local day', async () => {
    const d = await setup();
    const tx = (id: string, t: number, qty: number): PosTransaction => ({
      transaction_id: id,
      contract_no: `C-${id}`,
      store_id: 'S1',
      customer_id: 'CU',
      transaction_date: t,
      event_date: Math.floor(t / DAY) + 5,
      items: [
        { rental_class_num: 'TENT', quantity: qty, price: 100 },
        { rental_class_num: 'CHAIR', quantity: 10, price: 2.5 },
      ],
      total_amount: qty * 100 + 25,
    });
    await d.pipe('pos.transactions', loadSchema('posTransaction'), tx('T1', T0 + 5 * 60_000, 2), {
      key: 'T1',
    });
    await d.pipe('pos.transactions', loadSchema('posTransaction'), tx('T2', T0 + 20 * 60_000, 3), {
      key: 'T2',
    });
    await d.pipe('pos.transactions', loadSchema('posTransaction'), tx('T3', T0 + 2 * HOUR, 1), { key: 'T3' });
    const rt = await readCells(d, 'features.realtime.rows');
    expect(byName(rt, 'T1', 'transaction_value')[0]?.feature_value).toBe(225);
    expect(byName(rt, 'T1', 'avg_item_value')[0]?.feature_value).toBe(112.5);
    expect(byName(rt, 'S1|TENT', 'revenue_contribution').map((f) => f.feature_value)).toEqual([
      200, 300, 100,
    ]);
    // The scans channel has said nothing yet, so the watermark (min over channels) has not moved: no tumbling
    // window is final; the sliding 7d window updates with every record.
    const early = (await readCells(d, 'features.windowed.rows')).map((r) => r.value);
    expect(early.filter((f) => f.window !== '7d')).toEqual([]);
    expect(
      byName(
        early.map((value) => ({ value })),
        'S1|TENT',
        'rentals',
        '7d',
      ).map((f) => f.feature_value),
    ).toEqual([2, 5, 6]);
    // A scan at 3h: the watermark is now min(2h from transactions, 3h from scans), past the first hour + grace.
    await pipeScan(d, scan('X', 'in', T0 + 3 * HOUR, 5, { rental_class_num: 'LINEN' }));
    let win = await readCells(d, 'features.windowed.rows');
    expect(byName(win, 'S1|TENT', 'rentals', '1h').map((f) => f.feature_value)).toEqual([5]);
    expect(byName(win, 'S1|CHAIR', 'revenue', '1h').map((f) => f.feature_value)).toEqual([50]);
    // This is history (the wall clock is 30 days on): silence says nothing, so the watermark waits for input. The
    // next day's records move both channels past the day and it closes.
    await d.advanceWallClock(2 * DAY);
    expect(byName(await readCells(d, 'features.windowed.rows'), 'S1|TENT', 'rentals', '1d')).toEqual([]);
    await pipeScan(d, scan('X', 'out', T0 + DAY, 5, { rental_class_num: 'LINEN' }));
    await d.pipe('pos.transactions', loadSchema('posTransaction'), tx('T4', T0 + DAY, 1), { key: 'T4' });
    win = await readCells(d, 'features.windowed.rows');
    const day = byName(win, 'S1|TENT', 'rentals', '1d');
    expect(day.map((f) => f.feature_value)).toEqual([6]);
    expect(day[0]?.window_start).toBe(Date.UTC(2026, 5, 1, 4)); // local midnight in New York (EDT)
    expect(byName(win, 'S1|TENT', 'rentals', '1h').map((f) => f.feature_value)).toEqual([1]);
  });

  it('closes the last windows of a quiet live store by the wall clock, once both clean partitions are idle', async () => {
    // Live: records come as they happen, the wall clock just past them.
    const d = await TestDriver.create(tagstreamTopology(config), {
      startTime: T0 + 10_000,
      applicationId: 'features-live-test',
    });
    await d.pipe(
      'pos.transactions',
      loadSchema('posTransaction'),
      {
        transaction_id: 'L1',
        contract_no: 'C-L1',
        store_id: 'S1',
        customer_id: 'CU',
        transaction_date: T0,
        event_date: Math.floor(T0 / DAY) + 5,
        items: [{ rental_class_num: 'TENT', quantity: 4, price: 100 }],
        total_amount: 400,
      },
      { key: 'L1' },
    );
    await pipeScan(d, scan('A', 'out', T0 + 5_000));
    expect(byName(await readCells(d, 'features.windowed.rows'), 'S1|TENT', 'rentals', '1h')).toEqual([]);
    // Quiet for the idle timeout: the clean partitions are declared idle, and the class windows follow the clock.
    await d.advanceWallClock(31_000);
    await d.advanceWallClock(2 * DAY);
    const win = await readCells(d, 'features.windowed.rows');
    expect(byName(win, 'S1|TENT', 'rentals', '1h').map((f) => f.feature_value)).toEqual([4]);
    expect(byName(win, 'S1|TENT', 'out_scans', '1d').map((f) => f.feature_value)).toEqual([1]);
    expect(await d.read('late.tagstream.class-events')).toEqual([]);
  });

  it('tracks stock levels from item status changes', async () => {
    const d = await setup();
    for (const tag of ['A', 'B', 'C']) await pipeScan(d, scan(tag, 'in', T0));
    await pipeScan(d, scan('A', 'out', T0 + HOUR));
    await pipeScan(d, scan('B', 'out', T0 + HOUR));
    await pipeScan(d, scan('B', 'return', T0 + 2 * DAY, 3));
    await pipeScan(d, scan('B', 'damage', T0 + 2 * DAY + 60_000, 2));
    const fs = await readCells(d, 'features.realtime.rows');
    expect(byName(fs, 'S1|TENT', 'available_stock').at(-1)?.feature_value).toBe(1);
    expect(byName(fs, 'S1|TENT', 'items_out').at(-1)?.feature_value).toBe(1);
    expect(byName(fs, 'S1|TENT', 'items_in_repair').at(-1)?.feature_value).toBe(1);
  });

  it('gives the same features after a restart from the changelog as without one', async () => {
    const scans = [
      scan('A', 'in', T0),
      scan('A', 'out', T0 + DAY),
      scan('B', 'in', T0 + DAY + 1),
      scan('A', 'return', T0 + 3 * DAY, 4),
      scan('B', 'out', T0 + 3 * DAY + 10),
      scan('A', 'in', T0 + 3 * DAY + HOUR, 4),
      scan('A', 'out', T0 + 4 * DAY, 4),
    ];
    const run = async (restartAt: number | null): Promise<FeatureVector[]> => {
      const d = await setup();
      const out: FeatureVector[] = [];
      for (const [i, s] of scans.entries()) {
        if (i === restartAt) await d.restart();
        await pipeScan(d, s);
      }
      await d.advanceWallClock(10 * DAY);
      for (const t of ['features.realtime.rows', 'features.windowed.rows'])
        out.push(...(await readCells(d, t)).map((r) => r.value));
      return out;
    };
    const uninterrupted = await run(null);
    expect(uninterrupted.length).toBeGreaterThan(30);
    for (const at of [2, 4, 6]) expect(await run(at)).toEqual(uninterrupted);
  });
});
