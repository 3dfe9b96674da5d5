// Metrics against hand-computed cases and, for ROC AUC, against the pairwise definition it must equal.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LOG_LOSS_EPS,
  averagePrecision,
  baseRate,
  baseRateLogLoss,
  conformalQuantile,
  coverage,
  logLoss,
  mae,
  rmse,
  rocAuc,
} from '../../src/ml/metrics.ts';

/** P(score of a random positive > score of a random negative) + ½ P(tie), by enumerating every pair. */
function pairwiseAuc(y: readonly number[], s: readonly number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < y.length; i++)
    for (let j = 0; j < y.length; j++) {
      if (y[i] !== 1 || y[j] !== 0) continue;
      pairs++;
      wins += s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  return pairs === 0 ? NaN : wins / pairs;
}

describe('regression metrics', () => {
  it('MAE and RMSE by hand', () => {
    expect(mae([1, 2, 3], [2, 2, 5])).toBeCloseTo(1, 12); // (1 + 0 + 2) / 3
    expect(rmse([1, 2, 3], [2, 2, 5])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(mae([4], [4])).toBe(0);
  });

  it('rejects predictions of the wrong length', () => {
    expect(() => mae([1, 2], [1])).toThrow(RangeError);
  });
});

describe('log-loss', () => {
  it('by hand', () => {
    const expected = -(Math.log(0.9) + Math.log(0.8) + Math.log(0.3)) / 3;
    expect(logLoss([1, 0, 1], [0.9, 0.2, 0.3])).toBeCloseTo(expected, 12);
  });

  it('clips probabilities so a confident mistake costs -ln(eps), not infinity', () => {
    expect(logLoss([1], [0])).toBeCloseTo(-Math.log(LOG_LOSS_EPS), 6);
    expect(logLoss([0], [1])).toBeCloseTo(-Math.log(LOG_LOSS_EPS), 1);
    expect(Number.isFinite(logLoss([1, 0], [0, 1]))).toBe(true);
  });

  it('base rate log-loss is the entropy of the labels, and a wrong rate costs more', () => {
    const y = [1, 0, 0, 0];
    expect(baseRate(y)).toBe(0.25);
    const entropy = -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75));
    expect(baseRateLogLoss(y)).toBeCloseTo(entropy, 12);
    expect(baseRateLogLoss(y, 0.5)).toBeGreaterThan(entropy);
  });
});

describe('ROC AUC', () => {
  it('hand-computed cases', () => {
    // scikit-learn's doc example: 3 of 4 positive-negative pairs ordered right.
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(0.75, 12);
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])).toBe(1);
    expect(rocAuc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4])).toBe(0);
  });

  it('averages ties: a tied pair counts one half', () => {
    expect(rocAuc([0, 1], [0.5, 0.5])).toBe(0.5);
    // Pairs (pos, neg): (0.5, 0.1) 1, (0.5, 0.5) ½, (0.9, 0.1) 1, (0.9, 0.5) 1 → 3.5 / 4.
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9])).toBeCloseTo(0.875, 12);
    expect(rocAuc([0, 1, 0, 1, 1], [0.3, 0.3, 0.3, 0.3, 0.3])).toBe(0.5);
  });

  it('is NaN with one class only', () => {
    expect(rocAuc([1, 1], [0.2, 0.4])).toBeNaN();
    expect(rocAuc([], [])).toBeNaN();
  });

  it('equals the pairwise definition, is rank-invariant, and reverses under negation', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: -5, max: 5 })), {
          minLength: 2,
          maxLength: 40,
        }),
        (pairs) => {
          const y = pairs.map(([l]) => l);
          const s = pairs.map(([, v]) => v / 2);
          const auc = rocAuc(y, s);
          const ref = pairwiseAuc(y, s);
          if (Number.isNaN(ref)) return Number.isNaN(auc);
          expect(auc).toBeCloseTo(ref, 12);
          expect(
            rocAuc(
              y,
              s.map((v) => Math.exp(v)),
            ),
          ).toBeCloseTo(auc, 12);
          expect(
            rocAuc(
              y,
              s.map((v) => -v),
            ),
          ).toBeCloseTo(1 - auc, 12);
          return true;
        },
      ),
    );
  });
});

describe('average precision', () => {
  it('by hand: precision at each positive, averaged over the positives', () => {
    // Ranked: 0.9 (1), 0.8 (0), 0.7 (1), 0.1 (0): precision 1/1 at the first positive, 2/3 at the second.
    expect(averagePrecision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])).toBeCloseTo((1 + 2 / 3) / 2, 12);
    expect(averagePrecision([1, 1, 0], [0.9, 0.8, 0.1])).toBe(1);
    expect(averagePrecision([0, 0], [0.9, 0.8])).toBeNaN();
  });

  it('counts tied scores as one threshold (scikit-learn): all tied gives the positive rate', () => {
    expect(averagePrecision([1, 0, 0, 1, 0], [0.5, 0.5, 0.5, 0.5, 0.5])).toBeCloseTo(0.4, 12);
  });

  it('equals the mean over positives of the precision at their threshold, for untied scores', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 10_000 }), { minLength: 2, maxLength: 40 }),
        fc.infiniteStream(fc.boolean()),
        (scores, flips) => {
          const y = scores.map(() => (flips.next().value ? 1 : 0));
          fc.pre(y.includes(1));
          const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
          let tp = 0;
          let sum = 0;
          order.forEach((i, rank) => {
            if (y[i] === 1) sum += ++tp / (rank + 1);
          });
          expect(averagePrecision(y, scores)).toBeCloseTo(sum / tp, 12);
        },
      ),
    );
  });
});

describe('split-conformal quantile', () => {
  it('takes the ceil((m + 1) q)-th smallest residual, clamped to the sample', () => {
    const r = [5, 1, 4, 2, 3]; // sorted 1..5, m = 5
    expect(conformalQuantile(r, 0.5)).toBe(3); // ceil(6 * 0.5) = 3
    expect(conformalQuantile(r, 0.9)).toBe(5); // ceil(5.4) = 6 -> clamped to 5
    expect(conformalQuantile(r, 0.1)).toBe(1);
    expect(conformalQuantile([], 0.9)).toBeNaN();
  });

  it('covers at least q of new exchangeable residuals', () => {
    // 999 calibration residuals 0..998 shuffled; the 0.8 quantile must lie at or above 80% of the same values.
    const cal = Array.from({ length: 999 }, (_, i) => (i * 7919) % 999);
    const q = conformalQuantile(cal, 0.8);
    expect(cal.filter((v) => v <= q).length / cal.length).toBeGreaterThanOrEqual(0.8);
    expect(q).toBe(799);
  });

  it('coverage is the share inside [lower, upper], ends included', () => {
    expect(coverage([1, 2, 3, 4], [0, 2, 4, 0], [1, 3, 5, 3])).toBe(0.5);
  });
});
