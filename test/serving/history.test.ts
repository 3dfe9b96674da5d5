// The label history serving loads per target day: one id_transactions load feeds both the demand columns and each
// class's latest rentals out of each store (what pack scoring's predicted damage rate averages over).
import { describe, expect, it } from 'vitest';
import type { Sql } from '../../src/io/mysql/pool.ts';
import { DEMAND_HISTORY_FEATURES } from '../../src/features/vocabulary.ts';
import { countedScans, dailyUnits, demandLabels } from '../../src/ml/train/labels.ts';
import { CLASS_RISK_RENTALS, labelHistorySource } from '../../src/serving/history.ts';

const ZONES: Record<string, string> = { S1: 'America/New_York', S2: 'America/Los_Angeles' };
const zoneOf = (s: string): string => ZONES[s] ?? 'UTC';
const DAY = Math.floor(Date.UTC(2026, 5, 10) / 86_400_000);
/** 00:00 on DAY in New York. */
const MIDNIGHT_S1 = Date.UTC(2026, 5, 10, 4);
const MINUTE = 60_000;

interface Row {
  id: number;
  tag_id: string;
  rental_class_num: string;
  store_id: string;
  scan_type: string;
  scan_date: Date;
  quality_grade: number;
}

/** A Sql whose every scan load returns `rows`, counting the loads. */
function fakeSql(rows: readonly Row[]): Sql & { queries: number; rowsRead: number } {
  return answeringSql(() => rows);
}

/**
 * A Sql answering loadScans' SELECT with `answer(params)`, counting those queries and rows returned, and the first
 * scan's time (firstScanTime) from every row `answer` could give.
 */
function answeringSql(
  answer: (params: unknown[]) => readonly Row[],
): Sql & { queries: number; rowsRead: number } {
  const sql = {
    queries: 0,
    rowsRead: 0,
    async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
      if (text.includes('MIN(scan_date)')) {
        const all = answer(['1000-01-01 00:00:00.000', '9999-01-01 00:00:00.000']);
        const first = all.length === 0 ? null : new Date(Math.min(...all.map((r) => r.scan_date.getTime())));
        return [{ first }] as unknown as T[];
      }
      sql.queries++;
      const rows = answer(params);
      sql.rowsRead += rows.length;
      return rows as unknown as T[];
    },
    execute: async () => ({ affectedRows: 0 }),
    end: async () => undefined,
    transaction: async () => {
      throw new Error('not used');
    },
  };
  return sql as unknown as Sql & { queries: number; rowsRead: number };
}

let id = 0;
const row = (tag: string, type: string, t: number, store = 'S1', cls = 'TENT', grade = 4): Row => ({
  id: ++id,
  tag_id: tag,
  rental_class_num: cls,
  store_id: store,
  scan_type: type,
  scan_date: new Date(t),
  quality_grade: grade,
});

describe('label history: class rentals', () => {
  it("keeps each class's latest counted rentals out of each store before the store's day began", async () => {
    const rows = [
      // 25 rentals of TENT out of S1 in the days before, one an hour; TAG-24's is read twice at the door.
      ...Array.from({ length: 25 }, (_, i) => row(`TAG-${i}`, 'out', MIDNIGHT_S1 - (25 - i) * 60 * MINUTE)),
      row('TAG-24', 'out', MIDNIGHT_S1 - 60 * MINUTE + 1_000),
      // A return is not a rental; a rental after S1's midnight is the target day's, not history.
      row('TAG-0', 'return', MIDNIGHT_S1 - 30 * MINUTE),
      row('TAG-99', 'out', MIDNIGHT_S1 + MINUTE),
      // Another store and another class are their own lists.
      row('TAG-50', 'out', MIDNIGHT_S1 - 10 * MINUTE, 'S2'),
      row('TAG-60', 'out', MIDNIGHT_S1 - 10 * MINUTE, 'S1', 'CHAIR', 2),
    ];
    const sql = fakeSql(rows);
    const history = labelHistorySource(sql, { zoneOf, historyDays: 70, dedupWindowMs: 5_000 });
    const rentals = await history.rentals.forDay(DAY);
    const tent = rentals('S1', 'TENT');
    expect(tent).toHaveLength(CLASS_RISK_RENTALS);
    expect(tent.map((r) => r.tagId)).toEqual(Array.from({ length: 20 }, (_, i) => `TAG-${i + 5}`));
    expect(tent[19]).toEqual({
      tagId: 'TAG-24',
      storeId: 'S1',
      rentalClass: 'TENT',
      time: MIDNIGHT_S1 - 60 * MINUTE,
      grade: 4,
    });
    expect(rentals('S2', 'TENT').map((r) => r.tagId)).toEqual(['TAG-50']);
    expect(rentals('S1', 'CHAIR').map((r) => [r.tagId, r.grade])).toEqual([['TAG-60', 2]]);
    expect(rentals('S3', 'TENT')).toEqual([]);
    // One load per day, shared with the demand columns.
    await history.demand.forDay(DAY);
    await history.rentals.forDay(DAY);
    expect(sql.queries).toBe(1);
  });

  it('gives the same rentals to a second instance (nothing but id_transactions and the day decides)', async () => {
    const rows = Array.from({ length: 30 }, (_, i) =>
      row(`TAG-${i % 7}`, i % 3 === 0 ? 'damage' : 'out', MIDNIGHT_S1 - (30 - i) * 60 * MINUTE),
    );
    const one = labelHistorySource(fakeSql(rows), { zoneOf, historyDays: 70, dedupWindowMs: 5_000 });
    const two = labelHistorySource(fakeSql([...rows].reverse()), {
      zoneOf,
      historyDays: 70,
      dedupWindowMs: 5_000,
      rentalsPerClass: 5,
    });
    const a = (await one.rentals.forDay(DAY))('S1', 'TENT');
    const b = (await two.rentals.forDay(DAY))('S1', 'TENT');
    expect(b).toEqual(a.slice(-5));
  });

  it('has no rentals and empty demand columns for a day without history', async () => {
    const history = labelHistorySource(fakeSql([]), { zoneOf, historyDays: 70, dedupWindowMs: 5_000 });
    expect((await history.rentals.forDay(DAY))('S1', 'TENT')).toEqual([]);
    expect((await history.demand.forDay(DAY))('S1', 'TENT').units_lag_1).toBeNull();
  });
});

describe('label history: loading day after day', () => {
  /** Answers loadScans' SELECT with the rows in its [from, to) range. */
  const rangeSql = (rows: readonly Row[]) =>
    answeringSql((params) => {
      const [from, to] = (params as string[]).map((p) => Date.parse(`${p.replace(' ', 'T')}Z`));
      return rows.filter((r) => r.scan_date.getTime() >= from! && r.scan_date.getTime() < to!);
    });

  // 90 days of scans: rentals, returns and door double reads, in two stores.
  const rows: Row[] = [];
  for (let i = 0; i < 90 * 24; i++) {
    const t = MIDNIGHT_S1 - 80 * 86_400_000 + i * 60 * MINUTE + (i % 11) * 97_000;
    const tag = `TAG-${i % 13}`;
    const type = i % 5 === 0 ? 'damage' : i % 2 === 0 || i % 9 === 0 ? 'out' : 'return';
    const store = i % 3 === 0 ? 'S2' : 'S1';
    rows.push(row(tag, type, t, store, i % 4 === 0 ? 'CHAIR' : 'TENT', 1 + (i % 5)));
    if (i % 7 === 0) rows.push(row(tag, type, t + 2_000, store)); // double read
  }
  const opts = { zoneOf, historyDays: 30, dedupWindowMs: 5_000 };
  const CELLS = ['S1', 'S2'].flatMap((store) => ['TENT', 'CHAIR'].map((cls) => [store, cls] as const));

  /** Asks `incremental` for each day in turn and compares it with a fresh source; returns the fresh rows read. */
  const compareWithFresh = async (
    incremental: ReturnType<typeof labelHistorySource>,
    days: readonly number[],
    data: readonly Row[] = rows,
  ): Promise<number> => {
    let freshRows = 0;
    for (const day of days) {
      const freshSql = rangeSql(data);
      const fresh = labelHistorySource(freshSql, opts);
      const [a, b] = [await incremental.demand.forDay(day), await fresh.demand.forDay(day)];
      const [ra, rb] = [await incremental.rentals.forDay(day), await fresh.rentals.forDay(day)];
      freshRows += freshSql.rowsRead;
      for (const [store, cls] of CELLS) {
        expect(a(store, cls), `day ${day}`).toEqual(b(store, cls));
        expect(ra(store, cls), `day ${day}`).toEqual(rb(store, cls));
      }
    }
    return freshRows;
  };

  it('gives each day what training computes from the whole history, and its latest rentals', async () => {
    const scans = rows.map((r) => ({
      id: r.id,
      tagId: r.tag_id,
      rentalClass: r.rental_class_num,
      storeId: r.store_id,
      scanType: r.scan_type,
      time: r.scan_date.getTime(),
      grade: r.quality_grade,
    }));
    const counted = countedScans(scans, 5_000);
    const labels = demandLabels(dailyUnits(counted, { zoneOf }), zoneOf);
    // 70 days: the weekday profile's 8 weeks fit, so nothing training reads lies outside the history.
    const source = labelHistorySource(rangeSql(rows), { ...opts, historyDays: 70 });
    let compared = 0;
    for (let day = DAY - 5; day <= DAY + 5; day++) {
      const demand = await source.demand.forDay(day);
      const rentals = await source.rentals.forDay(day);
      for (const [store, cls] of CELLS) {
        const label = labels.find((l) => l.day === day && l.storeId === store && l.rentalClass === cls)!;
        const want = Object.fromEntries(DEMAND_HISTORY_FEATURES.map((c) => [c, label[c]]));
        expect(demand(store, cls), `${store} ${cls} day ${day}`).toEqual(want);
        expect(label.level_weekday_28).not.toBeNull();
        // The last 20 counted rentals of the class out of the store before the store's midnight of `day`.
        const cutoff = label.cutoff;
        const latest = counted
          .filter(
            (s) => s.storeId === store && s.rentalClass === cls && s.scanType === 'out' && s.time < cutoff,
          )
          .sort((x, y) => x.time - y.time || x.id - y.id)
          .slice(-CLASS_RISK_RENTALS)
          .map((s) => ({ tagId: s.tagId, storeId: store, rentalClass: cls, time: s.time, grade: s.grade }));
        expect(rentals(store, cls)).toEqual(latest);
        compared++;
      }
    }
    expect(compared).toBe(44);
  });

  it('gives each day what a fresh load gives, reading only the next day and the re-read tail', async () => {
    const moving = rangeSql(rows);
    const freshRows = await compareWithFresh(
      labelHistorySource(moving, opts),
      Array.from({ length: 11 }, (_, i) => DAY - 5 + i),
    );
    // 11 days: one load of 30 days, then three days' rows each (the new day and two re-read).
    expect(moving.rowsRead).toBeLessThan(freshRows / 3);
  });

  it('serves days asked out of order (partitions of a backlog) from what it holds, each built once', async () => {
    const moving = rangeSql(rows);
    const incremental = labelHistorySource(moving, opts);
    // Partitions a few days apart, each asking again and again; then one far behind.
    const days = [DAY, DAY - 2, DAY + 1, DAY - 1, DAY - 2, DAY + 3, DAY, DAY - 3, DAY + 3, DAY - 40, DAY + 2];
    const freshRows = await compareWithFresh(incremental, days);
    const read = moving.rowsRead;
    // Asked again, every day is cached: nothing more is read.
    await compareWithFresh(incremental, [DAY + 3, DAY + 2, DAY - 1, DAY]);
    expect(moving.rowsRead).toBe(read);
    expect(read).toBeLessThan(freshRows / 4);
  });

  it('keeps the days of flows weeks apart: each reads only its own next days', async () => {
    // Class events and transactions drain a backlog at their own pace: one flow a month behind the other, each
    // asking for its next day in turn.
    const days = Array.from({ length: 6 }, (_, i) => [DAY - 36 + i, DAY - 6 + i]).flat();
    const own = rangeSql(rows);
    const freshRows = await compareWithFresh(labelHistorySource(own, opts), days);
    // Two loads of 30 days (they overlap by a few), then about three days' rows per day asked.
    expect(own.rowsRead).toBeLessThan(freshRows / 4);
  });

  it('reads days asked at once (one micro-batch) once', async () => {
    const days = Array.from({ length: 8 }, (_, i) => DAY - 10 + i);
    const together = rangeSql(rows);
    const source = labelHistorySource(together, opts);
    await Promise.all(days.map((d) => source.demand.forDay(d)));
    const single = rangeSql(rows);
    await labelHistorySource(single, opts).demand.forDay(DAY - 3);
    // The first day's 30 days, then for each next day about four (itself, two re-read and the zones' margin), as
    // if asked one after another: not 30 days for each.
    expect(together.rowsRead).toBeLessThan(single.rowsRead * (1 + (7 * 4.5) / 30));
    expect(together.queries).toBe(days.length);
    await compareWithFresh(source, days);
  });

  it('picks up rows written late (the history sink behind serving) when a later day is asked', async () => {
    const table = rows.filter((r) => r.scan_date.getTime() < MIDNIGHT_S1 - 86_400_000);
    const late = rows.filter(
      (r) => r.scan_date.getTime() >= MIDNIGHT_S1 - 86_400_000 && r.scan_date.getTime() < MIDNIGHT_S1,
    );
    const source = labelHistorySource(rangeSql(table), opts);
    // Day DAY is built while the day before it is still unwritten; then its rows arrive and DAY + 1 is asked.
    const before = (await source.demand.forDay(DAY))('S1', 'TENT');
    expect(before.units_lag_1).toBe(0);
    table.push(...late);
    await compareWithFresh(source, [DAY + 1], table);
    expect((await source.demand.forDay(DAY + 1))('S1', 'TENT').units_lag_7).toBeGreaterThan(0);
  });
});
