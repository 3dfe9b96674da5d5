// The cut-off rule, end to end over labels and frames on an in-memory as-of store (the same merge the MySQL store
// runs): a demand label for day D sees the 1d window of D-1 (stamped at D's local midnight) and nothing stamped after
// that instant; a rental sees its own out scan's item features and nothing later. A store that returns a later value
// is caught.
import { describe, expect, it } from 'vitest';
import { demandFrame, rentalFrame } from '../../../src/ml/train/features.ts';
import {
  countedScans,
  demandLabels,
  localMidnight,
  maintenanceLabels,
  type Scan,
} from '../../../src/ml/train/labels.ts';
import { columnName, type FeatureRef } from '../../../src/features/keys.ts';
import { asOfMerge, type TimedValue } from '../../../src/store/offline.ts';
import type { FeatureStore, TrainingRow } from '../../../src/store/types.ts';

const DAY = 86_400_000;
const zoneOf = (): string => 'America/New_York';

/** An as-of store over in-memory series; `cheat` moves every returned timestamp 1 ms past the label (to test the check). */
function memoryStore(cheat = false): Pick<FeatureStore, 'getTrainingFrame'> & {
  put(entity: string, ref: FeatureRef, t: number, v: number): void;
} {
  const series = new Map<string, TimedValue[]>();
  const key = (e: string, r: FeatureRef) => `${e}|${columnName(r)}`;
  return {
    put(entity, ref, t, v) {
      const list = series.get(key(entity, ref)) ?? [];
      list.push({ timestamp: t, value: v });
      list.sort((a, b) => a.timestamp - b.timestamp);
      series.set(key(entity, ref), list);
    },
    async getTrainingFrame(labels, refs): Promise<TrainingRow[]> {
      return labels.map((l) => {
        const features: Record<string, number | null> = {};
        const featureTimes: Record<string, number | null> = {};
        for (const r of refs) {
          const v = asOfMerge([l.timestamp], series.get(key(l.entityId, r)) ?? [])[0] ?? null;
          features[columnName(r)] = v?.value ?? null;
          featureTimes[columnName(r)] = v === null ? null : cheat ? l.timestamp + 1 : v.timestamp;
        }
        return { entityId: l.entityId, timestamp: l.timestamp, label: l.label, features, featureTimes };
      });
    },
  };
}

const FIRST = Date.UTC(2026, 4, 4) / DAY; // Monday 2026-05-04
const units = Array.from({ length: 21 }, (_, i) => (i * 7) % 11);
const series = [{ entityId: 'S1|TENT', storeId: 'S1', rentalClass: 'TENT', firstDay: FIRST, units }];

describe('demand cut-off', () => {
  it('reads the day that just ended and the target day external values, nothing stamped later', async () => {
    const store = memoryStore();
    units.forEach((u, i) => {
      const end = localMidnight(FIRST + i + 1, 'America/New_York');
      store.put('S1|TENT', { name: 'rentals', window: '1d' }, end, u); // the 1d window of day i, at its end
      store.put('S1|TENT', { name: 'available_stock' }, end + 1, 1000 + i); // 1 ms after the next cut-off
      store.put('S1', { name: 'temperature_f' }, (FIRST + i) * DAY, 50 + i); // 00:00 UTC of day i
    });
    const labels = demandLabels(series, zoneOf);
    const frame = await demandFrame(labels, store, '90d');
    const rentals = frame.table.array('rentals@1d');
    const stock = frame.table.array('available_stock');
    const temp = frame.table.array('temperature_f');
    labels.forEach((l, r) => {
      const i = l.day - FIRST;
      expect(rentals[r]).toBe(units[i - 1]); // D-1's window, stamped exactly at the cut-off
      expect(stock[r]).toBe(1000 + i - 2); // the value 1 ms after the cut-off is D-1's, not D's
      expect(temp[r]).toBe(50 + i); // the target day's weather, stamped at 00:00 UTC before New York's midnight
      expect(frame.table.array('units_lag_7')[r]).toBe(units[i - 7]);
    });
    expect(frame.report.maxLeadMs).toBe(0);
  });

  it('refuses a frame with a value stamped after its label time', async () => {
    const store = memoryStore(true);
    store.put('S1|TENT', { name: 'rentals', window: '1d' }, FIRST * DAY, 1);
    await expect(demandFrame(demandLabels(series, zoneOf), store, '90d')).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringMatching(/stamped .* after the label time/),
    });
  });
});

describe('rental cut-off', () => {
  it("reads the item's features as of its out scan: that scan's own values, nothing later", async () => {
    const t = Date.UTC(2026, 4, 4, 13);
    let id = 1;
    const scan = (type: string, time: number, grade = 5): Scan => ({
      id: id++,
      tagId: 'A',
      rentalClass: 'TENT',
      storeId: 'S1',
      scanType: type,
      time,
      grade,
    });
    const scans = [0, 1, 2].flatMap((k) => [
      scan('out', t + k * 3 * DAY, 5 - k),
      scan('return', t + k * 3 * DAY + DAY, 4 - k),
    ]);
    const store = memoryStore();
    for (const s of scans) {
      store.put('A', { name: 'quality_grade' }, s.time, s.grade); // what item-features stamps at each scan
      store.put('A', { name: 'repair_count' }, s.time + 1, 99); // never visible at an out scan's time
    }
    const labels = maintenanceLabels(countedScans(scans, 2000), 1);
    const frame = await rentalFrame(labels, { name: 'needs_repair', value: () => 0 }, store, '90d');
    expect(frame.table.array('quality_grade')).toEqual([5, 4]);
    expect(frame.table.array('repair_count')).toEqual([null, 99]);
    // Usage and idle time come from the item's scans before the checkout, as serving computes them.
    expect(frame.table.array('prior_rentals')).toEqual([0, 1]);
    expect(frame.table.array('days_since_last_use')).toEqual([null, 3]);
    expect(frame.table.array('usage_frequency_7d')).toEqual([0, 1 / 7]);
  });
});
