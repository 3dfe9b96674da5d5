// Tree learners that output model-spec Tree nodes: a CART regression tree (variance reduction, thresholds at
// midpoints between adjacent distinct training values), random forests (bootstrap + per-split feature subsampling)
// and gradient-boosted trees for squared loss and binary log-loss, with early stopping on a validation set.
//
// Split search is by histogram: each column is binned once per data set, one bin per distinct value while there
// are at most `maxBins` (default 255) of them, so the search is exact CART for indicators, flags, hours, weekdays,
// grades and any column of a small data set. A column with more distinct values gets `maxBins` quantile bins, and
// its candidate thresholds are the midpoints between the adjacent distinct values at the bin edges (the histogram
// method of LightGBM and scikit-learn's HistGradientBoosting). A node then costs O(rows · features tried), and the
// partition moves one index list, not one per feature. Where it pays, a node's larger child gets its histograms as
// the parent's minus the smaller child's (also with feature subsampling: the parent then sums every feature), and
// rows with weight 0 (out of a bootstrap or subsample) never enter the partition.
import { unsafeUniformIntDistribution, xoroshiro128plus, type RandomGenerator } from 'pure-rand';
import { logLoss, mae } from '../metrics.ts';
import type { Estimator, Tree, TreeNode } from '../model-spec.ts';
import { sigmoid } from './linear.ts';

export type TreeRegressor = Extract<Estimator, { kind: 'tree-regressor' }>;
export type TreeClassifier = Extract<Estimator, { kind: 'tree-classifier' }>;
export type Task = 'regression' | 'classification';

/** Training features binned column by column (shared by every tree fitted on the same rows). */
export interface TreeData {
  readonly n: number;
  readonly p: number;
  /** Values per column (rounded to float32): partitions and the tree's thresholds compare these. */
  readonly cols: readonly Float64Array[];
  /** Start of column f's bins in a histogram holding all columns side by side (length p + 1). */
  readonly histOffset: Int32Array;
  /** Each column's most frequent bin (0 for an indicator): rows in it are not listed below. */
  readonly dominant: Int32Array;
  /**
   * Sparse row-major bins: row i's entries are rowPtr[i] .. rowPtr[i + 1] - 1, each the histogram slot
   * histOffset[column] + bin of one column, leaving out the column's dominant bin. A one-hot block costs one
   * entry per row instead of one per category.
   */
  readonly rowPtr: Int32Array;
  readonly entrySlot: Int32Array;
  /** Smallest and largest training value in each bin, per column. */
  readonly binMin: readonly Float64Array[];
  readonly binMax: readonly Float64Array[];
}

/** 255 bins keep a bin index in a byte; a column with at most this many distinct values is split exactly. */
export const DEFAULT_MAX_BINS = 255;
const MAX_BINS_LIMIT = 65536;

/**
 * Column-major copy of preprocessed rows, binned: one bin per distinct value while a column has at most
 * `maxBins` of them (exact split search), otherwise about equally filled quantile bins. NaN is not allowed.
 * Values are rounded to float32 first, as the ONNX graph and src/ml/predict.ts see them, so a threshold between
 * two training values separates the same rows at serving as in training.
 */
export function prepareTreeData(
  X: readonly ArrayLike<number>[],
  maxBins: number = DEFAULT_MAX_BINS,
): TreeData {
  if (!(maxBins >= 2 && maxBins <= MAX_BINS_LIMIT))
    throw new RangeError(`maxBins must be in [2, ${MAX_BINS_LIMIT}], got ${maxBins}`);
  const n = X.length;
  const p = n === 0 ? 0 : X[0]!.length;
  const cols: Float64Array[] = [];
  const rowBins: (Uint8Array | Uint16Array)[] = [];
  const binMin: Float64Array[] = [];
  const binMax: Float64Array[] = [];
  for (let f = 0; f < p; f++) cols.push(new Float64Array(n));
  for (let i = 0; i < n; i++) {
    const row = X[i]!;
    for (let f = 0; f < p; f++) {
      const v = row[f]!;
      if (Number.isNaN(v)) throw new RangeError(`NaN at row ${i}, feature ${f}: impute before fitting trees`);
      cols[f]![i] = Math.fround(v);
    }
  }
  const sorted = new Float64Array(n);
  for (let f = 0; f < p; f++) {
    const col = cols[f]!;
    // Distinct values and their counts: counted directly while there are few (indicators, flags, grades), else
    // from a sorted copy.
    let values: number[] = [];
    let counts: number[] = [];
    // An indicator (only 0 and 1), the commonest column of a one-hot frame, without a map.
    let ones = 0;
    let i01 = 0;
    for (; i01 < n; i01++) {
      const v = col[i01]!;
      if (v === 1) ones++;
      else if (v !== 0) break;
    }
    const few = new Map<number, number>();
    if (i01 < n)
      for (let i = 0; i < n && few.size <= maxBins; i++) {
        const v = col[i]! === 0 ? 0 : col[i]!; // -0 and 0 are one value
        few.set(v, (few.get(v) ?? 0) + 1);
      }
    if (i01 === n) {
      for (const [v, c] of [
        [0, n - ones],
        [1, ones],
      ] as const)
        if (c > 0) {
          values.push(v);
          counts.push(c);
        }
    } else if (few.size <= maxBins) {
      values = [...few.keys()].sort((a, b) => a - b);
      counts = values.map((v) => few.get(v)!);
    } else {
      sorted.set(col);
      sorted.sort();
      for (let i = 0; i < n; i++) {
        if (i > 0 && sorted[i] === sorted[i - 1]) counts[counts.length - 1]!++;
        else {
          values.push(sorted[i]!);
          counts.push(1);
        }
      }
    }
    // Upper index (into `values`) of each bin.
    const upper: number[] = [];
    if (values.length <= maxBins) for (let d = 0; d < values.length; d++) upper.push(d);
    else {
      let cum = 0;
      for (let d = 0; d < values.length; d++) {
        cum += counts[d]!;
        if (cum >= ((upper.length + 1) * n) / maxBins || d === values.length - 1) upper.push(d);
      }
    }
    const lo = new Float64Array(upper.length);
    const hi = new Float64Array(upper.length);
    upper.forEach((u, b) => {
      lo[b] = values[b === 0 ? 0 : upper[b - 1]! + 1]!;
      hi[b] = values[u]!;
    });
    const bf = upper.length <= 256 ? new Uint8Array(n) : new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      // First bin whose largest value is >= the row's value.
      let a = 0;
      let z = hi.length - 1;
      const v = col[i]!;
      while (a < z) {
        const m = (a + z) >>> 1;
        if (hi[m]! < v) a = m + 1;
        else z = m;
      }
      bf[i] = a;
    }
    rowBins.push(bf);
    binMin.push(lo);
    binMax.push(hi);
  }
  const histOffset = new Int32Array(p + 1);
  for (let f = 0; f < p; f++) histOffset[f + 1] = histOffset[f]! + binMax[f]!.length;
  const dominant = new Int32Array(p);
  let entries = 0;
  for (let f = 0; f < p; f++) {
    const count = new Int32Array(binMax[f]!.length);
    for (const b of rowBins[f]!) count[b]!++;
    let d = 0;
    for (let b = 1; b < count.length; b++) if (count[b]! > count[d]!) d = b;
    dominant[f] = d;
    entries += n - count[d]!;
  }
  const rowPtr = new Int32Array(n + 1);
  const entrySlot = new Int32Array(entries);
  let q = 0;
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < p; f++) {
      const b = rowBins[f]![i]!;
      if (b === dominant[f]) continue;
      entrySlot[q] = histOffset[f]! + b;
      q++;
    }
    rowPtr[i + 1] = q;
  }
  return { n, p, cols, binMin, binMax, histOffset, dominant, rowPtr, entrySlot };
}

export interface TreeParams {
  /** Levels of splits below the root (0: a single leaf). */
  readonly maxDepth: number;
  /** Least (weighted) number of training rows in a leaf. */
  readonly minSamplesLeaf: number;
  /** Features tried per split: a count (≥ 1), a fraction (< 1) of all, or √(features); all when absent. */
  readonly maxFeatures?: number | 'sqrt' | undefined;
}

export interface TreeFitOptions {
  /** Row weights (bootstrap counts; 0 = out of the sample). All 1 when absent. */
  readonly weights?: ArrayLike<number>;
  /**
   * Per-row second derivatives for Newton leaf values Σw·y / Σw·h (y then holds the negative gradients);
   * leaves are weighted means of y when absent.
   */
  readonly hessian?: ArrayLike<number>;
  /** Generator for feature subsampling (required when maxFeatures selects fewer than all features). */
  readonly rng?: RandomGenerator;
  /** Whether `fitted` covers rows of weight 0 too (a walk down the tree each; default true). */
  readonly fitOutOfSample?: boolean;
}

export interface FittedTree {
  readonly tree: Tree;
  /**
   * The learner's own prediction for every row of the data (the value of the leaf its partition ends in); 0 for
   * rows of weight 0 when fitOutOfSample is false.
   */
  readonly fitted: Float64Array;
}

function featuresPerSplit(p: number, maxFeatures: TreeParams['maxFeatures']): number {
  if (maxFeatures === undefined) return p;
  const k =
    maxFeatures === 'sqrt'
      ? Math.round(Math.sqrt(p))
      : maxFeatures < 1
        ? Math.round(maxFeatures * p)
        : Math.floor(maxFeatures);
  return Math.max(1, Math.min(p, k));
}

/** Scratch arrays of the learner, kept per data set: the trees of one ensemble reuse them instead of reallocating. */
interface Workspace {
  readonly w: Float64Array;
  readonly wy: Float64Array;
  readonly wh: Float64Array;
  readonly rows: Int32Array;
  readonly tmp: Int32Array;
  readonly features: Int32Array;
  /** Histogram buffers per depth and side: weight and weighted sum of slot h interleaved at 2h and 2h + 1. */
  readonly buffers: Float64Array[][];
}

const workspaces = new WeakMap<TreeData, Workspace>();

function workspace(data: TreeData): Workspace {
  let ws = workspaces.get(data);
  if (ws === undefined) {
    ws = {
      w: new Float64Array(data.n),
      wy: new Float64Array(data.n),
      wh: new Float64Array(data.n),
      rows: new Int32Array(data.n),
      tmp: new Int32Array(data.n),
      features: new Int32Array(data.p),
      buffers: [],
    };
    workspaces.set(data, ws);
  }
  return ws;
}

/**
 * Fits one CART regression tree on `y` (squared loss, variance reduction). Go left when x[feature] <= threshold.
 * A node's larger child gets its histograms as parent minus smaller child when a pass over its rows would cost more
 * than the subtraction.
 */
export function fitRegressionTree(
  data: TreeData,
  y: ArrayLike<number>,
  params: TreeParams,
  opts: TreeFitOptions = {},
): FittedTree {
  const { n, p, cols, binMin, binMax, histOffset, dominant, rowPtr, entrySlot } = data;
  if (y.length !== n) throw new RangeError(`data has ${n} rows, y has ${y.length}`);
  const k = featuresPerSplit(p, params.maxFeatures);
  const rng = opts.rng;
  if (k < p && rng === undefined) throw new RangeError('feature subsampling needs a seeded generator');
  const msl = Math.max(params.minSamplesLeaf, Number.MIN_VALUE);
  const slots = histOffset[p]!;
  const { w, wy, wh, rows, tmp, features, buffers } = workspace(data);
  for (let f = 0; f < p; f++) features[f] = f;

  // Per-row weight, weighted target and weighted hessian, as flat arrays for the hot loops; only rows with a
  // weight enter the partition.
  let m = 0;
  for (let i = 0; i < n; i++) {
    const wi = opts.weights === undefined ? 1 : opts.weights[i]!;
    w[i] = wi;
    wy[i] = wi * y[i]!;
    wh[i] = opts.hessian === undefined ? wi : wi * opts.hessian[i]!;
    if (wi > 0) rows[m++] = i;
  }
  const fitted = new Float64Array(n);
  const nodes: TreeNode[] = [];
  const buffer = (depth: number, side: 0 | 1): Float64Array =>
    (buffers[depth] ??= [new Float64Array(2 * slots), new Float64Array(2 * slots)])[side]!;
  // A pass over r rows costs about r · (entries per row + 2); subtracting histograms about 4 · slots (two passes
  // over them, and summing every feature rather than the tried ones).
  const rowCost = (n === 0 ? 0 : rowPtr[n]! / n) + 2;
  const subtractionPays = (largerRows: number): boolean => largerRows * rowCost > 4 * slots;

  /**
   * Histograms over rows[s..e) of features[0..kk), or of every feature when `complete`; each column's dominant bin
   * is the total less its others.
   */
  const fill = (hist: Float64Array, s: number, e: number, kk: number, complete: boolean): void => {
    let W = 0;
    let S = 0;
    if (complete) hist.fill(0, 0, 2 * slots);
    else
      for (let j = 0; j < kk; j++) {
        const f = features[j]!;
        hist.fill(0, 2 * histOffset[f]!, 2 * histOffset[f + 1]!);
      }
    for (let i = s; i < e; i++) {
      const r = rows[i]!;
      const wr = w[r]!;
      const yr = wy[r]!;
      W += wr;
      S += yr;
      // Every entry is added, tried column or not: untried columns' slots are never read (and are cleared before
      // their next use), and skipping them would cost a mispredicted branch per entry.
      const end = rowPtr[r + 1]!;
      for (let q = rowPtr[r]!; q < end; q++) {
        const h = 2 * entrySlot[q]!;
        hist[h]! += wr;
        hist[h + 1]! += yr;
      }
    }
    const nf = complete ? p : kk;
    for (let j = 0; j < nf; j++) {
      const f = complete ? j : features[j]!;
      let ow = 0;
      let os = 0;
      for (let h = 2 * histOffset[f]!; h < 2 * histOffset[f + 1]!; h += 2) {
        ow += hist[h]!;
        os += hist[h + 1]!;
      }
      const d = 2 * (histOffset[f]! + dominant[f]!);
      hist[d] = W - ow;
      hist[d + 1] = S - os;
    }
  };

  /**
   * Builds the subtree over rows[s..e), whose sums of w, w·y, w·y² and w·h are `sums`; `complete` when `hist`
   * already holds its histograms of every feature.
   */
  const build = (
    s: number,
    e: number,
    depth: number,
    hist: Float64Array,
    complete: boolean,
    sums: readonly [number, number, number, number],
  ): number => {
    const id = nodes.length;
    const [W, S, Q, H] = sums;
    const value = H > 0 ? S / H : 0;
    const leaf = (): number => {
      nodes.push({ feature: -1, threshold: 0, left: -1, right: -1, value });
      for (let i = s; i < e; i++) fitted[rows[i]!] = value;
      return id;
    };
    const noise = 1e-12 * Math.abs(Q);
    if (depth >= params.maxDepth || W < 2 * msl || !(Q - (S * S) / W > noise)) return leaf();

    // Partial Fisher-Yates: the first k entries of `features` are this split's candidates.
    if (k < p)
      for (let j = 0; j < k; j++) {
        const t = unsafeUniformIntDistribution(j, p - 1, rng!);
        const f = features[j]!;
        features[j] = features[t]!;
        features[t] = f;
      }
    if (!complete) {
      // Every feature when the children may be worth subtracting, else the tried ones only.
      complete = depth + 1 < params.maxDepth && subtractionPays((e - s) / 2);
      fill(hist, s, e, k, complete);
    }
    // A bin holding less than this is empty (weights are counts; subtraction may leave rounding dust).
    const empty = 1e-9 * W;
    const parentScore = (S * S) / W;
    let bestGain = noise;
    let bestFeature = -1;
    let bestThreshold = 0;
    for (let j = 0; j < k; j++) {
      const f = features[j]!;
      const o = histOffset[f]!;
      const B = histOffset[f + 1]! - o;
      // Boundaries between non-empty bins: rows of bins up to `last` go left.
      let wl = 0;
      let sl = 0;
      let last = -1;
      for (let b = 0; b < B; b++) {
        const bw = hist[2 * (o + b)]!;
        if (bw <= empty) continue;
        if (last >= 0 && wl >= msl && W - wl >= msl) {
          const sr = S - sl;
          const gain = (sl * sl) / wl + (sr * sr) / (W - wl) - parentScore;
          if (gain > bestGain) {
            bestGain = gain;
            bestFeature = f;
            const lo = binMax[f]![last]!;
            const hi = binMin[f]![b]!;
            const mid = (lo + hi) / 2;
            bestThreshold = mid < hi ? mid : lo; // adjacent doubles: the midpoint may round up to hi
          }
        }
        wl += bw;
        sl += hist[2 * (o + b) + 1]!;
        last = b;
      }
    }
    if (bestFeature < 0) return leaf();

    // Stable partition on the raw values, exactly as a traversal of the finished tree decides; the left child's
    // sums on the way (the right's are the rest).
    const col = cols[bestFeature]!;
    let a = s;
    let c = 0;
    let lw = 0;
    let ls = 0;
    let lq = 0;
    let lh = 0;
    for (let i = s; i < e; i++) {
      const r = rows[i]!;
      if (col[r]! <= bestThreshold) {
        rows[a++] = r;
        lw += w[r]!;
        ls += wy[r]!;
        lq += wy[r]! * y[r]!;
        lh += wh[r]!;
      } else tmp[c++] = r;
    }
    rows.set(tmp.subarray(0, c), a);

    const left = buffer(depth + 1, 0);
    const right = buffer(depth + 1, 1);
    // Histogram the smaller child only (every feature); the larger is the parent minus it.
    const leftSmaller = a - s <= e - a;
    const subtract = complete && depth + 1 < params.maxDepth && subtractionPays(leftSmaller ? e - a : a - s);
    if (subtract) {
      const [small, large] = leftSmaller ? [left, right] : [right, left];
      if (leftSmaller) fill(small, s, a, p, true);
      else fill(small, a, e, p, true);
      for (let h = 0; h < 2 * slots; h++) large[h] = hist[h]! - small[h]!;
    }
    const node = { feature: bestFeature, threshold: bestThreshold, left: -1, right: -1, value: 0 };
    nodes.push(node);
    node.left = build(s, a, depth + 1, left, subtract, [lw, ls, lq, lh]);
    node.right = build(a, e, depth + 1, right, subtract, [W - lw, S - ls, Q - lq, H - lh]);
    return id;
  };

  let W = 0;
  let S = 0;
  let Q = 0;
  let H = 0;
  for (let i = 0; i < m; i++) {
    const r = rows[i]!;
    W += w[r]!;
    S += wy[r]!;
    Q += wy[r]! * y[r]!;
    H += wh[r]!;
  }
  build(0, m, 0, buffer(0, 0), false, [W, S, Q, H]);
  const tree = { nodes };
  // Rows out of the sample: the leaf a traversal reaches, as for any other row.
  if (m < n && opts.fitOutOfSample !== false)
    for (let i = 0; i < n; i++) {
      if (w[i]! > 0) continue;
      let node = nodes[0]!;
      while (node.feature >= 0)
        node = nodes[cols[node.feature]![i]! <= node.threshold ? node.left : node.right]!;
      fitted[i] = node.value;
    }
  return { tree, fitted };
}

/**
 * The leaf value `x` reaches in `tree`. Features are compared as float32, the precision of the ONNX graph and the
 * served feature vector (src/ml/predict.ts): a float64 row then takes the branch serving takes even when its value
 * and the value's float32 rounding fall on different sides of a threshold.
 */
export function predictTree(tree: Tree, x: ArrayLike<number>): number {
  let node = tree.nodes[0]!;
  while (node.feature >= 0)
    node = tree.nodes[Math.fround(x[node.feature]!) <= node.threshold ? node.left : node.right]!;
  return node.value;
}

/** A tree-regressor's value, or a tree-classifier's p(class 1). */
export function predictTrees(est: TreeRegressor | TreeClassifier, x: ArrayLike<number>): number {
  let s = 0;
  for (const t of est.trees) s += predictTree(t, x);
  const z = est.base + est.weight * s;
  return est.kind === 'tree-classifier' && est.link === 'logistic' ? sigmoid(z) : z;
}

/** A 32-bit seed for stream `k` of `seed` (murmur3's fmix32 over a golden-ratio mix), e.g. one per tree. */
export function mixSeed(seed: number, k: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

function checkBinary(y: ArrayLike<number>): void {
  for (let i = 0; i < y.length; i++)
    if (y[i] !== 0 && y[i] !== 1) throw new RangeError(`label ${String(y[i])} at row ${i}: expected 0 or 1`);
}

export interface ForestParams extends TreeParams {
  readonly nTrees: number;
  /** Sample rows with replacement per tree (default true). */
  readonly bootstrap?: boolean;
  /** Bootstrap sample size as a fraction of the rows (default 1): smaller samples give cheaper, more varied trees. */
  readonly maxSamples?: number;
  readonly seed: number;
}

/**
 * Random forest: each tree on a bootstrap sample with `maxFeatures` candidates per split. Regression averages
 * the trees (tree-regressor, weight 1/n); classification averages the leaves' class-1 frequencies
 * (tree-classifier, identity link), the trees grown on the 0/1 labels by variance reduction, which for binary
 * labels is half the Gini gain and so picks the same splits. The binned data is shared by all trees.
 */
export function fitRandomForest(
  data: TreeData,
  y: ArrayLike<number>,
  params: ForestParams,
  task: Task,
): TreeRegressor | TreeClassifier {
  if (task === 'classification') checkBinary(y);
  const { n } = data;
  const trees: Tree[] = [];
  const weights = new Float64Array(n);
  const draws = Math.max(1, Math.round((params.maxSamples ?? 1) * n));
  for (let t = 0; t < params.nTrees; t++) {
    const rng = xoroshiro128plus(mixSeed(params.seed, t));
    if (params.bootstrap === false) weights.fill(1);
    else {
      weights.fill(0);
      for (let i = 0; i < draws; i++) weights[unsafeUniformIntDistribution(0, n - 1, rng)]! += 1;
    }
    trees.push(fitRegressionTree(data, y, params, { weights, rng, fitOutOfSample: false }).tree);
  }
  const weight = 1 / Math.max(1, params.nTrees);
  return task === 'regression'
    ? { kind: 'tree-regressor', trees, base: 0, weight }
    : { kind: 'tree-classifier', trees, base: 0, weight, link: 'identity' };
}

export interface BoostParams extends TreeParams {
  /** Boosting rounds; the most there can be when early stopping. */
  readonly nTrees: number;
  readonly learningRate: number;
  /** Stochastic boosting: each row joins a tree's sample with this probability; 1 (every row) when absent. */
  readonly subsample?: number;
  /**
   * With a validation set: stop once its loss (MAE for regression, log-loss for classification, the metrics model
   * selection uses) has not improved for this many rounds, and keep the trees up to the best round.
   */
  readonly earlyStoppingRounds?: number;
  readonly seed: number;
}

/** Rows to score every round: preprocessed feature vectors (float32, as served) and their targets. */
export interface BoostValidation {
  readonly X: readonly ArrayLike<number>[];
  readonly y: ArrayLike<number>;
}

export interface BoostResult {
  readonly estimator: TreeRegressor | TreeClassifier;
  /** With a validation set: its predictions by the returned estimator (exactly predictTrees' values). */
  readonly validationPred?: Float64Array;
  /** With a validation set: its loss after each round (1-based round r at index r - 1). */
  readonly validationLoss?: Float64Array;
}

/**
 * Gradient boosting. Regression: squared loss from base = mean(y), each tree fitted to the residuals, weight =
 * learning rate. Classification: log-loss on the log-odds from base = log-odds of the base rate; each tree's
 * structure is fitted to the residuals y − p and its leaves take the Newton step Σ(y − p) / Σp(1 − p).
 */
export function fitGradientBoosting(
  data: TreeData,
  y: ArrayLike<number>,
  params: BoostParams,
  task: Task,
): TreeRegressor | TreeClassifier {
  return boost(data, y, params, task).estimator;
}

/**
 * fitGradientBoosting that also scores a validation set after every round; with `earlyStoppingRounds` it stops
 * once that loss has not improved for so many rounds and keeps the best round's trees (at least one).
 */
export function boost(
  data: TreeData,
  y: ArrayLike<number>,
  params: BoostParams,
  task: Task,
  validation?: BoostValidation,
  /** Fit on the first `rows` rows only (the rest weigh 0): the data's time order leaves the latest out. */
  rows: number = data.n,
): BoostResult {
  if (task === 'classification') checkBinary(y);
  const { n } = data;
  if (!(Number.isInteger(rows) && rows >= 1 && rows <= n))
    throw new RangeError(`rows must be an integer in [1, ${n}], got ${rows}`);
  let mean = 0;
  for (let i = 0; i < rows; i++) mean += y[i]!;
  mean /= rows;
  const rate = Math.min(1 - 1e-9, Math.max(1e-9, mean)); // a one-class sample still gets a finite base
  const base = task === 'regression' ? mean : Math.log(rate / (1 - rate));
  const F = new Float64Array(n).fill(base);
  const resid = new Float64Array(n);
  const hess = new Float64Array(n);
  const weights = new Float64Array(n);
  const subsample = params.subsample ?? 1;
  const trees: Tree[] = [];
  const link = (z: number): number => (task === 'classification' ? sigmoid(z) : z);

  // Validation: the running sum of tree values per row (predictTrees' order of summation), its predictions, and
  // the best round so far.
  const nv = validation?.X.length ?? 0;
  const sumVal = new Float64Array(nv);
  const predVal = new Float64Array(nv);
  const losses: number[] = [];
  let bestLoss = Infinity;
  let bestRounds = 0;
  let bestPred: Float64Array | undefined;
  const patience = params.earlyStoppingRounds;
  if (patience !== undefined && !(Number.isInteger(patience) && patience >= 1))
    throw new RangeError(`earlyStoppingRounds must be a positive integer, got ${patience}`);

  for (let t = 0; t < params.nTrees; t++) {
    const rng = xoroshiro128plus(mixSeed(params.seed, t));
    for (let i = 0; i < n; i++) {
      if (task === 'regression') resid[i] = y[i]! - F[i]!;
      else {
        const pi = sigmoid(F[i]!);
        resid[i] = y[i]! - pi;
        hess[i] = pi * (1 - pi);
      }
    }
    if (subsample >= 1) weights.fill(1, 0, rows);
    else
      for (let i = 0; i < rows; i++) weights[i] = (rng.unsafeNext() >>> 0) / 4294967296 < subsample ? 1 : 0;
    const { tree, fitted } = fitRegressionTree(data, resid, params, {
      weights,
      rng,
      ...(task === 'classification' ? { hessian: hess } : {}),
    });
    trees.push(tree);
    for (let i = 0; i < n; i++) F[i]! += params.learningRate * fitted[i]!;

    if (validation !== undefined && nv > 0) {
      for (let i = 0; i < nv; i++) {
        sumVal[i]! += predictTree(tree, validation.X[i]!);
        predVal[i] = link(base + params.learningRate * sumVal[i]!);
      }
      const loss = task === 'regression' ? mae(validation.y, predVal) : logLoss(validation.y, predVal);
      losses.push(loss);
      if (loss < bestLoss || bestRounds === 0) {
        bestLoss = loss;
        bestRounds = trees.length;
        bestPred = predVal.slice();
      } else if (patience !== undefined && trees.length - bestRounds >= patience) break;
    }
  }
  const kept = patience !== undefined && bestRounds > 0 ? trees.slice(0, bestRounds) : trees;
  const estimator: TreeRegressor | TreeClassifier =
    task === 'regression'
      ? { kind: 'tree-regressor', trees: kept, base, weight: params.learningRate }
      : { kind: 'tree-classifier', trees: kept, base, weight: params.learningRate, link: 'logistic' };
  if (validation === undefined) return { estimator };
  return {
    estimator,
    validationPred: patience !== undefined && bestPred !== undefined ? bestPred : predVal.slice(),
    validationLoss: Float64Array.from(losses),
  };
}
