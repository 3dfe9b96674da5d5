// Linear models against references: OLS against ml-matrix's least-squares solve and known coefficients; logistic
// regression against known coefficients, its own optimality condition, and the intercept-only model.
import { Matrix, solve } from 'ml-matrix';
import { xoroshiro128plus } from 'pure-rand';
import { describe, expect, it } from 'vitest';
import { baseRateLogLoss, logLoss } from '../../../src/ml/metrics.ts';
import {
  fitLinearRegression,
  fitLogisticRegression,
  predictLinear,
  sigmoid,
} from '../../../src/ml/models/linear.ts';

function gen(seed: number) {
  const g = xoroshiro128plus(seed);
  const uniform = (): number => (g.unsafeNext() >>> 0) / 4294967296;
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

function randomRows(n: number, p: number, normal: () => number): Float64Array[] {
  return Array.from({ length: n }, () => Float64Array.from({ length: p }, normal));
}

describe('linear regression (ridge OLS)', () => {
  const { normal } = gen(11);
  const truth = [2, -1, 0.5, 3, 0];
  const intercept = 1.5;
  const X = randomRows(400, truth.length, normal);
  const y = X.map((r) => intercept + r.reduce((s, v, j) => s + v * truth[j]!, 0) + 0.01 * normal());

  it('matches ml-matrix least squares and recovers the known coefficients', () => {
    const est = fitLinearRegression(X, y, { l2: 0 });
    const aug = new Matrix(X.map((r) => [...r, 1]));
    const ref = solve(aug, Matrix.columnVector(y)).getColumn(0);
    est.coefficients.forEach((c, j) => expect(c).toBeCloseTo(ref[j]!, 9));
    expect(est.intercept).toBeCloseTo(ref[truth.length]!, 9);
    est.coefficients.forEach((c, j) => expect(Math.abs(c - truth[j]!)).toBeLessThan(0.01));
    expect(Math.abs(est.intercept - intercept)).toBeLessThan(0.01);
    expect(est.kind).toBe('linear-regressor');
    expect(predictLinear(est, X[0]!)).toBeCloseTo(y[0]!, 1);
  });

  it('the ridge shrinks coefficients but never the intercept', () => {
    const small = fitLinearRegression(X, y, { l2: 1e-6 });
    const big = fitLinearRegression(X, y, { l2: 10 });
    const norm = (w: readonly number[]): number => Math.hypot(...w);
    expect(norm(big.coefficients)).toBeLessThan(norm(small.coefficients) / 5);
    // With every coefficient shrunk toward 0, the intercept tends to the mean of y.
    const huge = fitLinearRegression(X, y, { l2: 1e9 });
    expect(huge.intercept).toBeCloseTo(y.reduce((a, v) => a + v, 0) / y.length, 4);
  });

  it('a small ridge keeps collinear columns (all indicators + intercept) solvable', () => {
    const rows = Array.from({ length: 60 }, (_, i) =>
      Float64Array.from([i % 3 === 0 ? 1 : 0, i % 3 === 0 ? 0 : 1, i]),
    );
    const yy = rows.map((r) => 4 * r[0]! + 0.5 * r[2]! + 1);
    const est = fitLinearRegression(rows, yy, { l2: 1e-8 });
    expect(est.coefficients.every(Number.isFinite)).toBe(true);
    rows.forEach((r, i) => expect(predictLinear(est, r)).toBeCloseTo(yy[i]!, 4));
  });
});

describe('logistic regression (IRLS, L2)', () => {
  const { normal, uniform } = gen(5);
  const truth = [1.5, -2, 0.5];
  const intercept = -0.3;
  const X = randomRows(20_000, truth.length, normal);
  const y = X.map((r) =>
    uniform() < sigmoid(intercept + r.reduce((s, v, j) => s + v * truth[j]!, 0)) ? 1 : 0,
  );

  it('recovers the generating coefficients and beats the intercept-only model', () => {
    const est = fitLogisticRegression(X, y, { l2: 1e-6 });
    expect(est.kind).toBe('logistic-classifier');
    est.coefficients.forEach((c, j) => expect(Math.abs(c - truth[j]!)).toBeLessThan(0.1));
    expect(Math.abs(est.intercept - intercept)).toBeLessThan(0.1);
    const p = X.map((r) => predictLinear(est, r));
    expect(logLoss(y, p)).toBeLessThan(baseRateLogLoss(y) - 0.2);
  });

  it('stops at the optimum: the penalised gradient is zero', () => {
    const l2 = 0.05;
    const est = fitLogisticRegression(X, y, { l2 });
    const grad = new Array(truth.length + 1).fill(0) as number[];
    X.forEach((r, i) => {
      const g = predictLinear(est, r) - y[i]!;
      r.forEach((v, j) => (grad[j]! += g * v));
      grad[truth.length]! += g;
    });
    grad.forEach((g, j) => {
      const penalised = g / X.length + (j < truth.length ? l2 * est.coefficients[j]! : 0);
      expect(Math.abs(penalised)).toBeLessThan(1e-7);
    });
  });

  it('is exact with indicator columns: the penalised gradient is zero with one-hot and constant columns', () => {
    // Two dense columns, a scaled one-hot block of four categories (two values per column), a constant column.
    const g = gen(8);
    const rows = Array.from({ length: 5_000 }, () => {
      const c = Math.floor(g.uniform() * 4);
      const hot = [0, 1, 2, 3].map((k) => ((k === c ? 1 : 0) - 0.25) * 2.3);
      return Float64Array.from([g.normal(), 3 + g.normal(), ...hot, 7]);
    });
    const labels = rows.map((r) => (g.uniform() < sigmoid(0.8 * r[0]! - 0.5 * r[2]! + 0.3 * r[4]!) ? 1 : 0));
    const l2 = 1e-3;
    const est = fitLogisticRegression(rows, labels, { l2 });
    const p = rows[0]!.length;
    const grad = new Array(p + 1).fill(0) as number[];
    rows.forEach((r, i) => {
      const gi = predictLinear(est, r) - labels[i]!;
      r.forEach((v, j) => (grad[j]! += gi * v));
      grad[p]! += gi;
    });
    grad.forEach((gj, j) => {
      const penalised = gj / rows.length + (j < p ? l2 * est.coefficients[j]! : 0);
      expect(Math.abs(penalised)).toBeLessThan(1e-7);
    });
  });

  it('stays finite on separable data', () => {
    const rows = Array.from({ length: 50 }, (_, i) => Float64Array.from([i - 25]));
    const labels = rows.map((r) => (r[0]! > 0 ? 1 : 0));
    const est = fitLogisticRegression(rows, labels, { l2: 1e-3 });
    expect(Number.isFinite(est.coefficients[0])).toBe(true);
    expect(est.coefficients[0]).toBeGreaterThan(0);
  });

  it('rejects labels other than 0 and 1', () => {
    expect(() => fitLogisticRegression([Float64Array.of(1)], [2], { l2: 0 })).toThrow(RangeError);
  });
});
