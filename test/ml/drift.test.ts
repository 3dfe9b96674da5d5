// The drift reference and PSI against it: bins at the training deciles with a bin for missing values, category
// shares with unseen and missing slots, the predictions binned too; PSI near 0 for another sample of the training
// distribution, large for a shifted one; the reference survives a JSON round trip (the registry stores it as text).
import { table } from 'arquero';
import { describe, expect, it } from 'vitest';
import {
  categoryPsi,
  categorySlot,
  chunkSpread,
  SPREAD_STEPS,
  driftReference,
  driftThresholds,
  isDriftReference,
  numericBins,
  numericPsi,
  numericSlot,
  psiOfCounts,
  quantileEdges,
  valueBin,
} from '../../src/ml/drift.ts';
import type { ModelSpec } from '../../src/ml/model-spec.ts';

/** A deterministic pseudo-normal sample (sum of 12 uniforms from a tiny LCG). */
function sample(n: number, mean: number, sd: number, seed: number): number[] {
  let x = seed;
  const next = (): number => (x = (x * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  return Array.from(
    { length: n },
    () => mean + sd * (Array.from({ length: 12 }, next).reduce((a, b) => a + b) - 6),
  );
}

const SPEC: ModelSpec = {
  service: 'demand',
  algorithm: 'linear',
  preprocessing: {
    numeric: ['rentals@7d', 'temperature_f'],
    impute: [0, 0],
    categorical: ['store_id'],
    categories: [['S1', 'S2']],
    offset: [0, 0, 0, 0],
    scale: [1, 1, 1, 1],
  },
  estimator: { kind: 'linear-regressor', coefficients: [1, 0, 0, 0], intercept: 0 },
};

describe('bins', () => {
  it('are the sample deciles, each holding about a tenth, the largest value never an edge', () => {
    const values = Array.from({ length: 1000 }, (_, i) => i);
    expect(quantileEdges(values, 4)).toEqual([250, 500, 750]);
    const b = numericBins(values, 4);
    expect(b.proportions).toEqual([0.251, 0.25, 0.25, 0.249]);
    expect(b.missing).toBe(0);
    // Repeated values give fewer bins, and none is empty by construction.
    expect(quantileEdges([0, 0, 0, 0, 0, 0, 0, 1, 1, 2], 10)).toEqual([0, 1]);
    expect(quantileEdges([3, 3, 3], 10)).toEqual([]);
  });

  it('put a value in the first bin whose edge is at or above it; missing values in a slot of their own', () => {
    expect([-5, 1, 1.5, 2, 2.5, 3, 99].map((v) => valueBin([1, 2, 3], v))).toEqual([0, 0, 1, 1, 2, 2, 3]);
    const b = numericBins([1, 2, 3, null, NaN, 'x', 4, 5], 2);
    expect(b.missing).toBeCloseTo(3 / 8);
    expect(b.proportions.reduce((a, c) => a + c, 0) + b.missing).toBeCloseTo(1);
    expect(numericSlot(b, null)).toBe(b.edges.length + 1);
    expect(numericSlot(b, undefined)).toBe(b.edges.length + 1);
    expect(numericSlot(b, '2')).toBe(valueBin(b.edges, 2));
  });

  it('give categories their slot, and unseen and missing ones the two after them', () => {
    const c = driftReference(SPEC, table({ store_id: ['S2', 'S1', 'S1', null] }), new Float64Array(4))
      .categorical['store_id']!;
    expect(c).toEqual({ categories: ['S1', 'S2'], proportions: [0.5, 0.25], missing: 0.25 });
    expect(['S1', 'S2', 'S9', null].map((v) => categorySlot(c, v))).toEqual([0, 1, 2, 3]);
  });
});

describe('driftReference', () => {
  const n = 2000;
  const train = table({
    'rentals@7d': sample(n, 20, 4, 1),
    temperature_f: sample(n, 65, 10, 2),
    store_id: Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'S2' : 'S1')),
  });
  const predictions = Float64Array.from(train.array('rentals@7d') as number[], (v) => 2 * v);
  const ref = driftReference(SPEC, train, predictions);

  it('bins every input of the spec and the predictions, and reads back from JSON', () => {
    expect(ref.rows).toBe(n);
    expect(Object.keys(ref.numeric)).toEqual(['rentals@7d', 'temperature_f']);
    expect(Object.keys(ref.categorical)).toEqual(['store_id']);
    expect(ref.numeric['rentals@7d']!.edges).toHaveLength(9);
    for (const b of [...Object.values(ref.numeric), ref.prediction])
      for (const p of b.proportions) expect(p).toBeCloseTo(0.1, 1);
    const back: unknown = JSON.parse(JSON.stringify(ref));
    expect(back).toEqual(ref);
    expect(isDriftReference(back)).toBe(true);
    expect(isDriftReference({ ...ref, prediction: { edges: [1], proportions: [1], missing: 0 } })).toBe(
      false,
    );
    expect(isDriftReference(null)).toBe(false);
  });

  it('takes a column the table lacks as missing throughout', () => {
    const partial = driftReference(SPEC, table({ 'rentals@7d': [1, 2, 3] }), Float64Array.of(1, 2, 3));
    expect(partial.numeric['temperature_f']).toEqual({ edges: [], proportions: [0], missing: 1 });
    expect(partial.categorical['store_id']).toEqual({ categories: [], proportions: [], missing: 1 });
  });

  it('gives PSI near 0 for another sample of the training distribution, large for a shifted one', () => {
    const same = numericPsi(ref.numeric['rentals@7d']!, sample(500, 20, 4, 7));
    const small = numericPsi(ref.numeric['rentals@7d']!, sample(500, 21, 4, 7));
    const shifted = numericPsi(ref.numeric['rentals@7d']!, sample(500, 26, 4, 7));
    expect(same).toBeLessThan(0.05);
    expect(small).toBeGreaterThan(same);
    expect(shifted).toBeGreaterThan(0.25);
    // A sample that lost its values: everything in the missing slot.
    expect(numericPsi(ref.numeric['rentals@7d']!, new Array(500).fill(null))).toBeGreaterThan(1);
    expect(categoryPsi(ref.categorical['store_id']!, ['S1', 'S1', 'S2'])).toBeLessThan(0.01);
    expect(categoryPsi(ref.categorical['store_id']!, ['S3', 'S3', 'S3'])).toBeGreaterThan(1);
  });
});

describe('chunk spread and thresholds', () => {
  const configured = { warning: 0.1, critical: 0.25 };
  // Ten "days" of 200 rows: each day's predictions sit around a level of its own (slow-moving state), while the
  // reference as a whole spreads over all of them.
  const days = 10;
  const perDay = 200;
  const levels = [18, 22, 19, 21, 20, 17, 23, 20, 19, 21];
  const preds: number[] = [];
  const time: number[] = [];
  levels.forEach((level, d) =>
    sample(perDay, level, 3, d + 11).forEach((v, i) => {
      preds.push(v);
      time.push(d * 86_400_000 + i * 1_000);
    }),
  );
  // The rows come shuffled (as a frame is built per item): the spread is cut in time order, not row order.
  const order = preds.map((_, i) => i).sort((a, b) => ((a * 7919) % 2003) - ((b * 7919) % 2003));
  const shuffled = Float64Array.from(order, (i) => preds[i]!);
  const shuffledTime = order.map((i) => time[i]!);
  const bins = numericBins(shuffled);

  it('gives the PSI of every window of the reference in time order, against the rest; none with fewer than three windows', () => {
    const spread = chunkSpread(bins, shuffled, perDay, shuffledTime)!;
    expect(spread.rows).toBe(perDay);
    // A window starts every tenth of a window: serving checks its window at every row, not at multiples of its size.
    expect(spread.step).toBe(perDay / SPREAD_STEPS);
    expect(spread.psi).toHaveLength((days - 1) * SPREAD_STEPS + 1);
    // A day's window differs from the whole: its level is one of many.
    expect(Math.max(...spread.psi)).toBeGreaterThan(0.1);
    // Each day's window is compared with the other days, as a live window is with a reference it is not part of: further
    // off than against the whole, which holds the day itself.
    levels.forEach((_, d) => {
      const day = preds.slice(d * perDay, (d + 1) * perDay);
      expect(spread.psi[d * SPREAD_STEPS]).toBeGreaterThan(numericPsi(bins, day));
    });
    // Cut in row order (shuffled), each window is a sample of the whole: sampling noise only, far smaller PSI.
    const rowOrder = chunkSpread(bins, shuffled, perDay)!;
    const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(rowOrder.psi)).toBeLessThan(mean(spread.psi) / 2);
    expect(chunkSpread(bins, shuffled, 700)).toBeUndefined();
  });

  it('raises the thresholds to what an ordinary window of the reference reaches, keeping the configured gap', () => {
    const spread = chunkSpread(bins, shuffled, perDay, shuffledTime)!;
    const mean = spread.psi.reduce((a, b) => a + b, 0) / spread.psi.length;
    const sd = Math.sqrt(spread.psi.reduce((a, b) => a + (b - mean) ** 2, 0) / (spread.psi.length - 1));
    const ref = { ...driftReference(SPEC, table({}), shuffled), chunks: spread };
    const t = driftThresholds(ref, configured);
    expect(t.warning).toBeCloseTo(Math.max(mean + 3 * sd, ...spread.psi), 12);
    expect(t.warning).toBeGreaterThan(configured.warning);
    expect(t.critical).toBeCloseTo(t.warning + 0.15, 12);
    // Stored with the model and read back.
    expect(isDriftReference(JSON.parse(JSON.stringify(ref)))).toBe(true);
    expect(isDriftReference({ ...ref, chunks: { rows: 1, psi: ['x'] } })).toBe(false);
  });

  it("raises the warning at least to the reference's highest window: a skewed spread reaches past mean + 3 sd", () => {
    // 40 ordinary windows and one at 0.5: mean + 3 sd is about 0.36, under the window the reference holds.
    const psi = [...Array.from({ length: 40 }, (_, i) => 0.05 + (i % 5) * 0.01), 0.5];
    const ref = { ...driftReference(SPEC, table({}), shuffled), chunks: { rows: 500, psi } };
    const mean = psi.reduce((a, b) => a + b, 0) / psi.length;
    const sd = Math.sqrt(psi.reduce((a, b) => a + (b - mean) ** 2, 0) / (psi.length - 1));
    expect(mean + 3 * sd).toBeLessThan(0.5);
    const t = driftThresholds(ref, configured);
    expect(t.warning).toBe(0.5);
    expect(t.critical).toBeCloseTo(0.65, 12);
  });

  it('keeps the configured thresholds for a steady reference, a short one, or one without a spread', () => {
    // Windows of serving's default size: sampling noise alone stays below the configured warning.
    const steady = sample(5000, 20, 3, 5);
    const steadyBins = numericBins(steady);
    const ref = driftReference(SPEC, table({}), Float64Array.from(steady), { windowRows: 500 });
    expect(ref.chunks?.psi).toHaveLength(9 * SPREAD_STEPS + 1);
    expect(driftThresholds(ref, configured)).toEqual(configured);
    expect(chunkSpread(steadyBins, steady, 500)).toEqual(ref.chunks);
    const { chunks: _, ...without } = ref;
    expect(driftThresholds(without, configured)).toEqual(configured);
    expect(driftThresholds({ ...ref, chunks: { rows: 200, psi: [0.9, 0.9] } }, configured)).toEqual(
      configured,
    );
  });
});

describe('psiOfCounts', () => {
  it('is 0 for the reference shares themselves and for an empty sample, and symmetric in the swap', () => {
    expect(psiOfCounts([0.5, 0.3, 0.2], [50, 30, 20])).toBeCloseTo(0, 12);
    expect(psiOfCounts([0.5, 0.5], [0, 0])).toBe(0);
    const a = psiOfCounts([0.5, 0.5], [80, 20]);
    const b = psiOfCounts([0.8, 0.2], [50, 50]);
    expect(a).toBeCloseTo(b, 12);
  });

  it('stays finite where a bin is empty on either side', () => {
    expect(Number.isFinite(psiOfCounts([1, 0], [0, 10]))).toBe(true);
    expect(psiOfCounts([1, 0], [0, 10])).toBeGreaterThan(10);
  });
});
