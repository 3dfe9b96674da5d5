// Linear models on preprocessed (scaled) feature vectors: ridge-regularised least squares in closed form, and L2
// logistic regression by Newton's method (IRLS) with a backtracking line search. The intercept is never penalised.
// Both return model-spec estimators, so the fitted model is plain data.
import { CholeskyDecomposition, Matrix, solve } from 'ml-matrix';
import type { Estimator } from '../model-spec.ts';

export type LinearRegressor = Extract<Estimator, { kind: 'linear-regressor' }>;
export type LogisticClassifier = Extract<Estimator, { kind: 'logistic-classifier' }>;

type Rows = readonly ArrayLike<number>[];

export interface LinearParams {
  /**
   * L2 penalty per row: minimises mean squared error (regression) or mean log-loss (classification) plus
   * l2·|w|² (regression) or l2/2·|w|² (classification). A small value keeps collinear columns (all indicators of
   * a categorical plus the intercept) solvable.
   */
  readonly l2: number;
}

export const DEFAULT_LINEAR_L2 = 1e-6;

function dims(X: Rows, y: ArrayLike<number>): { n: number; p: number } {
  const n = X.length;
  if (n === 0) throw new RangeError('no training rows');
  if (y.length !== n) throw new RangeError(`X has ${n} rows, y has ${y.length}`);
  return { n, p: X[0]!.length };
}

/** Solves the symmetric positive (semi-)definite system A x = b; SVD when Cholesky fails (singular A). */
function solveSpd(A: Matrix, b: Matrix): number[] {
  const chol = new CholeskyDecomposition(A);
  const x = chol.isPositiveDefinite() ? chol.solve(b) : solve(A, b, true);
  return x.getColumn(0);
}

const CHUNK = 128;

/**
 * Adds the upper triangle of Σᵢ sᵢ²·aᵢaᵢᵀ to `out` (m × m, row-major), where aᵢ = [Xᵢ − center..., 1 if
 * `intercept`] and sᵢ = sqrtWeight[i] (1 when null). Rows go through a column-major chunk so each entry is a dot
 * product summed in a register rather than a read-modify-write per row.
 */
function addGram(
  out: Float64Array,
  X: Rows,
  center: Float64Array | null,
  sqrtWeight: Float64Array | null,
  intercept: boolean,
): void {
  const n = X.length;
  const p = X[0]!.length;
  const m = intercept ? p + 1 : p;
  const chunk = new Float64Array(m * CHUNK);
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    for (let t = 0; t < len; t++) {
      const r = X[start + t]!;
      const sw = sqrtWeight === null ? 1 : sqrtWeight[start + t]!;
      for (let j = 0; j < p; j++) chunk[j * CHUNK + t] = sw * (center === null ? r[j]! : r[j]! - center[j]!);
      if (intercept) chunk[p * CHUNK + t] = sw;
    }
    for (let j = 0; j < m; j++) {
      const oj = j * CHUNK;
      for (let k = j; k < m; k++) {
        const ok = k * CHUNK;
        let dot = 0;
        for (let t = 0; t < len; t++) dot += chunk[oj + t]! * chunk[ok + t]!;
        out[j * m + k]! += dot;
      }
    }
  }
}

/**
 * Least squares with a ridge on the coefficients: centre X and y, solve (XcᵀXc + n·l2·I) w = Xcᵀyc, then the
 * intercept is ȳ − x̄·w (the same as an unpenalised intercept column).
 */
export function fitLinearRegression(
  X: Rows,
  y: ArrayLike<number>,
  params: LinearParams = { l2: DEFAULT_LINEAR_L2 },
): LinearRegressor {
  const { n, p } = dims(X, y);
  const xMean = new Float64Array(p);
  let yMean = 0;
  for (let i = 0; i < n; i++) {
    const r = X[i]!;
    for (let j = 0; j < p; j++) xMean[j]! += r[j]!;
    yMean += y[i]!;
  }
  for (let j = 0; j < p; j++) xMean[j]! /= n;
  yMean /= n;

  const gram = new Float64Array(p * p);
  if (p > 0) addGram(gram, X, xMean, null, false);
  const xty = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    const r = X[i]!;
    const yc = y[i]! - yMean;
    for (let j = 0; j < p; j++) xty[j]! += (r[j]! - xMean[j]!) * yc;
  }
  const A = new Matrix(p, p);
  for (let j = 0; j < p; j++)
    for (let k = j; k < p; k++) {
      const v = gram[j * p + k]! + (j === k ? n * params.l2 : 0);
      A.set(j, k, v);
      A.set(k, j, v);
    }
  const w = p === 0 ? [] : solveSpd(A, Matrix.columnVector(Array.from(xty)));
  let intercept = yMean;
  for (let j = 0; j < p; j++) intercept -= xMean[j]! * w[j]!;
  return { kind: 'linear-regressor', coefficients: w, intercept };
}

export function predictLinear(est: LinearRegressor | LogisticClassifier, x: ArrayLike<number>): number {
  let z = est.intercept;
  for (let j = 0; j < est.coefficients.length; j++) z += est.coefficients[j]! * x[j]!;
  return est.kind === 'logistic-classifier' ? sigmoid(z) : z;
}

export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** ln(1 + e^z) without overflow. */
function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

export interface LogisticParams extends LinearParams {
  readonly maxIter?: number;
  /**
   * Stop after a Newton step that moves no parameter by more than this (default 1e-5): convergence is quadratic,
   * so the error left is of the order of its square.
   */
  readonly tol?: number;
}

export const DEFAULT_LOGISTIC_L2 = 1e-4;

function checkBinary(y: ArrayLike<number>): void {
  for (let i = 0; i < y.length; i++)
    if (y[i] !== 0 && y[i] !== 1) throw new RangeError(`label ${String(y[i])} at row ${i}: expected 0 or 1`);
}

/**
 * L2 logistic regression by IRLS: Newton steps on mean log-loss + l2/2·|w|², each step halved until the objective
 * falls, starting from the intercept-only model (the base rate's log-odds).
 */
export function fitLogisticRegression(
  X: Rows,
  y: ArrayLike<number>,
  params: LogisticParams = { l2: DEFAULT_LOGISTIC_L2 },
): LogisticClassifier {
  const { n, p } = dims(X, y);
  checkBinary(y);
  const maxIter = params.maxIter ?? 100;
  const tol = params.tol ?? 1e-5;
  const l2 = params.l2;
  const m = p + 1; // parameter vector: [w..., b]

  let rate = 0;
  for (let i = 0; i < n; i++) rate += y[i]!;
  rate /= n;
  const theta = new Float64Array(m);
  const clipped = Math.min(1 - 1e-9, Math.max(1e-9, rate));
  theta[p] = Math.log(clipped / (1 - clipped));

  const margins = (t: Float64Array): Float64Array => {
    const z = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = X[i]!;
      let s = t[p]!;
      for (let j = 0; j < p; j++) s += t[j]! * r[j]!;
      z[i] = s;
    }
    return z;
  };
  const objective = (t: Float64Array, z: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s += softplus(z[i]!) - y[i]! * z[i]!;
    let pen = 0;
    for (let j = 0; j < p; j++) pen += t[j]! * t[j]!;
    return s / n + (l2 / 2) * pen;
  };

  let z = margins(theta);
  let f = objective(theta, z);
  const grad = new Float64Array(m);
  const hess = new Float64Array(m * m);
  const sqrtH = new Float64Array(n);
  for (let iter = 0; iter < maxIter; iter++) {
    grad.fill(0);
    hess.fill(0);
    for (let i = 0; i < n; i++) {
      const r = X[i]!;
      const pi = sigmoid(z[i]!);
      const g = pi - y[i]!;
      for (let j = 0; j < p; j++) grad[j]! += g * r[j]!;
      grad[p]! += g;
      sqrtH[i] = Math.sqrt(pi * (1 - pi));
    }
    addGram(hess, X, null, sqrtH, true);
    const H = new Matrix(m, m);
    const G = new Matrix(m, 1);
    for (let j = 0; j < m; j++) {
      G.set(j, 0, grad[j]! / n + (j < p ? l2 * theta[j]! : 0));
      for (let k = j; k < m; k++) {
        // A tiny jitter keeps H positive definite when a column is constant or the data are separable.
        const v = hess[j * m + k]! / n + (j === k ? (j < p ? l2 : 0) + 1e-12 : 0);
        H.set(j, k, v);
        H.set(k, j, v);
      }
    }
    const step = solveSpd(H, G);
    let t = 1;
    let next = theta;
    let zNext = z;
    let fNext = Infinity;
    for (let halvings = 0; halvings < 40; halvings++, t /= 2) {
      next = theta.map((v, j) => v - t * step[j]!);
      zNext = margins(next);
      fNext = objective(next, zNext);
      if (fNext <= f) break;
    }
    if (!(fNext <= f)) break; // no descent: at the optimum up to rounding
    const moved = step.reduce((mx, s) => Math.max(mx, Math.abs(t * s)), 0);
    theta.set(next);
    z = zNext;
    f = fNext;
    if (moved < tol) break;
  }
  return {
    kind: 'logistic-classifier',
    coefficients: Array.from(theta.subarray(0, p)),
    intercept: theta[p]!,
  };
}
