// Linear models on preprocessed (scaled) feature vectors: ridge-regularised least squares in closed form, and L2
// logistic regression by Newton's method (IRLS) with a backtracking line search. The intercept is never penalised.
// Both return model-spec estimators, so the fitted model is plain data. Both work on a compressed design: a column
// with two values (a scaled one-hot indicator) is kept as the rows holding its rarer value, so a Gram matrix (one
// per fit, one per Newton step) costs O(rows · (dense columns² + indicators per row · dense columns)) instead of
// O(rows · columns²).
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

  // XcᵀXc and Xcᵀyc on the compressed centred design (one-hot columns stay two-valued when centred).
  const m = p + 1;
  const gram = new Float64Array(m * m);
  const xty = new Float64Array(m);
  const yc = Float64Array.from({ length: n }, (_, i) => y[i]! - yMean);
  if (p > 0) designGram(compress(X, xMean), new Float64Array(n).fill(1), yc, gram, xty);
  const A = new Matrix(p, p);
  for (let j = 0; j < p; j++)
    for (let k = j; k < p; k++) {
      const v = gram[j * m + k]! + (j === k ? n * params.l2 : 0);
      A.set(j, k, v);
      A.set(k, j, v);
    }
  const w = p === 0 ? [] : solveSpd(A, Matrix.columnVector(Array.from(xty.subarray(0, p))));
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
 * The columns of X for fast products: dense columns as a row-major block, and columns with at most two values
 * x = common + delta · [row holds the rarer value] as the rows that hold the rarer value (a scaled one-hot indicator,
 * a flag). Exact: every product below equals the dense one up to rounding.
 */
interface Design {
  readonly n: number;
  readonly p: number;
  /** Column indices of the dense columns, and their values (n × dense.length, row-major). */
  readonly dense: Int32Array;
  readonly denseX: Float64Array;
  /** Column indices of the two-valued columns, their common value and rarer − common. */
  readonly binary: Int32Array;
  readonly common: Float64Array;
  readonly delta: Float64Array;
  /** Row i's rarer values: positions (into `binary`) rarePtr[i] .. rarePtr[i + 1] - 1 of `rare`. */
  readonly rarePtr: Int32Array;
  readonly rare: Int32Array;
}

/** The design of X, less `center` per column when given. */
function compress(X: Rows, center?: ArrayLike<number>): Design {
  const n = X.length;
  const p = n === 0 ? 0 : X[0]!.length;
  const shift =
    center === undefined ? new Float64Array(p) : Float64Array.from({ length: p }, (_, j) => center[j]!);
  const at = (i: number, j: number): number => X[i]![j]! - shift[j]!;
  const dense: number[] = [];
  const binary: number[] = [];
  const common: number[] = [];
  const delta: number[] = [];
  const rareValue: number[] = [];
  for (let j = 0; j < p; j++) {
    const a = at(0, j);
    let b = a;
    let countA = 0;
    let two = true;
    for (let i = 0; i < n && two; i++) {
      const v = at(i, j);
      if (v === a) countA++;
      else if (b === a || v === b) b = v;
      else two = false;
    }
    if (!two) dense.push(j);
    else {
      // The value on fewer rows is the one listed per row.
      const [c, r] = countA >= n - countA ? [a, b] : [b, a];
      binary.push(j);
      common.push(c);
      delta.push(r - c);
      rareValue.push(r);
    }
  }
  const nd = dense.length;
  const denseX = new Float64Array(n * nd);
  const rarePtr = new Int32Array(n + 1);
  const rare: number[] = [];
  const nb = binary.length;
  const denseCol = Int32Array.from(dense);
  const binaryCol = Int32Array.from(binary);
  const rareOf = Float64Array.from(rareValue);
  const live = Uint8Array.from(delta, (d) => (d !== 0 ? 1 : 0));
  for (let i = 0; i < n; i++) {
    const r = X[i]!;
    const o = i * nd;
    for (let k = 0; k < nd; k++) denseX[o + k] = r[denseCol[k]!]! - shift[denseCol[k]!]!;
    for (let k = 0; k < nb; k++)
      if (live[k] === 1 && r[binaryCol[k]!]! - shift[binaryCol[k]!]! === rareOf[k]) rare.push(k);
    rarePtr[i + 1] = rare.length;
  }
  return {
    n,
    p,
    dense: Int32Array.from(dense),
    denseX,
    binary: Int32Array.from(binary),
    common: Float64Array.from(common),
    delta: Float64Array.from(delta),
    rarePtr,
    rare: Int32Array.from(rare),
  };
}

/** z = X·w + b for every row. */
function designMargins(d: Design, w: ArrayLike<number>, b: number, z: Float64Array): void {
  const nd = d.dense.length;
  let base = b;
  for (let k = 0; k < d.binary.length; k++) base += d.common[k]! * w[d.binary[k]!]!;
  const wd = Float64Array.from(d.dense, (j) => w[j]!);
  const wr = Float64Array.from(d.binary, (j, k) => d.delta[k]! * w[j]!);
  for (let i = 0; i < d.n; i++) {
    let s = base;
    const o = i * nd;
    for (let k = 0; k < nd; k++) s += d.denseX[o + k]! * wd[k]!;
    for (let q = d.rarePtr[i]!; q < d.rarePtr[i + 1]!; q++) s += wr[d.rare[q]!]!;
    z[i] = s;
  }
}

/**
 * The weighted Gram matrix of [X, 1] (m = p + 1, row-major, full): Σᵢ weight[i]·aᵢaᵢᵀ with aᵢ = [Xᵢ..., 1], and
 * the weighted column sums Σᵢ g[i]·aᵢ into `grad`.
 */
function designGram(
  d: Design,
  weight: Float64Array,
  g: Float64Array,
  out: Float64Array,
  grad: Float64Array,
): void {
  const { n, p, dense, denseX, binary, common, delta, rarePtr, rare } = d;
  const nd = dense.length;
  const nb = binary.length;
  const m = p + 1;
  // Dense block with the intercept as its last column: sums over rows of products (chunked as in addGram).
  const md = nd + 1;
  const dd = new Float64Array(md * md);
  const chunk = new Float64Array(md * CHUNK);
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    for (let t = 0; t < len; t++) {
      const i = start + t;
      const sw = Math.sqrt(weight[i]!);
      for (let k = 0; k < nd; k++) chunk[k * CHUNK + t] = sw * denseX[i * nd + k]!;
      chunk[nd * CHUNK + t] = sw;
    }
    for (let j = 0; j < md; j++) {
      const oj = j * CHUNK;
      for (let k = j; k < md; k++) {
        const ok = k * CHUNK;
        let dot = 0;
        for (let t = 0; t < len; t++) dot += chunk[oj + t]! * chunk[ok + t]!;
        dd[j * md + k]! += dot;
      }
    }
  }
  // Rarer-value rows: Σ w over them (rw), Σ w·x over them per dense column (rd), Σ w over rows holding two (rr);
  // and the gradient sums.
  const rw = new Float64Array(nb);
  const rd = new Float64Array(nb * nd);
  const rr = new Float64Array(nb * nb);
  const gd = new Float64Array(nd);
  const gr = new Float64Array(nb);
  let G = 0;
  for (let i = 0; i < n; i++) {
    const wi = weight[i]!;
    const gi = g[i]!;
    G += gi;
    const o = i * nd;
    for (let k = 0; k < nd; k++) gd[k]! += gi * denseX[o + k]!;
    const q0 = rarePtr[i]!;
    const q1 = rarePtr[i + 1]!;
    for (let q = q0; q < q1; q++) {
      const a = rare[q]!;
      rw[a]! += wi;
      gr[a]! += gi;
      const oa = a * nd;
      for (let k = 0; k < nd; k++) rd[oa + k]! += wi * denseX[o + k]!;
      for (let u = q0; u < q1; u++) rr[a * nb + rare[u]!]! += wi;
    }
  }
  const W = dd[nd * md + nd]!; // Σ w: the intercept's own entry
  // Column j of [X, 1] by its dense or two-valued index (-1: the other kind); the intercept is dense index nd.
  const denseAt = new Int32Array(m).fill(-1);
  const binaryAt = new Int32Array(m).fill(-1);
  dense.forEach((j, k) => (denseAt[j] = k));
  binary.forEach((j, k) => (binaryAt[j] = k));
  denseAt[p] = nd;
  // Σ w·x over all rows of dense column k (k = nd: Σ w), the dense block's column against the intercept.
  const sd = (k: number): number => dd[k * md + nd]!;
  for (let j = 0; j < m; j++)
    for (let l = j; l < m; l++) {
      const dj = denseAt[j]!;
      const dl = denseAt[l]!;
      const bj = binaryAt[j]!;
      const bl = binaryAt[l]!;
      let v: number;
      if (dj >= 0 && dl >= 0) v = dd[Math.min(dj, dl) * md + Math.max(dj, dl)]!;
      else if (bj >= 0 && dl >= 0)
        v = common[bj]! * sd(dl) + delta[bj]! * (dl === nd ? rw[bj]! : rd[bj * nd + dl]!);
      else if (dj >= 0 && bl >= 0)
        v = common[bl]! * sd(dj) + delta[bl]! * (dj === nd ? rw[bl]! : rd[bl * nd + dj]!);
      else
        v =
          common[bj]! * common[bl]! * W +
          common[bj]! * delta[bl]! * rw[bl]! +
          delta[bj]! * common[bl]! * rw[bj]! +
          delta[bj]! * delta[bl]! * rr[bj * nb + bl]!;
      out[j * m + l] = v;
      out[l * m + j] = v;
    }
  for (let k = 0; k < nd; k++) grad[dense[k]!] = gd[k]!;
  for (let k = 0; k < nb; k++) grad[binary[k]!] = common[k]! * G + delta[k]! * gr[k]!;
  grad[p] = G;
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
  const design = compress(X);

  let rate = 0;
  for (let i = 0; i < n; i++) rate += y[i]!;
  rate /= n;
  const theta = new Float64Array(m);
  const clipped = Math.min(1 - 1e-9, Math.max(1e-9, rate));
  theta[p] = Math.log(clipped / (1 - clipped));

  const margins = (t: Float64Array): Float64Array => {
    const z = new Float64Array(n);
    designMargins(design, t, t[p]!, z);
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
  const weight = new Float64Array(n);
  const residual = new Float64Array(n);
  for (let iter = 0; iter < maxIter; iter++) {
    for (let i = 0; i < n; i++) {
      const pi = sigmoid(z[i]!);
      residual[i] = pi - y[i]!;
      weight[i] = pi * (1 - pi);
    }
    designGram(design, weight, residual, hess, grad);
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
