// Metrics against hand-computed cases and, for ROC AUC, against the pairwise definition it must equal.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LOG_LOSS_EPS, baseRate, baseRateLogLoss, logLoss, mae, rmse, rocAuc } from '../../src/ml/metrics.ts';

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
