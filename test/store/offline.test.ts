// The offline store's pure parts: the upsert statement, row parameters, UTC datetimes, the key order of a batch and
// the two-pointer as-of merge (against a brute-force as-of). The SQL itself runs in the integration test.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeatureVector } from '../../src/schemas/types.ts';
import {
  INSERT_COLUMNS,
  asOfMerge,
  rowParams,
  sortForUpsert,
  toSqlDatetime,
  upsertStatement,
  type TimedValue,
} from '../../src/store/offline.ts';

function feature(overrides: Partial<FeatureVector> = {}): FeatureVector {
  return {
    entity_id: 'item-1',
    entity_type: 'item',
    feature_name: 'usage_frequency_7d',
    feature_value: 0.25,
    feature_type: 'numeric',
    timestamp: Date.UTC(2026, 5, 1, 12, 0, 0, 123),
    window: null,
    window_start: null,
    window_end: null,
    confidence: 0.9,
    source: 'rfid',
    ...overrides,
  };
}

describe('toSqlDatetime', () => {
  it('writes UTC with milliseconds, whatever the local time zone', () => {
    expect(toSqlDatetime(Date.UTC(2026, 5, 1, 12, 0, 0, 123))).toBe('2026-06-01 12:00:00.123');
    expect(toSqlDatetime(0)).toBe('1970-01-01 00:00:00.000');
  });
});

describe('upsertStatement / rowParams', () => {
  it('one tuple per row; the unique key columns are never updated; created_at is', () => {
    const s = upsertStatement(2);
    const tuple = `(${INSERT_COLUMNS.map(() => '?').join(', ')})`;
    expect(s).toContain(`VALUES ${tuple}, ${tuple} ON DUPLICATE KEY UPDATE`);
    expect(s).toContain('feature_value = VALUES(feature_value)');
    expect(s).toContain('created_at = CURRENT_TIMESTAMP(3)');
    for (const key of ['target_entity', 'feature_name', 'window_name', 'feature_timestamp'])
      expect(s).not.toContain(`${key} = VALUES`);
  });

  it("maps a FeatureVector onto the columns; window null is ''", () => {
    expect(rowParams(feature(), true)).toEqual([
      'usage_frequency_7d',
      'item-1',
      'item',
      0.25,
      'numeric',
      '2026-06-01 12:00:00.123',
      '',
      'rfid',
      0.9,
      1,
    ]);
    expect(rowParams(feature({ window: '7d-sliding' }), false)[6]).toBe('7d-sliding');
    expect(rowParams(feature(), false)[9]).toBe(0);
    expect(rowParams(feature(), true)).toHaveLength(INSERT_COLUMNS.length);
  });
});

describe('sortForUpsert', () => {
  it('orders by the unique key and keeps the input order of equal keys (the later one still wins)', () => {
    const first = feature({ entity_id: 'b', feature_value: 1 });
    const second = feature({ entity_id: 'b', feature_value: 2 });
    const a = feature({ entity_id: 'a', timestamp: 5 });
    const a0 = feature({ entity_id: 'a', timestamp: 1 });
    expect(sortForUpsert([first, a, second, a0])).toEqual([a0, a, first, second]);
  });
});

/** Brute force: the point with the greatest timestamp <= t. */
function bruteAsOf(t: number, points: readonly TimedValue[]): TimedValue | null {
  let best: TimedValue | null = null;
  for (const p of points) if (p.timestamp <= t && (best === null || p.timestamp > best.timestamp)) best = p;
  return best;
}

describe('asOfMerge', () => {
  it('takes the last point at or before each label time, never one after it', () => {
    const points = [
      { timestamp: 10, value: 1 },
      { timestamp: 20, value: 2 },
      { timestamp: 30, value: 3 },
    ];
    expect(asOfMerge([5, 10, 19, 20, 35], points)).toEqual([
      null,
      points[0],
      points[0],
      points[1],
      points[2],
    ]);
    expect(asOfMerge([1, 2], [])).toEqual([null, null]);
    expect(asOfMerge([], points)).toEqual([]);
  });

  it('agrees with a brute-force as-of on random series and labels', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { maxLength: 40 }),
        fc.array(fc.integer({ min: -10, max: 1010 }), { maxLength: 40 }),
        (times, labels) => {
          const points = [...times].sort((x, y) => x - y).map((timestamp, i) => ({ timestamp, value: i }));
          const sortedLabels = [...labels].sort((x, y) => x - y);
          expect(asOfMerge(sortedLabels, points)).toEqual(sortedLabels.map((t) => bruteAsOf(t, points)));
        },
      ),
    );
  });
});
