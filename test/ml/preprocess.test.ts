// Preprocessing: the arquero derivation equals the per-record one used at serving, and impute → one-hot → scale
// is fitted on the training split only and applied identically to tables and single records.
import { table } from 'arquero';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DERIVED_FEATURES, deriveRow, derivedFeatureNames } from '../../src/features/derive.ts';
import {
  deriveFeatures,
  featureNames,
  featureWidth,
  fitPreprocessing,
  toMatrix,
  toMatrix32,
  transformRow,
} from '../../src/ml/preprocess.ts';

type Row = Record<string, unknown>;

/** An arquero table from records that all have the same keys. */
function tableOf(rows: readonly Row[]) {
  const names = rows.length === 0 ? [] : Object.keys(rows[0]!);
  return table(Object.fromEntries(names.map((c) => [c, rows.map((r) => r[c])])));
}

describe('derived features', () => {
  it('computes the seed features by hand', () => {
    const t = deriveFeatures(
      tableOf([
        {
          scan_hour: 8,
          scan_day_of_week: 5,
          usage_frequency_7d: 0.5,
          quality_grade: 2,
          temperature_f: 80,
          consumer_confidence: 110,
          is_wedding_season: 1,
        },
        {
          scan_hour: 19,
          scan_day_of_week: 4,
          usage_frequency_7d: 1.6,
          quality_grade: 5,
          temperature_f: 60,
          consumer_confidence: 90,
          is_wedding_season: 0,
        },
      ]),
    );
    const [a, b] = t.objects() as Row[];
    expect(a).toMatchObject({
      is_business_hours: 1,
      is_peak_hours: 0,
      is_weekend: 1,
      usage_category: 0,
      quality_alert: 1,
      usage_wear_interaction: 1.5,
      weekend_temperature_interaction: 80,
      confidence_season_interaction: 110,
    });
    expect(b).toMatchObject({
      is_business_hours: 0,
      is_peak_hours: 0,
      is_weekend: 0,
      usage_category: 2,
      quality_alert: 0,
      usage_wear_interaction: 0,
      weekend_temperature_interaction: 0,
      confidence_season_interaction: 0,
    });
  });

  it('derives only what the columns allow, and NaN from a missing input', () => {
    const t = deriveFeatures(tableOf([{ hour: null, quality_grade: 1 }]));
    expect(t.columnNames()).toEqual([
      'hour',
      'quality_grade',
      'is_business_hours',
      'is_peak_hours',
      'quality_alert',
    ]);
    expect(derivedFeatureNames(['hour', 'quality_grade'])).toEqual([
      'is_business_hours',
      'is_peak_hours',
      'quality_alert',
    ]);
    const row = t.objects()[0] as Row;
    expect(row['is_business_hours']).toBeNaN();
    expect(row['quality_alert']).toBe(1);
    expect(derivedFeatureNames([])).toEqual([]);
  });

  const value = fc.oneof(
    fc.constantFrom(0, 0.5, 1.5, 2, 5, 7, 8, 10, 16, 18, 19, 4, 6, -1, 0.5000001),
    fc.double({ min: -50, max: 120, noNaN: true }),
    fc.constantFrom(null, NaN, undefined, Infinity),
  );
  const sources = [
    'scan_hour',
    'hour',
    'scan_day_of_week',
    'day_of_week',
    'usage_frequency_7d',
    'quality_grade',
    'temperature_f',
    'consumer_confidence',
    'is_wedding_season',
    'is_weekend',
    'is_business_hours',
  ];

  it('deriveFeatures (arquero) equals deriveRow row by row', () => {
    fc.assert(
      fc.property(
        fc.subarray(sources),
        fc.integer({ min: 1, max: 12 }),
        fc.infiniteStream(value),
        (columns, n, values) => {
          const it = values[Symbol.iterator]();
          const rows: Row[] = Array.from({ length: n }, (_, id) => ({
            id,
            ...Object.fromEntries(columns.map((c) => [c, it.next().value])),
          }));
          const derived = deriveFeatures(tableOf(rows)).objects() as Row[];
          expect(derived).toHaveLength(n);
          rows.forEach((r, i) => {
            const served = deriveRow(r);
            expect(Object.keys(derived[i]!).sort()).toEqual(Object.keys(served).sort());
            for (const name of DERIVED_FEATURES) expect(derived[i]![name]).toEqual(served[name]);
          });
          return true;
        },
      ),
      { numRuns: 200 },
    );
  });

  it('deriveRow is idempotent and leaves its input alone', () => {
    const input = { scan_hour: 12, scan_day_of_week: 6, temperature_f: 70 };
    const once = deriveRow(input);
    expect(deriveRow(once)).toEqual(once);
    expect(input).toEqual({ scan_hour: 12, scan_day_of_week: 6, temperature_f: 70 });
    expect(once['weekend_temperature_interaction']).toBe(70);
  });
});

describe('fitPreprocessing / toMatrix', () => {
  const train = tableOf([
    { x: 1, z: 5, store: 'b' },
    { x: 3, z: 5, store: 'a' },
    { x: null, z: 5, store: 'b' },
    { x: 5, z: 5, store: null },
  ]);

  it('imputes with the training mean, takes sorted categories, and scales the encoded training matrix', () => {
    const p = fitPreprocessing(train, { numeric: ['x', 'z'], categorical: ['store'], scale: true });
    expect(p.numeric).toEqual(['x', 'z']);
    expect(p.impute).toEqual([3, 5]);
    expect(p.categories).toEqual([['a', 'b']]);
    expect(featureWidth(p)).toBe(4);
    expect(featureNames(p)).toEqual(['x', 'z', 'store=a', 'store=b']);
    // x after imputation: 1, 3, 3, 5 → mean 3, population std √2; z constant → scale 1.
    expect(p.offset).toEqual([3, 5, 0.25, 0.5]);
    expect(p.scale[0]).toBeCloseTo(1 / Math.SQRT2, 12);
    expect(p.scale[1]).toBe(1);
    expect(p.scale[2]).toBeCloseTo(1 / Math.sqrt(0.25 * 0.75), 12);
    expect(p.scale[3]).toBeCloseTo(1 / 0.5, 12);
    const X = toMatrix(train, p);
    for (let j = 0; j < 4; j++) {
      const col = X.map((r) => r[j]!);
      const mean = col.reduce((a, v) => a + v, 0) / col.length;
      expect(mean).toBeCloseTo(0, 12);
      if (j !== 1) expect(col.reduce((a, v) => a + (v - mean) ** 2, 0) / col.length).toBeCloseTo(1, 12);
    }
  });

  it('without scaling: offset 0, scale 1, raw one-hot', () => {
    const p = fitPreprocessing(train, { numeric: ['x'], categorical: ['store'], scale: false });
    expect(p.offset).toEqual([0, 0, 0]);
    expect(p.scale).toEqual([1, 1, 1]);
    expect(toMatrix(train, p).map((r) => Array.from(r))).toEqual([
      [1, 0, 1],
      [3, 1, 0],
      [3, 0, 1],
      [5, 0, 0],
    ]);
  });

  it('a numeric column with no training value falls back to its documented default', () => {
    const t = tableOf([{ temperature_f: null, other: null }]);
    const p = fitPreprocessing(t, { numeric: ['temperature_f', 'other'], categorical: [], scale: false });
    expect(p.impute).toEqual([70, 0]);
  });

  it('is fitted on the training split only: a holdout category is unknown and an outlier moves nothing', () => {
    const all = tableOf([
      { x: 1, store: 'a' },
      { x: 2, store: 'b' },
      { x: 3, store: 'a' },
      { x: 1e6, store: 'new' }, // holdout
    ]);
    const p = fitPreprocessing(all.slice(0, 3), { numeric: ['x'], categorical: ['store'], scale: true });
    expect(p.categories).toEqual([['a', 'b']]);
    expect(p.impute).toEqual([2]);
    expect(p.offset[0]).toBe(2);
    expect(p.scale[0]).toBeCloseTo(1 / Math.sqrt(2 / 3), 12);
    const holdout = toMatrix(all.slice(3), p)[0]!;
    // Unknown category → zeros before scaling, so (0 - offset) * scale in every indicator.
    expect(holdout[1]).toBeCloseTo((0 - p.offset[1]!) * p.scale[1]!, 12);
    expect(holdout[2]).toBeCloseTo((0 - p.offset[2]!) * p.scale[2]!, 12);
  });

  it('toMatrix equals transformRow(deriveRow(record)) for every row', () => {
    const rows: Row[] = [
      { scan_hour: 9, quality_grade: 2, usage_frequency_7d: 1, store: 'a', cls: 'x' },
      { scan_hour: null, quality_grade: 5, usage_frequency_7d: NaN, store: 'b', cls: 'y' },
      { scan_hour: 20, quality_grade: null, usage_frequency_7d: 3, store: 'c', cls: null },
    ];
    const t = deriveFeatures(tableOf(rows));
    const numeric = [
      'scan_hour',
      'quality_grade',
      'usage_frequency_7d',
      ...derivedFeatureNames(t.columnNames()),
    ];
    const p = fitPreprocessing(t.slice(0, 2), { numeric, categorical: ['store', 'cls'], scale: true });
    const X = toMatrix(t, p);
    rows.forEach((r, i) => expect(Array.from(transformRow(deriveRow(r), p))).toEqual(Array.from(X[i]!)));
  });

  it('toMatrix32 computes in float32 as the ONNX graph does: rounded input and impute, x - offset, times scale', () => {
    const t = tableOf([
      { x: 0.1, z: 1e-9, store: 'b' },
      { x: null, z: 3.3, store: 'a' },
      { x: 1.5 + 1e-9, z: -2, store: 'zz' },
    ]);
    const p = fitPreprocessing(t.slice(0, 2), { numeric: ['x', 'z'], categorical: ['store'], scale: true });
    const f = Math.fround;
    const X64 = toMatrix(t, p);
    const X32 = toMatrix32(t, p);
    const raw = [
      [0.1, 1e-9, 0, 1],
      [p.impute[0]!, 3.3, 1, 0],
      [1.5 + 1e-9, -2, 0, 0],
    ];
    raw.forEach((r, i) => {
      expect(X32[i]).toBeInstanceOf(Float32Array);
      r.forEach((v, j) => expect(X32[i]![j]).toBe(f(f(f(v) - f(p.offset[j]!)) * f(p.scale[j]!))));
      // Within float32 rounding of the float64 rows.
      r.forEach((_, j) => expect(X32[i]![j]).toBeCloseTo(X64[i]![j]!, 5));
    });
    // Unscaled (trees): the float32 of each value, the threshold-relevant one.
    const q = fitPreprocessing(t.slice(0, 2), { numeric: ['x'], categorical: [], scale: false });
    expect(Array.from(toMatrix32(t, q), (r) => r[0])).toEqual([f(0.1), f(0.1), 1.5]);
  });

  it('names the missing columns', () => {
    expect(() => fitPreprocessing(train, { numeric: ['nope'], categorical: [], scale: true })).toThrow(
      /nope/,
    );
  });
});
