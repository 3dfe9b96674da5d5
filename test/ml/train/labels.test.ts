// Label construction from hand-made scan histories: de-duplication, units per store-local day, the label-history
// features (only days before the target), the maintenance label over the next K rentals (with censoring) and the
// grade at the next return.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allRentals,
  countedScans,
  dailyUnits,
  dayOfWeek,
  demandHistory,
  demandLabels,
  demandLevelContext,
  localMidnight,
  maintenanceLabels,
  qualityLabels,
  type Scan,
} from '../../../src/ml/train/labels.ts';

const ZONES: Record<string, string> = { S1: 'America/New_York', S3: 'America/Los_Angeles' };
const zoneOf = (s: string): string => ZONES[s] ?? 'UTC';
const H = 3_600_000;
const DAY = 24 * H;
/** 2026-03-02 (a Monday) 00:00 UTC, as an epoch day. */
const MON = Date.UTC(2026, 2, 2) / DAY;

let nextId = 1;
function scan(tagId: string, scanType: string, time: number, over: Partial<Scan> = {}): Scan {
  return {
    id: nextId++,
    tagId,
    rentalClass: 'TENT',
    storeId: 'S1',
    scanType,
    time,
    grade: 5,
    ...over,
  };
}

describe('countedScans', () => {
  it('drops a second read of the same tag and type within the window, like the history SQL', () => {
    const t = Date.UTC(2026, 2, 2, 15);
    const scans = [
      scan('A', 'out', t),
      scan('A', 'out', t + 1500), // second reader at the door
      scan('A', 'out', t + 3000), // within 2 s of the repeat before it: LAG compares with the previous row
      scan('B', 'out', t + 500), // another tag
      scan('A', 'return', t + 5000), // another type
    ];
    const kept = countedScans(scans, 2000).map((s) => `${s.tagId}:${s.scanType}:${s.time - t}`);
    expect(kept).toEqual(['A:out:0', 'A:return:5000', 'B:out:500']);
  });

  it('keeps reads further apart than the window, and sorts by tag, time, id', () => {
    const t = Date.UTC(2026, 2, 2, 15);
    const kept = countedScans([scan('A', 'out', t + 2001), scan('A', 'out', t)], 2000);
    expect(kept.map((s) => s.time - t)).toEqual([0, 2001]);
  });

  it('keeps exactly what one sort by (tag, time, id) and a look at the previous row keep', () => {
    const reference = (scans: readonly Scan[], windowMs: number): Scan[] => {
      const sorted = [...scans].sort((a, b) =>
        a.tagId < b.tagId ? -1 : a.tagId > b.tagId ? 1 : a.time - b.time || a.id - b.id,
      );
      return sorted.filter((s, i) => {
        const p = sorted[i - 1];
        return !(p && p.tagId === s.tagId && p.scanType === s.scanType && s.time - p.time <= windowMs);
      });
    };
    const arb = fc.array(
      fc.record({
        tag: fc.constantFrom('A', 'B', 'a', 'AB', 'Z9'),
        type: fc.constantFrom('out', 'return'),
        at: fc.integer({ min: 0, max: 20_000 }),
      }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(arb, (rows) => {
        const scans = rows.map((r) => scan(r.tag, r.type, r.at));
        expect(countedScans(scans, 2000)).toEqual(reference(scans, 2000));
      }),
      { numRuns: 500 },
    );
  });
});

describe('dailyUnits', () => {
  it('counts out scans per store-local day, zeros included, only for whole days inside the history', () => {
    // New York is UTC-5 in early March: local day 2026-03-02 runs 05:00 UTC Mar 2 .. 05:00 UTC Mar 3.
    const d0 = MON * DAY;
    const scans = countedScans(
      [
        scan('A', 'out', d0 + 4 * H), // 23:00 on Mar 1 local: before the first whole day
        scan('A', 'in', d0 + 6 * H),
        scan('A', 'out', d0 + 14 * H), // Mar 2 local
        scan('B', 'out', d0 + 28 * H), // 04:00 UTC Mar 3 = 23:00 Mar 2 local
        scan('B', 'out', d0 + 30 * H), // Mar 3 local
        scan('C', 'in', d0 + 80 * H, { rentalClass: 'CHAIR' }), // a class with no rentals gets zeros
        scan('D', 'out', d0 + 100 * H), // history end: 2026-03-06 04:00 UTC (Mar 5 23:00 local)
      ],
      2000,
    );
    const series = dailyUnits(scans, { zoneOf });
    const tent = series.find((s) => s.entityId === 'S1|TENT')!;
    expect(tent.firstDay).toBe(MON);
    // Mar 2 .. Mar 4: Mar 5 local ends at 05:00 UTC Mar 6, after the last scan.
    expect(tent.units).toEqual([2, 1, 0]);
    expect(series.find((s) => s.entityId === 'S1|CHAIR')!.units).toEqual([0, 0, 0]);
  });

  it('uses each store its own local days', () => {
    const t = Date.UTC(2026, 2, 3, 6); // Mar 3 01:00 in New York, Mar 2 22:00 in Los Angeles
    const series = dailyUnits(
      countedScans(
        [
          scan('A', 'out', t),
          scan('B', 'out', t, { storeId: 'S3' }),
          scan('Z', 'in', Date.UTC(2026, 2, 1)),
          scan('Z', 'in', Date.UTC(2026, 2, 6)),
        ],
        2000,
      ),
      { zoneOf },
    );
    const s1 = series.find((s) => s.entityId === 'S1|TENT')!;
    const s3 = series.find((s) => s.entityId === 'S3|TENT')!;
    expect(s1.units[MON + 1 - s1.firstDay]).toBe(1);
    expect(s3.units[MON - s3.firstDay]).toBe(1);
  });
});

describe('demand labels', () => {
  const units = [
    3, 0, 1, 4, 2, 9, 12, 5, 1, 0, 2, 3, 8, 10, 6, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
  ];
  const series = [{ entityId: 'S1|TENT', storeId: 'S1', rentalClass: 'TENT', firstDay: MON, units }];

  it('labels each day with a week of history before it: units, next-7 sum, naive forecasts, calendar', () => {
    const labels = demandLabels(series, zoneOf);
    expect(labels).toHaveLength(units.length - 7);
    const l = labels[0]!; // day index 7, a Monday
    expect(l.day).toBe(MON + 7);
    expect(l.units_1d).toBe(5);
    expect(l.units_7d).toBe(5 + 1 + 0 + 2 + 3 + 8 + 10);
    expect(l.units_lag_7).toBe(3);
    expect(l.units_lag_1).toBe(12);
    expect(l.units_mean_7).toBeCloseTo((3 + 0 + 1 + 4 + 2 + 9 + 12) / 7, 12);
    expect(l.naive_7d).toBeCloseTo(3 + 0 + 1 + 4 + 2 + 9 + 12, 12);
    expect(l.units_same_weekday_4w).toBeNull();
    expect(l.units_mean_28).toBeNull();
    expect(l.day_of_week).toBe(0);
    expect(l.target_month).toBe(3);
    // The cut-off: the target day's local midnight in New York (EDT since Mar 8 2026: 04:00 UTC).
    expect(l.cutoff).toBe(Date.UTC(2026, 2, 9, 4));
    expect(labels.at(-1)!.units_7d).toBeNull(); // the week runs past the history
    expect(labels.find((x) => x.day === MON + 28)!.units_same_weekday_4w).toBe((5 + 10 + 2 + 3) / 4);
  });

  it('computes history features from days before the target only (no peeking at D or later)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(50), { minLength: 40, maxLength: 40 }),
        fc.integer({ min: 0, max: 39 }),
        fc.array(fc.nat(50), { minLength: 40, maxLength: 40 }),
        (a, i, b) => {
          // Same past, any present and future: the same features.
          const mixed = [...a.slice(0, i), ...b.slice(i)];
          expect(demandHistory(mixed, i)).toEqual(demandHistory(a, i));
        },
      ),
    );
  });

  it('puts the cut-off at local midnight across a DST change', () => {
    // 2026-03-08 is the US spring-forward day: midnight is still EST (05:00 UTC), the next one EDT (04:00 UTC).
    const mar8 = Date.UTC(2026, 2, 8) / DAY;
    expect(localMidnight(mar8, 'America/New_York')).toBe(Date.UTC(2026, 2, 8, 5));
    expect(localMidnight(mar8 + 1, 'America/New_York')).toBe(Date.UTC(2026, 2, 9, 4));
    expect(dayOfWeek(mar8)).toBe(6); // Sunday
  });
});

describe('weekday-adjusted levels', () => {
  // Units by weekday (Monday first): a week sums to 10, so an average day is 10/7 and Sunday is 3 / (10/7) = 2.1.
  const PATTERN = [1, 1, 1, 1, 1, 2, 3];
  const weeks = (n: number, scale = 1): number[] =>
    Array.from({ length: 7 * n }, (_, i) => scale * PATTERN[i % 7]!);
  const s1 = { entityId: 'S1|TENT', storeId: 'S1', rentalClass: 'TENT', firstDay: MON, units: weeks(10) };
  const s3 = { entityId: 'S3|TENT', storeId: 'S3', rentalClass: 'TENT', firstDay: MON, units: weeks(10, 3) };

  it('scales the recent mean by the store-wide weekday profile', () => {
    const ctx = demandLevelContext([s1, s3], zoneOf);
    const i = 9 * 7 + 6; // a Sunday, 9 whole weeks in
    const l = ctx(s1, i, localMidnight(MON + i, zoneOf('S1')));
    expect(l.store_weekday_ratio).toBeCloseTo(2.1, 12);
    expect(l.level_weekday_7).toBeCloseTo(2.1 * (10 / 7), 12);
    expect(l.level_weekday_28).toBeCloseTo(3, 12);
    // Pooled over both stores' days that had ended: (10/7 + 30/7) / 2 per store and day, times the ratio.
    expect(l.class_level_weekday).toBeCloseTo(((10 / 7 + 30 / 7) / 2) * 2.1, 12);
    // A week in: one week of profile; before a week there is none.
    expect(ctx(s1, 7 + 6, localMidnight(MON + 13, zoneOf('S1'))).store_weekday_ratio).toBeCloseTo(2.1, 12);
    expect(ctx(s1, 5, localMidnight(MON + 5, zoneOf('S1'))).level_weekday_7).toBeNull();
  });

  it('reads only days that had ended at the cut-off, in every store', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 8, max: 69 }),
        fc.array(fc.nat(20), { minLength: 70, maxLength: 70 }),
        fc.array(fc.nat(20), { minLength: 70, maxLength: 70 }),
        (i, noise1, noise3) => {
          const day = MON + i;
          const cutoff = localMidnight(day, zoneOf('S1'));
          // Rewrite every day that ends after the cut-off: S1's day D and later, S3's (Los Angeles) D-1 and later.
          const future = (s: typeof s1, noise: number[]) => ({
            ...s,
            units: s.units.map((u, k) =>
              localMidnight(MON + k + 1, zoneOf(s.storeId)) > cutoff ? noise[k]! : u,
            ),
          });
          const a = demandLevelContext([s1, s3], zoneOf)(s1, i, cutoff);
          const b = demandLevelContext([future(s1, noise1), future(s3, noise3)], zoneOf)(
            future(s1, noise1),
            i,
            cutoff,
          );
          expect(b).toEqual(a);
        },
      ),
    );
  });
});

describe('maintenance labels', () => {
  const t0 = Date.UTC(2026, 2, 2, 13);
  const rental = (tag: string, k: number, damaged: boolean, grade = 5): Scan[] => {
    const t = t0 + k * 3 * DAY;
    return [
      scan(tag, 'out', t, { grade }),
      scan(tag, 'return', t + DAY, { grade }),
      ...(damaged ? [scan(tag, 'damage', t + DAY + H, { grade: grade - 1 })] : []),
      ...(damaged ? [scan(tag, 'repair', t + 2 * DAY, { grade: grade - 1 })] : []),
      scan(tag, 'in', t + 2 * DAY + H, { grade }),
    ];
  };

  it('is 1 when a damage or repair scan follows before the K-th next out scan; censors the last K rentals', () => {
    // Rentals 0..5 of one item; rental 3 is damaged.
    const history = [0, 1, 2, 3, 4, 5].flatMap((k) => rental('A', k, k === 3));
    const labels = maintenanceLabels(countedScans(history, 2000), 2);
    // K = 2: rentals 0..3 have two later outs; 4 and 5 do not and are left out.
    expect(labels.map((l) => l.needs_repair)).toEqual([0, 0, 1, 1]);
    expect(labels.map((l) => l.time)).toEqual([0, 1, 2, 3].map((k) => t0 + k * 3 * DAY));
    // Settled by the out scan K rentals later.
    expect(labels[0]!.settledAt).toBe(t0 + 2 * 3 * DAY);
    expect(labels.map((l) => l.prior_rentals)).toEqual([0, 1, 2, 3]);
    expect(labels.map((l) => l.prior_damages)).toEqual([0, 0, 0, 0]);
    const k1 = maintenanceLabels(countedScans(history, 2000), 1);
    expect(k1.map((l) => l.needs_repair)).toEqual([0, 0, 0, 1, 0]);
    expect(k1[4]!.prior_damages).toBe(1);
  });

  it('counts a double-read out scan once', () => {
    const history = [0, 1, 2].flatMap((k) => rental('A', k, false));
    history.push(scan('A', 'out', t0 + 1000)); // a second reader 1 s after the first out
    const labels = maintenanceLabels(countedScans(history, 2000), 1);
    expect(labels).toHaveLength(2);
  });

  it('rejects K < 1', () => {
    expect(() => maintenanceLabels([], 0)).toThrow(RangeError);
  });
});

describe('quality labels', () => {
  it('is the grade of the next return, with the grade at checkout; a rental without a return is left out', () => {
    const t = Date.UTC(2026, 2, 2, 13);
    const history = [
      scan('A', 'out', t, { grade: 5 }),
      scan('A', 'return', t + DAY, { grade: 4 }),
      scan('A', 'in', t + 2 * DAY, { grade: 4 }),
      scan('A', 'out', t + 3 * DAY, { grade: 4 }),
      scan('A', 'out', t + 6 * DAY, { grade: 4 }), // a lost return scan: the rental before has no label
      scan('A', 'return', t + 7 * DAY, { grade: 3 }),
      scan('A', 'out', t + 9 * DAY, { grade: 3 }), // still out when the history ends
    ];
    const labels = qualityLabels(countedScans(history, 2000));
    expect(labels.map((l) => [l.time - t, l.grade_at_out, l.grade_at_return])).toEqual([
      [0, 5, 4],
      [6 * DAY, 4, 3],
    ]);
    expect(labels[1]!.settledAt).toBe(t + 7 * DAY);
  });
});

describe("a rental's history columns", () => {
  const TYPES = ['in', 'out', 'return', 'damage', 'repair'] as const;
  /** The columns recomputed from scratch: every earlier scan of the item, nothing incremental. */
  const brute = (scans: readonly Scan[], time: number) => {
    const before = scans.filter((s) => s.time < time);
    const outs = before.filter((s) => s.scanType === 'out').map((s) => s.time);
    const since = outs.length
      ? Math.max(...outs)
      : before.length
        ? Math.min(...before.map((s) => s.time))
        : null;
    return {
      prior_rentals: outs.length,
      prior_damages: before.filter((s) => s.scanType === 'damage').length,
      days_since_last_use: since === null ? null : (time - since) / DAY,
      usage_frequency_7d: outs.filter((t) => t > time - 7 * DAY).length / 7,
    };
  };

  it('are what every earlier scan of the item says, for every rental (labelled or not)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ type: fc.constantFrom(...TYPES), gapMin: fc.integer({ min: 1, max: 5 * 24 * 60 }) }),
          {
            maxLength: 60,
          },
        ),
        (steps) => {
          let t = Date.UTC(2026, 2, 2);
          const scans = steps.map((s) => scan('A', s.type, (t += s.gapMin * 60_000)));
          const counted = countedScans(scans, 2000);
          const all = allRentals(counted);
          expect(all).toHaveLength(counted.filter((s) => s.scanType === 'out').length);
          for (const l of all)
            expect({
              prior_rentals: l.prior_rentals,
              prior_damages: l.prior_damages,
              days_since_last_use: l.days_since_last_use,
              usage_frequency_7d: l.usage_frequency_7d,
            }).toEqual(brute(counted, l.time));
        },
      ),
    );
  });

  it('allRentals keeps the rentals from an instant on', () => {
    const t = Date.UTC(2026, 2, 2, 13);
    const history = [0, 1, 2, 3].map((k) => scan('A', 'out', t + k * DAY));
    expect(allRentals(countedScans(history, 2000), t + 2 * DAY).map((l) => l.prior_rentals)).toEqual([2, 3]);
  });
});
