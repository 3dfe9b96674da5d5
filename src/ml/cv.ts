// Model selection over time: expanding-window folds on the time-sorted rows (never shuffled), a small grid per
// algorithm, preprocessing refitted on every fold's training rows, and selection by the LATEST fold's metric (MAE
// for regression, log-loss for classification). The latest fold's validation block is the holdout: each
// algorithm's final ModelSpec is the one fitted on all rows before it, so its holdout score is the one reported.
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
import { deriveFeatures, fitPreprocessing, numericValue, toMatrix } from './preprocess.ts';

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

/**
 * Small on purpose: 7 candidates per task, sized so a year of daily demand per class and store (~44k rows) trains
 * in well under a minute (see the timing test in test/ml/cv.test.ts).
 */
export const DEFAULT_GRIDS: Readonly<Record<Task, Required<Grid>>> = {
  regression: {
    linear: [{ l2: DEFAULT_LINEAR_L2 }, { l2: 1e-3 }, { l2: 1e-1 }],
    logistic: [],
    random_forest: [
      { nTrees: 30, maxDepth: 8, minSamplesLeaf: 5, maxFeatures: 1 / 3 },
      { nTrees: 30, maxDepth: 12, minSamplesLeaf: 5, maxFeatures: 1 / 3 },
    ],
    gradient_boosting: [
      { nTrees: 100, learningRate: 0.1, maxDepth: 3, minSamplesLeaf: 20 },
      { nTrees: 100, learningRate: 0.1, maxDepth: 5, minSamplesLeaf: 20 },
    ],
  },
  classification: {
    linear: [],
    logistic: [{ l2: 1e-5 }, { l2: 1e-3 }, { l2: 1e-1 }],
    random_forest: [
      { nTrees: 30, maxDepth: 8, minSamplesLeaf: 5, maxFeatures: 'sqrt' },
      { nTrees: 30, maxDepth: 12, minSamplesLeaf: 5, maxFeatures: 'sqrt' },
    ],
    gradient_boosting: [
      { nTrees: 100, learningRate: 0.1, maxDepth: 3, minSamplesLeaf: 20 },
      { nTrees: 100, learningRate: 0.1, maxDepth: 5, minSamplesLeaf: 20 },
    ],
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
  readonly folds: readonly FoldScore[];
  /** The latest fold's score, which selects. */
  readonly score: number;
}

export interface AlgorithmResult {
  readonly algorithm: Algorithm;
  readonly bestParams: GridPoint;
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

interface FoldData {
  readonly linearPre: Preprocessing;
  readonly treePre: Preprocessing;
  readonly linearX: Float64Array[];
  readonly treeData: TreeData;
  readonly y: Float64Array;
  readonly linearVal: Float64Array[];
  readonly treeVal: Float64Array[];
  readonly yVal: Float64Array;
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

  const scores: FoldScore[][][] = plan.map((a) => a.points.map(() => []));
  const latest: { estimator: Estimator; pre: Preprocessing; pred: Float64Array; yVal: Float64Array }[][] =
    plan.map(() => []);
  const summaries: FoldSummary[] = [];
  for (const fold of cv.folds) {
    const train = table.slice(0, fold.train.end);
    const val = table.slice(fold.validation.start, fold.validation.end);
    const linearPre = pre(train, true);
    const treePre = pre(train, false);
    const yTrain = y.subarray(0, fold.train.end);
    const yVal = y.subarray(fold.validation.start, fold.validation.end);
    const needLinear = plan.some((a) => isLinear(a.algorithm));
    const needTrees = plan.some((a) => !isLinear(a.algorithm));
    const linearX = needLinear ? toMatrix(train, linearPre) : [];
    const linearVal = needLinear ? toMatrix(val, linearPre) : [];
    const treeX = needTrees ? toMatrix(train, treePre) : [];
    const treeVal = needTrees ? toMatrix(val, treePre) : [];
    const treeData = prepareTreeData(treeX);
    summaries.push({
      fold: fold.index,
      trainRows: yTrain.length,
      validationRows: yVal.length,
      trainTimes: [t[0]!, t[fold.train.end - 1]!],
      validationTimes: [t[fold.validation.start]!, t[fold.validation.end - 1]!],
    });

    let candidate = 0;
    plan.forEach(({ algorithm, points }, a) => {
      points.forEach((params, c) => {
        candidate++;
        const estimator = fitCandidate(algorithm, params, task, seedOf(a, c), {
          linearX,
          treeData,
          y: yTrain,
        });
        const rows = isLinear(algorithm) ? linearVal : treeVal;
        const pred = Float64Array.from(rows, (x) => predictEstimator(estimator, x));
        const { metrics, score } = evaluate(task, yTrain, yVal, pred);
        scores[a]![c]!.push({
          fold: fold.index,
          trainRows: yTrain.length,
          validationRows: yVal.length,
          metrics,
          score,
        });
        if (fold.index === cv.folds.length)
          latest[a]![c] = { estimator, pre: isLinear(algorithm) ? linearPre : treePre, pred, yVal };
        opts.onProgress?.({
          fold: fold.index,
          folds: cv.folds.length,
          candidate,
          candidates: totalCandidates,
          algorithm,
          params,
          score,
        });
      });
    });
  }

  const algorithms: AlgorithmResult[] = plan.map(({ algorithm, points }, a) => {
    const candidates: CandidateResult[] = points.map((params, c) => {
      const folds = scores[a]![c]!;
      return { params, folds, score: folds[folds.length - 1]!.score };
    });
    let best = 0;
    candidates.forEach((cand, c) => {
      if (better(cand.score, candidates[best]!.score)) best = c;
    });
    const chosen = candidates[best]!;
    const { pred: validationPred, yVal: validationY } = latest[a]![best]!;
    let { estimator, pre: preprocessing } = latest[a]![best]!;
    if (opts.refit === 'all') {
      preprocessing = pre(table, isLinear(algorithm));
      const X = toMatrix(table, preprocessing);
      estimator = fitCandidate(algorithm, chosen.params, task, seedOf(a, best), {
        linearX: isLinear(algorithm) ? X : [],
        treeData: prepareTreeData(isLinear(algorithm) ? [] : X),
        y,
      });
    }
    return {
      algorithm,
      bestParams: chosen.params,
      score: chosen.score,
      folds: chosen.folds,
      candidates,
      spec: { service: opts.service ?? target, algorithm, preprocessing, estimator },
      validation: { y: validationY, pred: validationPred },
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
