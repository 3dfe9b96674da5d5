// Model selection over time: expanding-window folds on the time-sorted rows (never shuffled), a small grid per
// algorithm, preprocessing refitted on every fold's training rows, and selection by the LATEST fold's metric (MAE
// for regression, log-loss for classification). The latest fold's validation block is the holdout: each
// algorithm's final ModelSpec is the one fitted on all rows before it, so its holdout score is the one reported.
// Since only the latest fold selects, it runs every candidate and the earlier folds only the chosen ones. Boosting
// finds its number of rounds by early stopping on the latest rows of the fold's own training set (never on the fold's
// validation block, so CV scores and the validation predictions stay out of sample); the earlier folds and the refit
// on every row take the rounds the latest fold found. Trees are scored on validation rows preprocessed in float32 exactly as served (toMatrix32): a threshold
// between a value and its float32 rounding sends the row where serving does, so each score is the served model's.
import type { ColumnTable } from 'arquero';
import { TagstreamError } from '../errors.ts';
import { baseRate, baseRateLogLoss, logLoss, mae, rmse, rocAuc } from './metrics.ts';
import type { Estimator, ModelSpec, Preprocessing } from './model-spec.ts';
import {
  DEFAULT_LINEAR_L2,
  fitLinearRegression,
  fitLogisticRegression,
  predictLinear,
  type LinearParams,
} from './models/linear.ts';
import {
  boost,
  fitGradientBoosting,
  fitRandomForest,
  mixSeed,
  predictTrees,
  prepareTreeData,
  type BoostParams,
  type ForestParams,
  type Task,
  type TreeData,
} from './models/trees.ts';
import { deriveFeatures, fitPreprocessing, numericValue, toMatrix, toMatrix32 } from './preprocess.ts';

export type { Task } from './models/trees.ts';
export type Algorithm = 'linear' | 'logistic' | 'random_forest' | 'gradient_boosting';

export type LinearGridPoint = LinearParams;
export type ForestGridPoint = Omit<ForestParams, 'seed'>;
export type BoostGridPoint = Omit<BoostParams, 'seed'>;
export type GridPoint = LinearGridPoint | ForestGridPoint | BoostGridPoint;

/**
 * Hyperparameters to try per algorithm; an empty list skips the algorithm, an absent one uses the default. The
 * task picks the linear family: `linear` for regression, `logistic` for classification (the other is ignored).
 */
export interface Grid {
  readonly linear?: readonly LinearGridPoint[];
  readonly logistic?: readonly LinearGridPoint[];
  readonly random_forest?: readonly ForestGridPoint[];
  readonly gradient_boosting?: readonly BoostGridPoint[];
}

const BOOST_DEPTH_3: BoostGridPoint = {
  nTrees: 500,
  learningRate: 0.1,
  maxDepth: 3,
  minSamplesLeaf: 20,
  subsample: 0.5,
  earlyStoppingRounds: 20,
};
const BOOST_DEPTH_6: BoostGridPoint = {
  nTrees: 500,
  learningRate: 0.2,
  maxDepth: 6,
  minSamplesLeaf: 50,
  subsample: 0.5,
  earlyStoppingRounds: 20,
};

/**
 * 6 candidates per task, chosen on the simulated year (3 stores, seed 42; docs/benchmarks.md, training): the linear
 * family over three penalties; one random forest of 30 depth-10 trees on 30% bootstrap samples (as accurate there
 * as 50-100 deeper trees on larger samples, at a fraction of the time); boosting on half-samples with early stopping
 * (up to 500 rounds, 20 of patience) at depth 3, rate 0.1 (best for maintenance and quality) and at depth 6, rate 0.2
 * (best for demand and demand_7d; rate 0.1 scored within 1% at twice the rounds; full samples no better).
 */
export const DEFAULT_GRIDS: Readonly<Record<Task, Required<Grid>>> = {
  regression: {
    linear: [{ l2: DEFAULT_LINEAR_L2 }, { l2: 1e-3 }, { l2: 1e-1 }],
    logistic: [],
    random_forest: [{ nTrees: 30, maxDepth: 10, minSamplesLeaf: 10, maxFeatures: 1 / 3, maxSamples: 0.3 }],
    gradient_boosting: [BOOST_DEPTH_3, BOOST_DEPTH_6],
  },
  classification: {
    linear: [],
    logistic: [{ l2: 1e-5 }, { l2: 1e-3 }, { l2: 1e-1 }],
    random_forest: [{ nTrees: 30, maxDepth: 10, minSamplesLeaf: 10, maxFeatures: 'sqrt', maxSamples: 0.3 }],
    gradient_boosting: [BOOST_DEPTH_3, BOOST_DEPTH_6],
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Folds

export interface Fold {
  /** 1-based; the last fold is the latest. */
  readonly index: number;
  /** Positions [start, end) in the time order: training is always a prefix. */
  readonly train: { readonly start: 0; readonly end: number };
  readonly validation: { readonly start: number; readonly end: number };
}

export interface TimeFolds {
  /** Row indices sorted by time (stable: equal times keep their input order). */
  readonly order: Int32Array;
  readonly folds: readonly Fold[];
}

export interface FoldOptions {
  /** Number of validation blocks (default 3); the rows split into folds + 1 blocks of about equal size. */
  readonly folds?: number;
  /** Distinct time steps left out between each training set and its validation block (default 0). */
  readonly gap?: number;
}

export const DEFAULT_FOLDS = 3;

/**
 * Expanding-window folds: sort by time, cut the rows into folds + 1 blocks of about equal size at changes of
 * time (one time value never straddles training and validation), and let fold i validate on block i while
 * training on everything before it, less `gap` time steps. No row ever moves against time.
 */
export function timeSeriesFolds(times: ArrayLike<number>, opts: FoldOptions = {}): TimeFolds {
  const k = opts.folds ?? DEFAULT_FOLDS;
  const gap = opts.gap ?? 0;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`folds must be a positive integer, got ${k}`);
  if (!Number.isInteger(gap) || gap < 0)
    throw new RangeError(`gap must be a non-negative integer, got ${gap}`);
  const n = times.length;
  for (let i = 0; i < n; i++)
    if (!Number.isFinite(times[i])) throw new RangeError(`time at row ${i} is not a finite number`);
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => times[a]! - times[b]! || a - b);

  // Start position of each distinct time value in the sorted order.
  const groupStart: number[] = [];
  for (let i = 0; i < n; i++) if (i === 0 || times[order[i]!]! !== times[order[i - 1]!]!) groupStart.push(i);
  const groups = groupStart.length;
  if (groups < k + 1 + gap)
    throw new RangeError(`${groups} distinct times cannot make ${k} folds with a gap of ${gap}`);

  // Block b starts at the first time group at or after row n·b/(k+1); at least one group per block, and the
  // first block keeps `gap` + 1 groups so the earliest fold still has training rows.
  const blockGroup: number[] = [0];
  for (let b = 1; b <= k; b++) {
    const target = (n * b) / (k + 1);
    let g = groupStart.findIndex((s) => s >= target);
    if (g < 0) g = groups;
    const lo = blockGroup[b - 1]! + (b === 1 ? gap + 1 : 1);
    const hi = groups - (k - b + 1);
    blockGroup.push(Math.min(Math.max(g, lo), hi));
  }
  blockGroup.push(groups);
  const folds: Fold[] = [];
  for (let b = 1; b <= k; b++) {
    const g = blockGroup[b]!;
    folds.push({
      index: b,
      train: { start: 0, end: groupStart[g - gap]! },
      validation: { start: groupStart[g]!, end: b === k ? n : groupStart[blockGroup[b + 1]!]! },
    });
  }
  return { order, folds };
}

// ---------------------------------------------------------------------------------------------------------------
// Training

export interface TrainProgress {
  readonly fold: number;
  readonly folds: number;
  /** 1-based index over all candidates of all algorithms. */
  readonly candidate: number;
  readonly candidates: number;
  readonly algorithm: Algorithm;
  readonly params: GridPoint;
  /** The candidate's selection metric on this fold. */
  readonly score: number;
}

export interface TrainOptions {
  readonly target: string;
  /** Event-time column: numbers (e.g. epoch ms or a day index), Dates or ISO strings. */
  readonly time: string;
  /** Numeric feature columns; derived features (preprocess.ts) may be named, they are derived first. */
  readonly numeric: readonly string[];
  readonly categorical: readonly string[];
  readonly task: Task;
  readonly grid?: Grid;
  readonly folds?: number;
  readonly gap?: number;
  readonly seed: number;
  /** ModelSpec.service of the results (default: the target's name). */
  readonly service?: string;
  /** Add the derived features first (default true). */
  readonly derive?: boolean;
  /**
   * 'before-holdout' (default): the final spec is the one fitted on all rows before the latest validation block.
   * 'all': refit the chosen parameters on every row (the holdout score then describes the earlier fit).
   */
  readonly refit?: 'before-holdout' | 'all';
  /**
   * Folds before the latest (which selects, so runs every candidate): 'best' (default) runs only each algorithm's
   * chosen parameters there, for the per-fold picture; 'all' runs every candidate (scores selection never reads);
   * 'none' skips them (nothing selected or refitted depends on them).
   */
  readonly earlierFolds?: 'best' | 'all' | 'none';
  readonly onProgress?: (p: TrainProgress) => void;
}

export interface RegressionMetrics {
  readonly mae: number;
  readonly rmse: number;
}

export interface ClassificationMetrics {
  readonly logLoss: number;
  readonly auc: number;
  /** Log-loss of always predicting the training rows' base rate: the score to beat. */
  readonly baseRateLogLoss: number;
}

export interface FoldScore {
  readonly fold: number;
  readonly trainRows: number;
  readonly validationRows: number;
  readonly metrics: RegressionMetrics | ClassificationMetrics;
  /** The selection metric (MAE or log-loss): lower is better. */
  readonly score: number;
}

export interface CandidateResult {
  readonly params: GridPoint;
  /** The folds it ran, in order: every fold for each algorithm's chosen parameters, else the latest (see earlierFolds). */
  readonly folds: readonly FoldScore[];
  /** The latest fold's score, which selects. */
  readonly score: number;
}

export interface AlgorithmResult {
  readonly algorithm: Algorithm;
  readonly bestParams: GridPoint;
  /**
   * The parameters the final spec was fitted with when they differ from bestParams: boosting with early stopping
   * refits with the number of rounds it stopped at on the latest fold.
   */
  readonly refitParams?: GridPoint;
  readonly score: number;
  /** Per-fold scores of the best parameters. */
  readonly folds: readonly FoldScore[];
  readonly candidates: readonly CandidateResult[];
  readonly spec: ModelSpec;
  /**
   * The best parameters' predictions on the latest fold's validation block (fitted on the rows before it), with
   * the targets: out-of-sample residuals that precede any later holdout (conformal intervals, ensemble weights).
   */
  readonly validation: { readonly y: Float64Array; readonly pred: Float64Array };
}

export interface FoldSummary {
  readonly fold: number;
  readonly trainRows: number;
  readonly validationRows: number;
  /** [first, last] time of the training rows and of the validation rows. */
  readonly trainTimes: readonly [number, number];
  readonly validationTimes: readonly [number, number];
}

export interface TrainResult {
  readonly task: Task;
  readonly metric: 'mae' | 'log_loss';
  readonly rows: number;
  readonly folds: readonly FoldSummary[];
  readonly algorithms: readonly AlgorithmResult[];
  readonly best: AlgorithmResult;
}

function invalid(message: string, details: Record<string, unknown> = {}): TagstreamError {
  return new TagstreamError('CONFIG_INVALID', `training: ${message}`, { details });
}

function timeValue(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') return Date.parse(v);
  return NaN;
}

/** A label in {0, 1} (booleans too), NaN for a missing one; anything else is an error. */
function labelValue(v: unknown, row: number): number {
  if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) return NaN;
  if (v === true || v === 1) return 1;
  if (v === false || v === 0) return 0;
  throw invalid(`label ${JSON.stringify(v)} at row ${row}: expected 0 or 1`);
}

/** The prediction of a linear or tree estimator for one preprocessed row (p(class 1) for classifiers). */
export function predictEstimator(est: Estimator, x: ArrayLike<number>): number {
  switch (est.kind) {
    case 'linear-regressor':
    case 'logistic-classifier':
      return predictLinear(est, x);
    case 'tree-regressor':
    case 'tree-classifier':
      return predictTrees(est, x);
  }
}

function algorithmsFor(task: Task): Algorithm[] {
  return task === 'regression'
    ? ['linear', 'random_forest', 'gradient_boosting']
    : ['logistic', 'random_forest', 'gradient_boosting'];
}

/** One fold's training and validation rows, preprocessed for both model families. */
interface FoldData {
  readonly linearPre: Preprocessing;
  readonly treePre: Preprocessing;
  /** Linear training rows (float64: the fit's precision is its own business). */
  readonly linearX: Float64Array[];
  /** Tree training rows binned from their float32 values, the values serving sees. */
  readonly treeData: TreeData;
  readonly y: Float64Array;
  /**
   * Validation rows as src/ml/predict.ts computes them, so every score is the served model's: float32 for trees (the
   * ONNX graph's precision; a branch can flip on it), float64 for linear models (float32 moves their prediction by
   * about 1e-7 relative, never a branch).
   */
  readonly linearVal: Float64Array[];
  readonly treeVal: Float32Array[];
  readonly yVal: Float64Array;
}

interface Fitted {
  readonly estimator: Estimator;
  /** Validation predictions. */
  readonly pred: Float64Array;
}

function fitCandidate(
  algorithm: Algorithm,
  params: GridPoint,
  task: Task,
  seed: number,
  d: Pick<FoldData, 'linearX' | 'treeData' | 'y'>,
): Estimator {
  switch (algorithm) {
    case 'linear':
      return fitLinearRegression(d.linearX, d.y, params as LinearGridPoint);
    case 'logistic':
      return fitLogisticRegression(d.linearX, d.y, params as LinearGridPoint);
    case 'random_forest':
      return fitRandomForest(d.treeData, d.y, { ...(params as ForestGridPoint), seed }, task);
    case 'gradient_boosting':
      return fitGradientBoosting(d.treeData, d.y, { ...(params as BoostGridPoint), seed }, task);
  }
}

/** Share of a fit's training rows (the latest by time) that boosting holds out to stop early on. */
export const EARLY_STOPPING_FRACTION = 0.2;

/**
 * Where the rows sorted by `times` split for early stopping: the last `fraction` of the rows, cut at a change of
 * time, validates; training ends `gap` distinct times before it (as between a fold's training and validation
 * rows). Null when the rows hold too few distinct times.
 */
export function earlyStoppingSplit(
  times: ArrayLike<number>,
  gap: number,
  fraction: number = EARLY_STOPPING_FRACTION,
): { readonly trainEnd: number; readonly validationStart: number } | null {
  const n = times.length;
  const starts: number[] = [];
  for (let i = 0; i < n; i++) if (i === 0 || times[i] !== times[i - 1]) starts.push(i);
  let g = starts.findIndex((s) => s >= n * (1 - fraction));
  if (g < 0) g = starts.length - 1;
  if (g - gap < 1) return null;
  return { trainEnd: starts[g - gap]!, validationStart: starts[g]! };
}

/**
 * Fits a candidate on a fold and predicts its validation block. Boosting with early stopping finds its number of
 * rounds on the latest rows of the fold's training set (earlyStoppingSplit: fitted on the rows before them, scored
 * every round), then fits every training row of the fold with that many rounds; the fold's own validation block stays
 * untouched, so its score (and the residuals built on it) are out of sample.
 */
function fitAndPredict(
  algorithm: Algorithm,
  params: GridPoint,
  task: Task,
  seed: number,
  d: FoldData,
  times: ArrayLike<number>,
  gap: number,
): Fitted {
  const rows: readonly ArrayLike<number>[] = isLinear(algorithm) ? d.linearVal : d.treeVal;
  const predictAll = (estimator: Estimator): Fitted => {
    const pred = new Float64Array(rows.length);
    rows.forEach((x, i) => (pred[i] = predictEstimator(estimator, x)));
    return { estimator, pred };
  };
  const boostParams = params as BoostGridPoint;
  if (algorithm === 'gradient_boosting' && boostParams.earlyStoppingRounds !== undefined) {
    const split = earlyStoppingSplit(times, gap);
    if (split !== null) {
      const { cols } = d.treeData;
      const heldOut = Array.from({ length: d.y.length - split.validationStart }, (_, k) =>
        Float64Array.from(cols, (c) => c[split.validationStart + k]!),
      );
      const r = boost(
        d.treeData,
        d.y,
        { ...boostParams, seed },
        task,
        { X: heldOut, y: d.y.subarray(split.validationStart) },
        split.trainEnd,
      );
      // Then every training row of the fold, with the rounds found (the latest rows matter most over time).
      const rounds = treeCount(r.estimator);
      return predictAll(fitCandidate(algorithm, withoutEarlyStopping(boostParams, rounds), task, seed, d));
    }
  }
  return predictAll(fitCandidate(algorithm, params, task, seed, d));
}

function treeCount(e: Estimator): number {
  return e.kind === 'tree-regressor' || e.kind === 'tree-classifier' ? e.trees.length : 0;
}

/** The boosting parameters with a fixed number of rounds. */
function withoutEarlyStopping(params: BoostGridPoint, nTrees: number): BoostGridPoint {
  const { earlyStoppingRounds: _, ...rest } = params;
  return { ...rest, nTrees };
}

function isLinear(a: Algorithm): boolean {
  return a === 'linear' || a === 'logistic';
}

function evaluate(task: Task, yTrain: Float64Array, yVal: Float64Array, pred: Float64Array) {
  if (task === 'regression') {
    const metrics: RegressionMetrics = { mae: mae(yVal, pred), rmse: rmse(yVal, pred) };
    return { metrics, score: metrics.mae };
  }
  const metrics: ClassificationMetrics = {
    logLoss: logLoss(yVal, pred),
    auc: rocAuc(yVal, pred),
    baseRateLogLoss: baseRateLogLoss(yVal, baseRate(yTrain)),
  };
  return { metrics, score: metrics.logLoss };
}

/** Lower is better; NaN (a broken candidate) never wins. */
const better = (a: number, b: number): boolean => (Number.isNaN(b) ? !Number.isNaN(a) : a < b);

/**
 * Trains every candidate of every algorithm on time-ordered folds and returns, per algorithm, the parameters
 * that score best on the latest fold with their per-fold scores and final ModelSpec, and the best algorithm.
 * Rows with a missing target are dropped. Deterministic for a given table, options and seed.
 */
export function trainCandidates(input: ColumnTable, opts: TrainOptions): TrainResult {
  const { task, target, time } = opts;
  const featureColumns = [...opts.numeric, ...opts.categorical];
  if (featureColumns.includes(target)) throw invalid(`the target ${target} is also a feature`);
  if (featureColumns.includes(time)) throw invalid(`the time column ${time} is also a feature`);
  const derived = (opts.derive ?? true) ? deriveFeatures(input.reify()) : input.reify();
  const columns = new Set(derived.columnNames());
  const missing = [target, time, ...featureColumns].filter((c) => !columns.has(c));
  if (missing.length > 0) throw invalid(`unknown column(s) ${missing.join(', ')}`, { missing });

  // Keep rows with a target, then sort them by time.
  const rawTarget = derived.array(target);
  const rawTime = derived.array(time);
  const keep: number[] = [];
  const yAll: number[] = [];
  const tAll: number[] = [];
  for (let i = 0; i < derived.numRows(); i++) {
    const yv = task === 'regression' ? numericValue(rawTarget[i]) : labelValue(rawTarget[i], i);
    if (Number.isNaN(yv)) continue;
    const tv = timeValue(rawTime[i]);
    if (!Number.isFinite(tv)) throw invalid(`time ${JSON.stringify(rawTime[i])} at row ${i} is not a time`);
    keep.push(i);
    yAll.push(yv);
    tAll.push(tv);
  }
  let cv: TimeFolds;
  try {
    cv = timeSeriesFolds(tAll, { folds: opts.folds ?? DEFAULT_FOLDS, gap: opts.gap ?? 0 });
  } catch (e) {
    throw new TagstreamError('CONFIG_INVALID', `training: ${(e as Error).message}`, { cause: e });
  }
  const sortedIdx = Array.from(cv.order, (j) => keep[j]!);
  const table = derived.reify(sortedIdx);
  const y = Float64Array.from(cv.order, (j) => yAll[j]!);
  const t = Float64Array.from(cv.order, (j) => tAll[j]!);

  const grid = { ...DEFAULT_GRIDS[task], ...opts.grid };
  const plan = algorithmsFor(task)
    .map((algorithm) => ({ algorithm, points: grid[algorithm] }))
    .filter((a) => a.points.length > 0);
  if (plan.length === 0) throw invalid('the grid has no candidates');
  const totalCandidates = plan.reduce((s, a) => s + a.points.length, 0);
  const seedOf = (a: number, c: number): number => mixSeed(opts.seed, a * 1000 + c);

  const pre = (train: ColumnTable, scale: boolean): Preprocessing =>
    fitPreprocessing(train, { numeric: opts.numeric, categorical: opts.categorical, scale });
  const needLinear = plan.some((a) => isLinear(a.algorithm));
  const needTrees = plan.some((a) => !isLinear(a.algorithm));
  const foldData = (fold: Fold): FoldData => {
    const train = table.slice(0, fold.train.end);
    const val = table.slice(fold.validation.start, fold.validation.end);
    const linearPre = pre(train, true);
    const treePre = pre(train, false);
    return {
      linearPre,
      treePre,
      linearX: needLinear ? toMatrix(train, linearPre) : [],
      linearVal: needLinear ? toMatrix(val, linearPre) : [],
      treeData: prepareTreeData(needTrees ? toMatrix32(train, treePre) : []),
      treeVal: needTrees ? toMatrix32(val, treePre) : [],
      y: y.subarray(0, fold.train.end),
      yVal: y.subarray(fold.validation.start, fold.validation.end),
    };
  };
  const summaries: FoldSummary[] = cv.folds.map((fold) => ({
    fold: fold.index,
    trainRows: fold.train.end,
    validationRows: fold.validation.end - fold.validation.start,
    trainTimes: [t[0]!, t[fold.train.end - 1]!],
    validationTimes: [t[fold.validation.start]!, t[fold.validation.end - 1]!],
  }));

  // Candidate c of algorithm a is number offset[a] + c + 1 in the progress reports.
  const offset: number[] = [];
  plan.reduce((s, p) => (offset.push(s), s + p.points.length), 0);
  const scores: Map<number, FoldScore>[][] = plan.map((a) => a.points.map(() => new Map()));
  const run = (
    fold: Fold,
    d: FoldData,
    a: number,
    c: number,
    fitParams: GridPoint = plan[a]!.points[c]!,
  ): Fitted => {
    const { algorithm, points } = plan[a]!;
    const params = points[c]!;
    const fitted = fitAndPredict(
      algorithm,
      fitParams,
      task,
      seedOf(a, c),
      d,
      t.subarray(0, fold.train.end),
      opts.gap ?? 0,
    );
    const { metrics, score } = evaluate(task, d.y, d.yVal, fitted.pred);
    scores[a]![c]!.set(fold.index, {
      fold: fold.index,
      trainRows: d.y.length,
      validationRows: d.yVal.length,
      metrics,
      score,
    });
    opts.onProgress?.({
      fold: fold.index,
      folds: cv.folds.length,
      candidate: offset[a]! + c + 1,
      candidates: totalCandidates,
      algorithm,
      params,
      score,
    });
    return fitted;
  };

  // The latest fold selects, so it runs every candidate; the earlier folds only add the per-fold picture, so by
  // default they run each algorithm's chosen parameters alone (selection never reads the others' scores there).
  const last = cv.folds[cv.folds.length - 1]!;
  const lastData = foldData(last);
  const latest = plan.map(({ points }, a) => points.map((_, c) => run(last, lastData, a, c)));
  const chosen = plan.map(({ points }, a) => {
    let best = 0;
    points.forEach((_, c) => {
      if (better(scores[a]![c]!.get(last.index)!.score, scores[a]![best]!.get(last.index)!.score)) best = c;
    });
    return best;
  });
  // Boosting runs there with the rounds the latest fold found (no second search for them).
  const fixedRounds = (a: number, c: number): GridPoint => {
    const params = plan[a]!.points[c]!;
    return plan[a]!.algorithm === 'gradient_boosting' &&
      (params as BoostGridPoint).earlyStoppingRounds !== undefined
      ? withoutEarlyStopping(params as BoostGridPoint, treeCount(latest[a]![c]!.estimator))
      : params;
  };
  const earlier = opts.earlierFolds ?? 'best';
  for (const fold of earlier === 'none' ? [] : cv.folds.slice(0, -1)) {
    const d = foldData(fold);
    plan.forEach(({ points }, a) =>
      points.forEach((_, c) => {
        if (earlier === 'all' || c === chosen[a]) run(fold, d, a, c, fixedRounds(a, c));
      }),
    );
  }

  // The refit's preprocessed rows, built once per model family.
  const refitData = new Map<boolean, { pre: Preprocessing; linearX: Float64Array[]; treeData: TreeData }>();
  const refitFor = (linear: boolean) => {
    let d = refitData.get(linear);
    if (d === undefined) {
      const p = pre(table, linear);
      d = {
        pre: p,
        linearX: linear ? toMatrix(table, p) : [],
        treeData: prepareTreeData(linear ? [] : toMatrix32(table, p)),
      };
      refitData.set(linear, d);
    }
    return d;
  };
  const algorithms: AlgorithmResult[] = plan.map(({ algorithm, points }, a) => {
    const candidates: CandidateResult[] = points.map((params, c) => {
      const folds = [...scores[a]![c]!.values()].sort((x, z) => x.fold - z.fold);
      return { params, folds, score: scores[a]![c]!.get(last.index)!.score };
    });
    const best = chosen[a]!;
    const params = points[best]!;
    const { estimator: latestEstimator, pred: validationPred } = latest[a]![best]!;
    let estimator = latestEstimator;
    let preprocessing = isLinear(algorithm) ? lastData.linearPre : lastData.treePre;
    // Boosting refits with the rounds early stopping found on the latest fold (no later rows to stop on).
    const refitParams: GridPoint =
      algorithm === 'gradient_boosting' && (params as BoostGridPoint).earlyStoppingRounds !== undefined
        ? withoutEarlyStopping(params as BoostGridPoint, treeCount(latestEstimator))
        : params;
    if (opts.refit === 'all') {
      const d = refitFor(isLinear(algorithm));
      preprocessing = d.pre;
      estimator = fitCandidate(algorithm, refitParams, task, seedOf(a, best), { ...d, y });
    }
    return {
      algorithm,
      bestParams: params,
      ...(opts.refit === 'all' && refitParams !== params ? { refitParams } : {}),
      score: candidates[best]!.score,
      folds: candidates[best]!.folds,
      candidates,
      spec: { service: opts.service ?? target, algorithm, preprocessing, estimator },
      validation: { y: lastData.yVal, pred: validationPred },
    };
  });
  let best = algorithms[0]!;
  for (const r of algorithms) if (better(r.score, best.score)) best = r;
  return {
    task,
    metric: task === 'regression' ? 'mae' : 'log_loss',
    rows: y.length,
    folds: summaries,
    algorithms,
    best,
  };
}
