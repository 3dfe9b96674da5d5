// Time-ordered cross-validation and candidate selection: folds never train on the future, preprocessing is fitted
// on training rows only, selection uses the latest fold, the returned ModelSpec reproduces its holdout score through
// the serving path (deriveRow → transformRow), and a seeded run is deterministic.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TagstreamError } from '../../src/errors.ts';
import {
  earlyStoppingSplit,
  predictEstimator,
  timeSeriesFolds,
  trainCandidates,
  type Grid,
  type TrainOptions,
  type TrainProgress,
} from '../../src/ml/cv.ts';
import { mae } from '../../src/ml/metrics.ts';
import type { Estimator, Tree } from '../../src/ml/model-spec.ts';
import { predictSpec } from '../../src/ml/predict.ts';
import { deriveRow } from '../../src/features/derive.ts';
import { deriveFeatures, fitPreprocessing, transformRow } from '../../src/ml/preprocess.ts';

import { CATEGORICAL, NUMERIC, demandRows, tableOf } from './demand-rows.ts';

const SMALL_GRID: Grid = {
  linear: [{ l2: 1e-6 }, { l2: 1 }],
  logistic: [{ l2: 1e-4 }, { l2: 1 }],
  random_forest: [
    { nTrees: 5, maxDepth: 4, minSamplesLeaf: 5, maxFeatures: 0.5 },
    { nTrees: 5, maxDepth: 6, minSamplesLeaf: 5, maxFeatures: 0.5 },
  ],
  gradient_boosting: [{ nTrees: 20, learningRate: 0.2, maxDepth: 2, minSamplesLeaf: 5 }],
};

const small = demandRows({ classes: 4, stores: 2, days: 90, seed: 3 });
const base: TrainOptions = {
  target: 'demand',
  time: 'day',
  numeric: NUMERIC,
  categorical: CATEGORICAL,
  task: 'regression',
  grid: SMALL_GRID,
  seed: 42,
};

describe('timeSeriesFolds', () => {
  it('never trains on a time at or after its validation block, with the gap between', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 3 }),
        (times, k, gap) => {
          const distinct = [...new Set(times)].sort((a, b) => a - b);
          if (distinct.length < k + 1 + gap) {
            expect(() => timeSeriesFolds(times, { folds: k, gap })).toThrow(RangeError);
            return true;
          }
          const { order, folds } = timeSeriesFolds(times, { folds: k, gap });
          // A stable sort by time of every row.
          expect([...order].sort((a, b) => a - b)).toEqual(times.map((_, i) => i));
          for (let i = 1; i < order.length; i++) {
            const [a, b] = [order[i - 1]!, order[i]!];
            expect(times[a]! < times[b]! || (times[a] === times[b] && a < b)).toBe(true);
          }
          expect(folds).toHaveLength(k);
          let previousEnd = -1;
          folds.forEach((f, i) => {
            const train = Array.from(order.subarray(f.train.start, f.train.end), (r) => times[r]!);
            const val = Array.from(order.subarray(f.validation.start, f.validation.end), (r) => times[r]!);
            expect(train.length).toBeGreaterThan(0);
            expect(val.length).toBeGreaterThan(0);
            const lastTrain = Math.max(...train);
            const firstVal = Math.min(...val);
            expect(lastTrain).toBeLessThan(firstVal);
            // Exactly `gap` distinct times left out between training and validation.
            expect(distinct.filter((t) => t > lastTrain && t < firstVal)).toHaveLength(gap);
            // Validation blocks follow each other; the last one ends with the data.
            if (i > 0) expect(f.validation.start).toBe(previousEnd);
            previousEnd = f.validation.end;
          });
          expect(previousEnd).toBe(times.length);
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('cuts blocks of about equal size', () => {
    const times = Array.from({ length: 400 }, (_, i) => Math.floor(i / 4));
    const { folds } = timeSeriesFolds(times, { folds: 3 });
    expect(folds.map((f) => [f.train.end, f.validation.start, f.validation.end])).toEqual([
      [100, 100, 200],
      [200, 200, 300],
      [300, 300, 400],
    ]);
  });
});

describe('trainCandidates', () => {
  it('selects by the latest fold and returns specs that reproduce the holdout score when served', () => {
    const progress: TrainProgress[] = [];
    const result = trainCandidates(tableOf(small), { ...base, onProgress: (p) => progress.push(p) });
    expect(result.metric).toBe('mae');
    expect(result.rows).toBe(small.length);
    expect(result.folds).toHaveLength(3);
    expect(result.algorithms.map((a) => a.algorithm)).toEqual([
      'linear',
      'random_forest',
      'gradient_boosting',
    ]);

    // Progress: the latest fold runs every candidate (it selects), then folds 1 and 2 each algorithm's chosen one.
    const chosen = result.algorithms.map(
      (a) => progress.find((p) => p.fold === 3 && p.params === a.bestParams)!.candidate,
    );
    expect(progress.map((p) => [p.fold, p.candidate])).toEqual([
      ...[1, 2, 3, 4, 5].map((c) => [3, c]),
      ...[1, 2].flatMap((f) => chosen.map((c) => [f, c])),
    ]);
    expect(progress.every((p) => p.folds === 3 && p.candidates === 5)).toBe(true);

    for (const a of result.algorithms) {
      for (const c of a.candidates) {
        expect(c.folds.map((f) => f.fold)).toEqual(c.params === a.bestParams ? [1, 2, 3] : [3]);
        expect(c.score).toBe(c.folds.at(-1)!.score);
        expect(a.score).toBeLessThanOrEqual(c.score);
      }
      expect(a.candidates.find((c) => c.params === a.bestParams)?.score).toBe(a.score);
      expect(a.folds.map((f) => f.score)).toEqual(
        a.candidates.find((c) => c.params === a.bestParams)!.folds.map((f) => f.score),
      );
    }
    expect(result.best.score).toBe(Math.min(...result.algorithms.map((a) => a.score)));

    // The holdout (latest validation block), served record by record through the spec.
    const [from, to] = result.folds[2]!.validationTimes;
    const holdout = small.filter((r) => (r['day'] as number) >= from && (r['day'] as number) <= to);
    expect(holdout).toHaveLength(result.folds[2]!.validationRows);
    const y = holdout.map((r) => r['demand'] as number);
    for (const a of result.algorithms) {
      expect(a.spec).toMatchObject({ service: 'demand', algorithm: a.algorithm });
      const pred = holdout.map((r) =>
        predictEstimator(a.spec.estimator, transformRow(deriveRow(r), a.spec.preprocessing)),
      );
      expect(mae(y, pred)).toBeCloseTo(a.score, 9);
    }
    // Linear models are scaled; trees are not.
    expect(result.algorithms[0]!.spec.preprocessing.scale.some((s) => s !== 1)).toBe(true);
    expect(result.algorithms[1]!.spec.preprocessing.scale.every((s) => s === 1)).toBe(true);
    expect(result.algorithms[1]!.spec.preprocessing.offset.every((o) => o === 0)).toBe(true);

    // Better than predicting the training mean.
    const trainY = small.filter((r) => (r['day'] as number) < from).map((r) => r['demand'] as number);
    const mean = trainY.reduce((s, v) => s + v, 0) / trainY.length;
    expect(result.best.score).toBeLessThan(
      mae(
        y,
        y.map(() => mean),
      ),
    );
  });

  it('agrees with the reference ModelSpec predictor (src/ml/predict.ts) on every row', () => {
    for (const task of ['regression', 'classification'] as const) {
      const rows = small.map((r) => ({ ...r, busy: (r['demand'] as number) > 6 ? 1 : 0 }));
      const result = trainCandidates(tableOf(rows), {
        ...base,
        task,
        target: task === 'regression' ? 'demand' : 'busy',
        numeric: NUMERIC,
      });
      const served = rows.map(deriveRow);
      for (const a of result.algorithms) {
        const p = a.spec.preprocessing;
        const numeric = served.map((r) => p.numeric.map((c) => (r[c] ?? null) as number | null));
        const categorical = served.map((r) => p.categorical.map((c) => (r[c] ?? null) as string | null));
        const reference = predictSpec(a.spec, numeric, categorical);
        served.forEach((r, i) => {
          const ours = predictEstimator(a.spec.estimator, transformRow(r, p));
          // Both compute linear models in float64; trees agree because training splits float32 values.
          if (a.algorithm === 'linear' || a.algorithm === 'logistic')
            expect(Math.abs(ours - reference[i]!)).toBeLessThan(1e-9 * Math.max(1, Math.abs(ours)));
          else expect(ours).toBeCloseTo(reference[i]!, 12);
        });
      }
    }
  });

  it('fits preprocessing on the training rows only: a holdout category and outlier do not leak', () => {
    const rows = small.map((r) =>
      (r['day'] as number) >= 85
        ? { ...r, store_id: 'S_new', temperature_f: 1e6, usage_frequency_7d: null }
        : r,
    );
    const result = trainCandidates(tableOf(rows), base);
    const lastTrainDay = result.folds[2]!.trainTimes[1];
    expect(lastTrainDay).toBeLessThan(85);
    const train = deriveFeatures(tableOf(rows.filter((r) => (r['day'] as number) <= lastTrainDay)));
    for (const a of result.algorithms) {
      const p = a.spec.preprocessing;
      expect(p.categories[0]).toEqual(['S0', 'S1']);
      const expected = fitPreprocessing(train, {
        numeric: NUMERIC,
        categorical: CATEGORICAL,
        scale: a.algorithm === 'linear',
      });
      expect(p.categories).toEqual(expected.categories);
      p.impute.forEach((v, j) => expect(v).toBeCloseTo(expected.impute[j]!, 9));
      p.offset.forEach((v, j) => expect(v).toBeCloseTo(expected.offset[j]!, 9));
      p.scale.forEach((v, j) => expect(v).toBeCloseTo(expected.scale[j]!, 9));
      const t = NUMERIC.indexOf('temperature_f');
      expect(p.impute[t]).toBeLessThan(100);
    }
    // Refit on every row: now the holdout is part of the fit.
    const all = trainCandidates(tableOf(rows), {
      ...base,
      refit: 'all',
      grid: { ...SMALL_GRID, linear: [{ l2: 1e-6 }] },
    });
    expect(all.algorithms[0]!.spec.preprocessing.categories[0]).toEqual(['S0', 'S1', 'S_new']);
  });

  it('is deterministic for a seed', () => {
    const a = trainCandidates(tableOf(small), base);
    const b = trainCandidates(tableOf(small), base);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    const c = trainCandidates(tableOf(small), { ...base, seed: 43 });
    expect(JSON.stringify(c.algorithms[1]!.spec)).not.toBe(JSON.stringify(a.algorithms[1]!.spec));
  });

  it('classification: log-loss selects, AUC and the base-rate baseline are reported', () => {
    const rows = small.map((r) => ({ ...r, busy: (r['demand'] as number) > 6 ? 1 : 0, demand: undefined }));
    const result = trainCandidates(tableOf(rows), { ...base, target: 'busy', task: 'classification' });
    expect(result.metric).toBe('log_loss');
    expect(result.algorithms.map((a) => a.algorithm)).toEqual([
      'logistic',
      'random_forest',
      'gradient_boosting',
    ]);
    for (const a of result.algorithms) {
      const m = a.folds[2]!.metrics;
      if (!('logLoss' in m)) throw new Error('expected classification metrics');
      expect(m.logLoss).toBe(a.score);
      expect(m.auc).toBeGreaterThan(0.7);
    }
    const latest = result.best.folds[2]!.metrics;
    if (!('baseRateLogLoss' in latest)) throw new Error('expected classification metrics');
    expect(result.best.score).toBeLessThan(latest.baseRateLogLoss);
    expect(result.algorithms[2]!.spec.estimator).toMatchObject({ kind: 'tree-classifier', link: 'logistic' });
    expect(result.algorithms[1]!.spec.estimator).toMatchObject({ kind: 'tree-classifier', link: 'identity' });
  });

  it('drops rows without a target, reads ISO times, and keeps grids optional per algorithm', () => {
    const rows = small.map((r, i) => ({
      ...r,
      day: new Date(Date.UTC(2025, 0, 1 + (r['day'] as number))).toISOString(),
      demand: i % 10 === 0 ? null : r['demand'],
    }));
    const result = trainCandidates(tableOf(rows), { ...base, grid: { ...SMALL_GRID, random_forest: [] } });
    expect(result.rows).toBe(small.length - Math.ceil(small.length / 10));
    expect(result.algorithms.map((a) => a.algorithm)).toEqual(['linear', 'gradient_boosting']);
    expect(result.folds[0]!.trainTimes[0]).toBe(Date.UTC(2025, 0, 1));
  });

  it('refuses leaks and unknown columns with CONFIG_INVALID', () => {
    const t = tableOf(small);
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return e instanceof TagstreamError ? e.code : 'other';
      }
      return undefined;
    };
    expect(code(() => trainCandidates(t, { ...base, numeric: [...NUMERIC, 'demand'] }))).toBe(
      'CONFIG_INVALID',
    );
    expect(code(() => trainCandidates(t, { ...base, numeric: ['nope'] }))).toBe('CONFIG_INVALID');
    expect(code(() => trainCandidates(t, { ...base, task: 'classification' }))).toBe('CONFIG_INVALID');
    expect(code(() => trainCandidates(t, { ...base, folds: 200 }))).toBe('CONFIG_INVALID');
  });
});

function treesOf(e: Estimator): readonly Tree[] {
  if (e.kind !== 'tree-regressor' && e.kind !== 'tree-classifier')
    throw new Error(`expected trees, got ${e.kind}`);
  return e.trees;
}

describe('float32 as served', () => {
  // x is 1 or 2 in training, so the stump splits at 1.5, itself a float32. Later rows hold 1.5 + 1e-9: above the
  // threshold in float64, but its float32 (what the ONNX graph and predict.ts see) is 1.5, which goes left.
  const justAbove = 1.5 + 1e-9;
  const rows = Array.from({ length: 40 }, (_, day) => {
    const x = day < 30 ? 1 + (day % 2) : justAbove;
    return { day, x, y: day < 30 && x === 1 ? 0 : 10 };
  });
  const opts: TrainOptions = {
    target: 'y',
    time: 'day',
    numeric: ['x'],
    categorical: [],
    task: 'regression',
    grid: {
      linear: [],
      random_forest: [],
      gradient_boosting: [{ nTrees: 1, learningRate: 1, maxDepth: 1, minSamplesLeaf: 1 }],
    },
    folds: 1,
    derive: false,
    seed: 1,
  };

  it('scores a tree on the branches serving takes, not on float64 values', () => {
    expect(Math.fround(justAbove)).toBe(1.5);
    const result = trainCandidates(tableOf(rows), opts);
    const { spec, validation } = result.algorithms[0]!;
    const tree = treesOf(spec.estimator)[0]!;
    expect(tree.nodes[0]!.threshold).toBe(1.5);
    // Served, the rows just above 1.5 get the left leaf (0) although their target is 10.
    const served = predictSpec(
      spec,
      rows.slice(20).map((r) => [r.x]),
    );
    expect(Array.from(served.slice(10))).toEqual(new Array(10).fill(0));
    expect(Array.from(validation.pred)).toEqual(Array.from(served));
    // Ten of the twenty validation rows are off by 10: MAE 5 (float64 rows would have scored 0).
    expect(result.best.score).toBe(5);
    expect(result.best.score).toBe(mae(validation.y, served));
  });
});

describe('early stopping', () => {
  it('holds out the latest rows of a fit, cut at a change of time, with the gap before them', () => {
    const times = Array.from({ length: 100 }, (_, i) => Math.floor(i / 4)); // 25 times, 4 rows each
    expect(earlyStoppingSplit(times, 0)).toEqual({ trainEnd: 80, validationStart: 80 });
    expect(earlyStoppingSplit(times, 2)).toEqual({ trainEnd: 72, validationStart: 80 });
    expect(earlyStoppingSplit(times, 0, 0.3)).toEqual({ trainEnd: 72, validationStart: 72 });
    expect(earlyStoppingSplit([1, 1, 1], 0)).toBeNull();
    expect(earlyStoppingSplit([1, 2], 1)).toBeNull();
  });

  it('boosting stops on its own training rows, and the refit on all rows takes the rounds the latest fold found', () => {
    const params = {
      nTrees: 400,
      learningRate: 0.3,
      maxDepth: 3,
      minSamplesLeaf: 5,
      earlyStoppingRounds: 5,
    };
    const grid: Grid = { linear: [], random_forest: [], gradient_boosting: [params] };
    const before = trainCandidates(tableOf(small), { ...base, grid });
    const latest = before.algorithms[0]!;
    const rounds = treesOf(latest.spec.estimator).length;
    expect(rounds).toBeGreaterThan(0);
    expect(rounds).toBeLessThan(400);
    expect(latest.refitParams).toBeUndefined(); // its spec is the latest fold's own
    // The validation block stays out of sample: its predictions are the served model's on rows it never saw.
    const served = predictSpec(
      latest.spec,
      small
        .filter((r) => (r['day'] as number) >= before.folds[2]!.validationTimes[0])
        .map((r) => {
          const d = deriveRow(r);
          return latest.spec.preprocessing.numeric.map((c) => (d[c] ?? null) as number | null);
        }),
      small
        .filter((r) => (r['day'] as number) >= before.folds[2]!.validationTimes[0])
        .map((r) => latest.spec.preprocessing.categorical.map((c) => (r[c] ?? null) as string | null)),
    );
    expect(Array.from(latest.validation.pred)).toEqual(Array.from(served));
    const all = trainCandidates(tableOf(small), { ...base, grid, refit: 'all' });
    expect(all.algorithms[0]!.refitParams).toEqual({
      ...params,
      earlyStoppingRounds: undefined,
      nTrees: rounds,
    });
    expect(treesOf(all.algorithms[0]!.spec.estimator)).toHaveLength(rounds);
  });

  it("earlierFolds 'all' runs every candidate on every fold, 'none' the latest fold alone, with the same result", () => {
    const progress: TrainProgress[] = [];
    const all = trainCandidates(tableOf(small), {
      ...base,
      earlierFolds: 'all',
      onProgress: (p) => progress.push(p),
    });
    expect(progress).toHaveLength(15);
    expect(new Set(progress.map((p) => `${p.fold}/${p.candidate}`)).size).toBe(15);
    const none = trainCandidates(tableOf(small), { ...base, earlierFolds: 'none' });
    for (const [i, a] of none.algorithms.entries()) {
      expect(a.folds.map((f) => f.fold)).toEqual([3]);
      expect(a.bestParams).toBe(all.algorithms[i]!.bestParams);
      expect(JSON.stringify(a.spec)).toBe(JSON.stringify(all.algorithms[i]!.spec));
    }
  });
});
