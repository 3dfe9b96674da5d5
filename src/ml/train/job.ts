// The training job: labels from the scan history → point-in-time frames from the feature store → time-ordered CV over
// the candidates (src/ml/cv.ts) → the chosen model against the naive baseline and the production model on a later,
// untouched holdout → register (ONNX) → promote only through the gate → log every model to ml_model_performance.
//
// Holdout: the last `holdoutDays` days of labels (target day for demand, UTC day of the checkout for rentals). Training
// rows whose label is settled after the holdout starts (a 7-day sum reaching into it, a rental whose K next rentals do)
// are purged, so no holdout outcome is in training. Inside the CV, demand_7d folds leave a 6-day gap; the rental
// services' folds do not purge (their label spans vary), which only makes the CV scores that select a little optimistic.
// Selection: trainCandidates' latest CV fold picks each algorithm's parameters and the best algorithm; the chosen
// parameters are refitted on all training rows; that model is the one scored on the holdout and registered (it is not
// refitted again on the holdout, so the gate judges exactly what is registered).
import type { ColumnTable } from 'arquero';
import { TagstreamError, toTagstreamError } from '../../errors.ts';
import type { Sql } from '../../io/mysql/pool.ts';
import type { FeatureStore } from '../../store/types.ts';
import {
  DEFAULT_GRIDS,
  trainCandidates,
  type AlgorithmResult,
  type Grid,
  type Task,
  type TrainProgress,
} from '../cv.ts';
import {
  averagePrecision,
  baseRate,
  conformalQuantile,
  coverage,
  logLoss,
  mae,
  rmse,
  rocAuc,
} from '../metrics.ts';
import { DEFAULT_DRIFT_WINDOW, driftReference, type DriftReferenceOptions } from '../drift.ts';
import type { ModelSpec } from '../model-spec.ts';
import { exportOnnx } from '../onnx/export.ts';
import { predictSpec, type CategoricalRow, type NumericRow } from '../predict.ts';
import { categoryValue, deriveFeatures, numericValue } from '../preprocess.ts';
import { promoteAndPublish, type ModelVersionPublisher } from '../registry/publisher.ts';
import type { ModelRecord, ModelRegistry } from '../registry/registry.ts';
import { weigh } from '../weights.ts';
import { demandFrame, rentalFrame, type Frame } from './features.ts';
import { gate, type GateDecision, type GateMetric } from './gate.ts';
import { loadScans } from './history.ts';
import {
  allRentals,
  countedScans,
  dailyUnits,
  demandLabels,
  maintenanceLabels,
  qualityLabels,
  type Scan,
} from './labels.ts';
import { logPerformance, markActive, type PerformanceRow } from './performance-log.ts';

/** What `--service` takes; `demand` trains two registry services, `demand` (next day) and `demand_7d`. */
export const TRAIN_SERVICES = ['demand', 'maintenance', 'quality'] as const;
export type TrainService = (typeof TRAIN_SERVICES)[number];

export const DEFAULT_HOLDOUT_DAYS = 60;
export const DEFAULT_K = 3;
/** Nominal coverage of the regression services' prediction intervals. */
export const DEFAULT_INTERVAL_COVERAGE = 0.8;

/** The registry service of an ensemble member: `<service>-<algorithm>`, e.g. `demand-random_forest`. */
export const memberService = (service: string, algorithm: string): string => `${service}-${algorithm}`;

/**
 * What generated the data, when it is known (the simulator's ground truth): the training run then reports the
 * ceiling a model can reach on the same holdout rows beside the model's own figures.
 */
export interface GroundTruth {
  /** The true probability that each rental's item needs repair within K rentals from its checkout (NaN: unknown). */
  maintenance(rows: readonly { readonly tagId: string; readonly time: number }[], k: number): Float64Array;
}

/** A small grid for tests and quick runs: one candidate per algorithm. */
export const SMALL_GRIDS: Readonly<Record<Task, Grid>> = {
  regression: {
    linear: [{ l2: 1e-3 }],
    random_forest: [{ nTrees: 10, maxDepth: 6, minSamplesLeaf: 5, maxFeatures: 1 / 3 }],
    gradient_boosting: [{ nTrees: 30, learningRate: 0.1, maxDepth: 3, minSamplesLeaf: 10 }],
  },
  classification: {
    logistic: [{ l2: 1e-3 }],
    random_forest: [{ nTrees: 10, maxDepth: 6, minSamplesLeaf: 5, maxFeatures: 'sqrt' }],
    gradient_boosting: [{ nTrees: 30, learningRate: 0.1, maxDepth: 3, minSamplesLeaf: 10 }],
  },
};

export interface JobOptions {
  readonly services: readonly TrainService[];
  /** History bounds (ms): scans with event time in [from, to). Default: everything in id_transactions. */
  readonly from?: number;
  readonly to?: number;
  readonly holdoutDays: number;
  /** Maintenance: the label looks this many rentals ahead. */
  readonly k: number;
  readonly folds: number;
  readonly seed: number;
  readonly grid: 'default' | 'small';
  /** Promote a candidate that passes the gate (false: register and log only). */
  readonly promote: boolean;
  readonly zoneOf: (storeId: string) => string;
  readonly dedupWindowMs: number;
  /** Window name of the historical collector's class features, e.g. `90d`. */
  readonly historicalWindow: string;
  /** Required relative improvement over the baseline (default 0). */
  readonly minImprovement?: number;
  /** Nominal coverage of the regression services' intervals (default DEFAULT_INTERVAL_COVERAGE). */
  readonly intervalCoverage?: number;
  /** The data's ground truth, when known: reported beside the model (the maintenance ceiling). */
  readonly groundTruth?: GroundTruth;
  /** Rows of serving's drift window (serving.alerts.drift.window): the drift reference's chunk size. Default 500. */
  readonly driftWindow?: number;
}

export interface JobDeps {
  readonly sql: Sql;
  readonly store: Pick<FeatureStore, 'getTrainingFrame'>;
  readonly registry: ModelRegistry;
  /** Connected on the first promotion only (so a run that promotes nothing needs no Kafka). */
  readonly publisher: () => Promise<ModelVersionPublisher>;
  readonly now: () => number;
  /** Progress and decision lines. */
  readonly progress: (line: string) => void;
}

export interface HoldoutMetrics {
  readonly rows: number;
  readonly mae?: number;
  readonly rmse?: number;
  readonly log_loss?: number;
  readonly auc?: number;
  /** Average precision (area under the precision-recall curve). */
  readonly pr_auc?: number;
  readonly base_rate?: number;
}

export interface TargetReport {
  /** The registry service. */
  readonly service: string;
  readonly task: Task;
  readonly target: string;
  readonly gateMetric: GateMetric;
  readonly rows: { readonly train: number; readonly purged: number; readonly holdout: number };
  /** [first, last] label time of the holdout (ms). */
  readonly holdoutRange: readonly [number, number];
  readonly best: { readonly algorithm: string; readonly params: unknown; readonly cvScore: number };
  /** Per algorithm: latest-fold CV score and holdout metrics. */
  readonly algorithms: readonly { algorithm: string; cvScore: number; holdout: HoldoutMetrics }[];
  /** The weighted ensemble of every algorithm, on the same holdout; served only where it beats the best member. */
  readonly ensemble: {
    readonly served: boolean;
    readonly metrics: HoldoutMetrics;
    readonly weights: readonly { readonly algorithm: string; readonly weight: number }[];
    readonly bestMember: string;
    /** The members registered beside the primary (`<service>-<algorithm>`). */
    readonly members: readonly {
      readonly service: string;
      readonly algorithm: string;
      readonly version: string;
    }[];
  };
  /** The served predictor's holdout metrics (the ensemble's or the chosen algorithm's). */
  readonly holdout: HoldoutMetrics;
  /** Regression: the split-conformal interval, offsets added to the prediction, and its holdout coverage. */
  readonly interval: {
    readonly coverage: number;
    readonly lower: number;
    readonly upper: number;
    readonly calibrationRows: number;
    readonly holdoutCoverage: number;
  } | null;
  /** Classification with ground truth: the true probabilities' scores on the same holdout rows, and the model's. */
  readonly ceiling: {
    readonly rows: number;
    readonly auc: number;
    readonly prAuc: number;
    readonly modelAuc: number;
    readonly modelPrAuc: number;
    /** modelAuc / auc */
    readonly ratio: number;
  } | null;
  readonly baseline: { readonly name: string; readonly metrics: HoldoutMetrics };
  readonly production: {
    readonly version: string;
    readonly metrics: HoldoutMetrics | null;
    readonly note?: string;
  } | null;
  readonly gate: GateDecision;
  readonly version: string;
  readonly promoted: boolean;
  readonly droppedColumns: readonly string[];
  readonly seconds: number;
}

interface TargetSpec {
  readonly service: string;
  readonly task: Task;
  readonly target: string;
  /** Label time column (ms). */
  readonly labelTime: string;
  /**
   * Whether the label of row i is settled before the holdout's first label (its first day and earliest label time):
   * only such rows train, so no outcome inside the holdout is in a training label.
   */
  readonly settledBefore: (row: LabelRow, holdout: { firstDay: number; firstTime: number }) => boolean;
  readonly gap: number;
  readonly gateMetric: GateMetric;
  /** The least value the target takes (an interval's lower end is clipped to it). */
  readonly lowerBound?: number;
  readonly baseline: {
    readonly name: string;
    readonly predict: (train: ColumnTable, holdout: ColumnTable) => Float64Array;
  };
}

const fmt = (v: number | undefined, digits = 4): string =>
  v === undefined || !Number.isFinite(v) ? String(v) : v.toFixed(digits);

/** A numeric column as numbers (NaN for missing). */
function numbers(t: ColumnTable, column: string): Float64Array {
  const a = t.array(column);
  return Float64Array.from({ length: t.numRows() }, (_, i) => numericValue(a[i]));
}

function metricsOf(task: Task, y: Float64Array, pred: Float64Array): HoldoutMetrics {
  if (task === 'regression') return { rows: y.length, mae: mae(y, pred), rmse: rmse(y, pred) };
  return {
    rows: y.length,
    log_loss: logLoss(y, pred),
    auc: rocAuc(y, pred),
    pr_auc: averagePrecision(y, pred),
    base_rate: baseRate(y),
  };
}

/** The spec's predictions for every row of a derived table; INTERNAL naming what the table lacks. */
function predictOrThrow(spec: ModelSpec, derived: ColumnTable, what: string): Float64Array {
  const pred = predictTable(spec, derived);
  if (!(pred instanceof Float64Array))
    throw new TagstreamError('INTERNAL', `${what} lacks ${pred.missing.join(', ')}`);
  return pred;
}

/** The spec's predictions for every row of a derived table, or the columns the table lacks. */
export function predictTable(spec: ModelSpec, derived: ColumnTable): Float64Array | { missing: string[] } {
  const p = spec.preprocessing;
  const present = new Set(derived.columnNames());
  const missing = [...p.numeric, ...p.categorical].filter((c) => !present.has(c));
  if (missing.length > 0) return { missing };
  const num = p.numeric.map((c) => derived.array(c));
  const cat = p.categorical.map((c) => derived.array(c));
  const n = derived.numRows();
  const numericRows: NumericRow[] = [];
  const categoricalRows: CategoricalRow[] = [];
  for (let i = 0; i < n; i++) {
    numericRows.push(
      num.map((a) => {
        const v = numericValue(a[i]);
        return Number.isNaN(v) ? null : v;
      }),
    );
    categoricalRows.push(cat.map((a) => categoryValue(a[i])));
  }
  return predictSpec(spec, numericRows, categoricalRows);
}

/** [min, max] of the values. */
function span(values: Float64Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}

/** Rows of `t` whose target is present (and, for classification, 0/1). */
function withTarget(t: ColumnTable, target: string): number[] {
  const y = t.array(target);
  const keep: number[] = [];
  for (let i = 0; i < t.numRows(); i++) if (Number.isFinite(numericValue(y[i]))) keep.push(i);
  return keep;
}

/** The per-rental-class base rate of the training rows (overall rate for a class it has not seen). */
export function classBaseRate(train: ColumnTable, holdout: ColumnTable, target: string): Float64Array {
  const y = numbers(train, target);
  const cls = train.array('rental_class_num');
  const sums = new Map<string, [number, number]>();
  let all = 0;
  for (let i = 0; i < y.length; i++) {
    const k = String(cls[i]);
    const s = sums.get(k) ?? [0, 0];
    s[0] += y[i]!;
    s[1] += 1;
    sums.set(k, s);
    all += y[i]!;
  }
  const overall = all / Math.max(1, y.length);
  const hc = holdout.array('rental_class_num');
  return Float64Array.from({ length: holdout.numRows() }, (_, i) => {
    const s = sums.get(String(hc[i]));
    return s ? s[0] / s[1] : overall;
  });
}

/** What the holdout split reads of a row (arquero's array() copies a column, so columns are read once). */
interface LabelRow {
  readonly day: number;
  /** When the label is settled (rental frames); NaN for demand, whose labels settle with their days. */
  readonly settledAt: number;
}

const settledAtBefore: TargetSpec['settledBefore'] = (r, h) => r.settledAt <= h.firstTime;

function targetSpecs(service: TrainService): TargetSpec[] {
  switch (service) {
    case 'demand':
      return [
        {
          service: 'demand',
          task: 'regression',
          target: 'units_1d',
          labelTime: 'cutoff',
          settledBefore: (r, h) => r.day + 1 <= h.firstDay,
          gap: 0,
          gateMetric: 'mae',
          lowerBound: 0,
          baseline: {
            name: 'seasonal-naive (same weekday last week)',
            predict: (_, h) => numbers(h, 'units_lag_7'),
          },
        },
        {
          service: 'demand_7d',
          task: 'regression',
          target: 'units_7d',
          labelTime: 'cutoff',
          settledBefore: (r, h) => r.day + 7 <= h.firstDay,
          gap: 6,
          gateMetric: 'mae',
          lowerBound: 0,
          baseline: { name: 'seasonal-naive (the 7 days before)', predict: (_, h) => numbers(h, 'naive_7d') },
        },
      ];
    case 'maintenance':
      return [
        {
          service: 'maintenance',
          task: 'classification',
          target: 'needs_repair',
          labelTime: 'time',
          settledBefore: settledAtBefore,
          gap: 0,
          gateMetric: 'log_loss',
          baseline: {
            name: 'class base rate',
            predict: (train, h) => classBaseRate(train, h, 'needs_repair'),
          },
        },
      ];
    case 'quality':
      return [
        {
          service: 'quality',
          task: 'regression',
          target: 'grade_at_return',
          labelTime: 'time',
          settledBefore: settledAtBefore,
          gap: 0,
          // The expected grade is the question (DESIGN: degradation). A grade seldom changes in one rental, so the
          // median is "no change" and MAE cannot reward knowing how likely a drop is; RMSE can.
          gateMetric: 'rmse',
          baseline: { name: 'grade at checkout', predict: (_, h) => numbers(h, 'grade_at_out') },
        },
      ];
  }
}

/** `run-<UTC yyyymmddHHMMss>`: the model_version of the rows of one run that are not registered. */
export const runId = (ms: number): string =>
  `run-${new Date(ms)
    .toISOString()
    .replace(/\.\d{3}Z$/, '')
    .replace(/[-T:]/g, '')}`;

/**
 * The production model's holdout score, or why it has none. A production primary that serves an ensemble is scored
 * as served: with its members' production models, weighted as serving weighs them.
 */
async function scoreProduction(
  prod: ModelRecord,
  registry: Pick<ModelRegistry, 'production'>,
  derivedHoldout: ColumnTable,
  task: Task,
  y: Float64Array,
): Promise<{ metrics: HoldoutMetrics } | { unscorable: string }> {
  const records = [prod];
  for (const s of prod.spec.members ?? []) {
    const m = await registry.production(s);
    if (m) records.push(m);
  }
  const weighted = weigh(records.map((r) => ({ service: r.service, model: r })));
  const combined = new Float64Array(y.length);
  for (const { model, weight } of weighted) {
    let pred: Float64Array | { missing: string[] };
    try {
      pred = predictTable(model.spec, derivedHoldout);
    } catch (e) {
      return { unscorable: `${model.version}'s spec does not run: ${(e as Error).message}` };
    }
    if (!(pred instanceof Float64Array))
      return { unscorable: `${model.version} needs columns this frame lacks: ${pred.missing.join(', ')}` };
    for (let i = 0; i < combined.length; i++) combined[i]! += weight * pred[i]!;
  }
  return { metrics: metricsOf(task, y, combined) };
}

async function trainTarget(
  spec: TargetSpec,
  frame: Frame,
  opts: JobOptions,
  deps: JobDeps,
  run: string,
): Promise<TargetReport> {
  const started = performance.now();
  const say = (line: string): void => deps.progress(`[${spec.service}] ${line}`);
  const all = frame.table.reify(withTarget(frame.table, spec.target));
  if (all.numRows() === 0)
    throw new TagstreamError(
      'CONFIG_INVALID',
      `${spec.service}: no labels in the history (is id_transactions empty?)`,
    );
  // Holdout: the last holdoutDays days (by the `day` column: the target day, or the UTC day of the checkout).
  const days = numbers(all, 'day');
  const times = numbers(all, spec.labelTime);
  const settled = all.columnNames().includes('settled_at')
    ? numbers(all, 'settled_at')
    : new Float64Array(days.length).fill(NaN);
  let lastDay = -Infinity;
  for (const d of days) lastDay = Math.max(lastDay, d);
  const firstDay = lastDay - opts.holdoutDays + 1;
  let firstTime = Infinity;
  for (let i = 0; i < days.length; i++) if (days[i]! >= firstDay) firstTime = Math.min(firstTime, times[i]!);
  const trainIdx: number[] = [];
  const holdIdx: number[] = [];
  let purged = 0;
  for (let i = 0; i < days.length; i++) {
    if (days[i]! >= firstDay) holdIdx.push(i);
    else if (spec.settledBefore({ day: days[i]!, settledAt: settled[i]! }, { firstDay, firstTime }))
      trainIdx.push(i);
    else purged++;
  }
  if (holdIdx.length === 0 || trainIdx.length === 0)
    throw new TagstreamError(
      'CONFIG_INVALID',
      `${spec.service}: ${trainIdx.length} training and ${holdIdx.length} holdout rows; the history is too short for a ` +
        `${opts.holdoutDays}-day holdout (--holdout-days)`,
    );
  const train = all.reify(trainIdx);
  const holdout = all.reify(holdIdx);
  const holdoutRange = span(numbers(holdout, spec.labelTime));

  // Columns no training row has a value for (not in the feature store, or history too short) are left out.
  const dropped = frame.numeric.filter((c) => {
    const a = train.array(c);
    for (let i = 0; i < a.length; i++) if (a[i] !== null && a[i] !== undefined) return false;
    return true;
  });
  const numeric = frame.numeric.filter((c) => !dropped.includes(c));
  say(
    `${train.numRows()} training rows (${purged} purged: labels settled inside the holdout), ${holdout.numRows()} holdout rows ` +
      `${new Date(holdoutRange[0]).toISOString().slice(0, 10)}..${new Date(holdoutRange[1]).toISOString().slice(0, 10)}; ` +
      `${numeric.length} numeric + ${frame.categorical.length} categorical inputs` +
      (dropped.length > 0 ? `; no value in any training row, left out: ${dropped.join(', ')}` : ''),
  );

  const grid = opts.grid === 'small' ? SMALL_GRIDS[spec.task] : DEFAULT_GRIDS[spec.task];
  const cvStarted = performance.now();
  const result = trainCandidates(train, {
    target: spec.target,
    time: 'day',
    numeric,
    categorical: frame.categorical,
    task: spec.task,
    grid,
    folds: opts.folds,
    gap: spec.gap,
    seed: opts.seed,
    service: spec.service,
    refit: 'all',
    onProgress: (p: TrainProgress) =>
      say(
        `fold ${p.fold}/${p.folds} candidate ${p.candidate}/${p.candidates} ${p.algorithm} ` +
          `${selectionMetric(spec.task)}=${fmt(p.score)} (${((performance.now() - cvStarted) / 1000).toFixed(1)} s)`,
      ),
  });

  // Holdout: every algorithm's refitted model, their weighted ensemble, the baseline and production on the same rows.
  const derived = deriveFeatures(holdout);
  const derivedReference = frame.reference ? deriveFeatures(frame.reference) : undefined;
  const chunking = (t: ColumnTable): DriftReferenceOptions => ({
    windowRows: opts.driftWindow ?? DEFAULT_DRIFT_WINDOW,
    ...(t.columnNames().includes('time') ? { time: t.array('time') as ArrayLike<number> } : {}),
  });
  const y = numbers(holdout, spec.target);
  const metricValue = (m: HoldoutMetrics): number => gateValue(spec.gateMetric, m);
  const algorithms = result.algorithms.map((a: AlgorithmResult) => {
    const pred = predictOrThrow(a.spec, derived, 'holdout');
    return {
      algorithm: a.algorithm,
      cvScore: a.score,
      holdout: metricsOf(spec.task, y, pred),
      pred,
      result: a,
    };
  });
  const chosen = algorithms.find((a) => a.algorithm === result.best.algorithm)!;

  // The ensemble: every algorithm with a CV score, weighted as serving weighs them (inverse latest-fold score, which
  // precedes the holdout), so the holdout judges it as fairly as the single models. The primary is the CV winner.
  const members = [chosen, ...algorithms.filter((a) => a !== chosen && Number.isFinite(a.cvScore))];
  const weights = weigh(
    members.map((a) => ({ service: a.algorithm, model: { validationScore: a.cvScore } })),
  );
  const combine = (preds: readonly Float64Array[]): Float64Array => {
    const out = new Float64Array(preds[0]!.length);
    weights.forEach(({ weight }, m) => {
      const p = preds[m]!;
      for (let i = 0; i < out.length; i++) out[i]! += weight * p[i]!;
    });
    return out;
  };
  const ensemblePred = combine(members.map((a) => a.pred));
  const ensembleMetrics = metricsOf(spec.task, y, ensemblePred);
  let bestMember = algorithms[0]!;
  for (const a of algorithms) if (metricValue(a.holdout) < metricValue(bestMember.holdout)) bestMember = a;
  // Promoted as an ensemble only where it beats the best single member on the holdout (chosen after the fact, so
  // the bar is higher than the CV winner's).
  const useEnsemble = members.length > 1 && metricValue(ensembleMetrics) < metricValue(bestMember.holdout);
  const served = useEnsemble
    ? {
        pred: ensemblePred,
        validation: combine(members.map((a) => a.result.validation.pred)),
        metrics: ensembleMetrics,
      }
    : { pred: chosen.pred, validation: chosen.result.validation.pred, metrics: chosen.holdout };
  say(
    `holdout ${metricName(spec.gateMetric)}: ` +
      algorithms.map((a) => `${a.algorithm} ${fmt(metricValue(a.holdout))}`).join(', ') +
      `; ensemble (${weights.map((w) => `${w.service} ${w.weight.toFixed(2)}`).join(', ')}) ${fmt(metricValue(ensembleMetrics))}: ` +
      (useEnsemble
        ? `beats the best single member (${bestMember.algorithm}), serving the ensemble`
        : `does not beat the best single member (${bestMember.algorithm}), serving ${chosen.algorithm} alone`),
  );

  // Split-conformal interval (regression): residual quantiles of the served predictor on the latest CV fold's
  // validation block (fitted before it; it precedes the holdout), checked on the holdout.
  let interval: TargetReport['interval'] = null;
  if (spec.task === 'regression') {
    const c = opts.intervalCoverage ?? DEFAULT_INTERVAL_COVERAGE;
    const yv = chosen.result.validation.y;
    const residual = Float64Array.from(yv, (v, i) => v - served.validation[i]!);
    const tail = (1 + c) / 2;
    const lower = -conformalQuantile(
      residual.map((r) => -r),
      tail,
    );
    const upper = conformalQuantile(residual, tail);
    const floor = spec.lowerBound ?? -Infinity;
    const lo = served.pred.map((p) => Math.max(floor, p + lower));
    const hi = served.pred.map((p) => p + upper);
    interval = {
      coverage: c,
      lower,
      upper,
      calibrationRows: yv.length,
      holdoutCoverage: coverage(y, lo, hi),
    };
    say(
      `${(100 * c).toFixed(0)}% interval [prediction ${fmt(lower)}, prediction + ${fmt(upper)}] from ${yv.length} ` +
        `calibration rows; holdout coverage ${(100 * interval.holdoutCoverage).toFixed(1)}%`,
    );
  }

  // The maintenance ceiling: the simulator's true probabilities on the same holdout rows and K.
  let ceiling: TargetReport['ceiling'] = null;
  if (spec.task === 'classification' && opts.groundTruth) {
    const tags = holdout.array('tag_id');
    const truth = opts.groundTruth.maintenance(
      Array.from({ length: holdout.numRows() }, (_, i) => ({
        tagId: String(tags[i]),
        time: numericValue(holdout.get(spec.labelTime, i)),
      })),
      opts.k,
    );
    const known: number[] = [];
    for (let i = 0; i < truth.length; i++) if (Number.isFinite(truth[i])) known.push(i);
    const pick = (a: Float64Array): Float64Array => Float64Array.from(known, (i) => a[i]!);
    const yk = pick(y);
    const auc = rocAuc(yk, pick(truth));
    const modelAuc = rocAuc(yk, pick(served.pred));
    ceiling = {
      rows: known.length,
      auc,
      prAuc: averagePrecision(yk, pick(truth)),
      modelAuc,
      modelPrAuc: averagePrecision(yk, pick(served.pred)),
      ratio: modelAuc / auc,
    };
    say(
      `ceiling (simulator's true probabilities, same ${known.length} of ${truth.length} holdout rows, K=${opts.k}): ` +
        `ROC AUC ${fmt(auc)}, PR-AUC ${fmt(ceiling.prAuc)}; model ROC AUC ${fmt(modelAuc)} = ` +
        `${(100 * ceiling.ratio).toFixed(1)}% of the ceiling, PR-AUC ${fmt(ceiling.modelPrAuc)}`,
    );
  }

  const baselinePred = spec.baseline.predict(train, holdout);
  const baselineMetrics = metricsOf(spec.task, y, baselinePred);

  const prod = await deps.registry.production(spec.service);
  let production: TargetReport['production'] = null;
  let gateProduction: Parameters<typeof gate>[0]['production'] = null;
  if (prod) {
    const scored = await scoreProduction(prod, deps.registry, derived, spec.task, y);
    const trainedUntil = Number((prod.metrics as { train_until?: unknown }).train_until);
    const note =
      Number.isFinite(trainedUntil) && trainedUntil > holdoutRange[0]
        ? `production was trained on data up to ${new Date(trainedUntil).toISOString().slice(0, 10)}, inside this holdout: the comparison favours it`
        : undefined;
    if ('unscorable' in scored) {
      production = { version: prod.version, metrics: null, note: scored.unscorable };
      gateProduction = { version: prod.version, unscorable: scored.unscorable };
    } else {
      production = { version: prod.version, metrics: scored.metrics, ...(note ? { note } : {}) };
      gateProduction = { version: prod.version, value: metricValue(scored.metrics) };
    }
  }
  const decision = gate({
    service: spec.service,
    metric: spec.gateMetric,
    candidate: metricValue(served.metrics),
    baseline: { name: spec.baseline.name, value: metricValue(baselineMetrics) },
    production: gateProduction,
    ...(opts.minImprovement === undefined ? {} : { minImprovement: opts.minImprovement }),
  });

  // Register every member (ONNX, preprocessing inside) as a candidate, the primary last: it names the members it
  // serves with. The gate decides on promotion.
  const [trainFrom, trainTo] = span(numbers(train, spec.labelTime));
  const common = {
    cv_metric: result.metric,
    train_rows: train.numRows(),
    holdout_rows: holdout.numRows(),
    train_from: trainFrom,
    train_until: trainTo,
    holdout_from: holdoutRange[0],
    holdout_to: holdoutRange[1],
    target: spec.target,
    ...(interval ? { interval } : {}),
  };
  const ensembleReport = {
    served: useEnsemble,
    ...ensembleMetrics,
    weights: Object.fromEntries(weights.map((w) => [w.service, w.weight])),
    best_member: bestMember.algorithm,
  };
  const registerOne = async (
    a: (typeof algorithms)[number],
    service: string,
    metrics: Record<string, unknown>,
    memberServices?: readonly string[],
  ): Promise<string> => {
    const modelSpec: ModelSpec = {
      ...a.result.spec,
      service,
      ...(memberServices && memberServices.length > 0 ? { members: memberServices } : {}),
    };
    const { version } = await deps.registry.register({
      service,
      algorithm: a.algorithm,
      spec: modelSpec,
      onnx: exportOnnx(modelSpec, { docString: `tagstream ${service} (${spec.target})` }),
      metrics,
      // The latest CV fold's score: what serving weighs an ensemble by (it precedes the holdout).
      validationScore: a.cvScore,
      ...(interval
        ? { interval: { coverage: interval.coverage, lower: interval.lower, upper: interval.upper } }
        : {}),
      // Drift reference: the latest rows and the model's out-of-sample predictions on them, the way live predictions
      // are made (in-sample predictions on older training rows read as drift in serving): the frame's unlabelled
      // reference rows where it has them (rentals), else the holdout rows.
      // Its chunk spread: the PSI of each serving-window-sized stretch of it, in time order (driftThresholds).
      reference: derivedReference
        ? driftReference(
            modelSpec,
            derivedReference,
            predictOrThrow(a.result.spec, derivedReference, 'drift reference'),
            chunking(derivedReference),
          )
        : driftReference(modelSpec, derived, a.pred, chunking(derived)),
      notes: `gate ${decision.pass ? 'passed' : 'failed'}: ${decision.reasons.join('; ')}`,
    });
    return version;
  };
  const memberVersions: { service: string; algorithm: string; version: string }[] = [];
  for (const a of members.slice(1)) {
    const service = memberService(spec.service, a.algorithm);
    const version = await registerOne(a, service, {
      ...a.holdout,
      cv_score: a.cvScore,
      member_of: spec.service,
      ...common,
    });
    memberVersions.push({ service, algorithm: a.algorithm, version });
  }
  const modelMetrics = {
    ...served.metrics,
    algorithm_holdout: chosen.holdout,
    cv_score: chosen.cvScore,
    baseline: { name: spec.baseline.name, ...baselineMetrics },
    production: production === null ? null : { version: production.version, ...(production.metrics ?? {}) },
    gate: { pass: decision.pass, reasons: decision.reasons, improvement: decision.improvement },
    ensemble: {
      ...ensembleReport,
      members: memberVersions.map((m) => ({ service: m.service, version: m.version })),
    },
    ...(ceiling ? { ceiling } : {}),
    ...common,
  };
  const version = await registerOne(
    chosen,
    spec.service,
    modelMetrics,
    useEnsemble ? memberVersions.map((m) => m.service) : undefined,
  );
  say(
    `registered ${version} (${chosen.algorithm})` +
      (memberVersions.length > 0 ? ` and members ${memberVersions.map((m) => m.version).join(', ')}` : '') +
      ' as candidates',
  );

  let promoted = false;
  if (decision.pass && opts.promote) {
    const publisher = await deps.publisher();
    // Members first: the primary's announcement is what makes serving combine them.
    if (useEnsemble)
      for (const m of memberVersions) await promoteAndPublish(deps.registry, publisher, m.service, m.version);
    await promoteAndPublish(deps.registry, publisher, spec.service, version);
    promoted = true;
  }
  for (const r of decision.reasons) say(`gate: ${r}`);
  if (promoted) say(`gate passed: ${version} is production${useEnsemble ? ', serving the ensemble' : ''}`);
  else if (decision.pass) say(`gate passed; not promoted (--no-promote)`);
  else say(`gate failed: production stays ${prod ? prod.version : '(none)'}`);

  const trainedAt = deps.now();
  const perf: PerformanceRow[] = algorithms.map((a) => {
    const member = memberVersions.find((m) => m.algorithm === a.algorithm);
    return {
      service: spec.service,
      modelType: a.algorithm,
      modelVersion: a === chosen ? version : (member?.version ?? run),
      trainedAt,
      metrics:
        a === chosen
          ? modelMetrics
          : {
              ...a.holdout,
              cv_score: a.cvScore,
              cv_metric: result.metric,
              chosen: false,
              ...(member ? { member_of: spec.service, ensemble_served: useEnsemble } : {}),
              target: spec.target,
            },
      accuracy: accuracyOf(spec.task, a === chosen ? served.metrics : a.holdout),
      params: {
        ...(a.result.refitParams ?? a.result.bestParams),
        seed: opts.seed,
        folds: opts.folds,
        gap: spec.gap,
        candidates: a.result.candidates.map((c) => ({ params: c.params, cv: c.folds.map((f) => f.score) })),
      },
      isActive: promoted && (a === chosen || (useEnsemble && member !== undefined)),
    };
  });
  perf.push({
    service: spec.service,
    modelType: 'naive_baseline',
    modelVersion: run,
    trainedAt,
    metrics: { name: spec.baseline.name, ...baselineMetrics, target: spec.target },
    accuracy: accuracyOf(spec.task, baselineMetrics),
    params: null,
  });
  await logPerformance(deps.sql, perf);
  if (promoted) await markActive(deps.sql, spec.service, version);

  return {
    service: spec.service,
    task: spec.task,
    target: spec.target,
    gateMetric: spec.gateMetric,
    rows: { train: train.numRows(), purged, holdout: holdout.numRows() },
    holdoutRange,
    best: { algorithm: chosen.algorithm, params: chosen.result.bestParams, cvScore: chosen.cvScore },
    algorithms: algorithms.map(({ algorithm, cvScore, holdout: h }) => ({ algorithm, cvScore, holdout: h })),
    ensemble: {
      served: useEnsemble,
      metrics: ensembleMetrics,
      weights: weights.map((w) => ({ algorithm: w.service, weight: w.weight })),
      bestMember: bestMember.algorithm,
      members: memberVersions,
    },
    holdout: served.metrics,
    baseline: { name: spec.baseline.name, metrics: baselineMetrics },
    production,
    gate: decision,
    version,
    promoted,
    interval,
    ceiling,
    droppedColumns: dropped,
    seconds: (performance.now() - started) / 1000,
  };
}

/** ml_model_performance.accuracy: MAE for regression, ROC AUC for classification. */
const accuracyOf = (task: Task, m: HoldoutMetrics): number | null =>
  (task === 'regression' ? m.mae : m.auc) ?? null;

const metricName = (m: GateMetric): string => (m === 'log_loss' ? 'log-loss' : m.toUpperCase());

function gateValue(metric: GateMetric, m: HoldoutMetrics): number {
  const v = metric === 'mae' ? m.mae : metric === 'rmse' ? m.rmse : m.log_loss;
  return v ?? NaN;
}

const selectionMetric = (task: Task): string => (task === 'regression' ? 'mae' : 'log_loss');

/** Builds the labels and frame of one service. */
async function frameFor(
  service: TrainService,
  counted: readonly Scan[],
  range: { start: number; end: number },
  opts: JobOptions,
  deps: JobDeps,
  rentalReference: () => Promise<{ table: ColumnTable; rentals: number }>,
): Promise<Frame> {
  const say = (line: string): void => deps.progress(`[${service}] ${line}`);
  const t0 = performance.now();
  let frame: Frame;
  if (service === 'demand') {
    const series = dailyUnits(counted, { zoneOf: opts.zoneOf, start: range.start, end: range.end });
    const labels = demandLabels(series, opts.zoneOf);
    say(
      `${labels.length} labels (${series.length} class-store series); reading features as of each day's cut-off`,
    );
    frame = await demandFrame(labels, deps.store, opts.historicalWindow);
  } else if (service === 'maintenance') {
    const labels = maintenanceLabels(counted, opts.k);
    const positives = labels.reduce((s, l) => s + l.needs_repair, 0);
    say(
      `${labels.length} rentals with ${opts.k} later rentals in the history, ${positives} (${((100 * positives) / Math.max(1, labels.length)).toFixed(1)}%) ` +
        `needing repair; reading features as of each checkout`,
    );
    frame = await rentalFrame(
      labels,
      { name: 'needs_repair', value: (l) => l.needs_repair },
      deps.store,
      opts.historicalWindow,
    );
  } else {
    const labels = qualityLabels(counted);
    say(`${labels.length} rentals with a return in the history; reading features as of each checkout`);
    frame = await rentalFrame(
      labels,
      { name: 'grade_at_return', value: (l) => l.grade_at_return },
      deps.store,
      opts.historicalWindow,
    );
  }
  if (service !== 'demand') {
    const { table: reference, rentals } = await rentalReference();
    frame = { ...frame, reference };
    say(`drift reference: the ${rentals} rentals of the last ${opts.holdoutDays} days, labelled or not`);
  }
  const covered = Object.entries(frame.report.coverage)
    .map(([c, v]) => `${c} ${(100 * v).toFixed(0)}%`)
    .join(', ');
  say(
    `frame ${frame.table.numRows()} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s; every value stamped at or before its ` +
      `label time (latest lead ${Number.isFinite(frame.report.maxLeadMs) ? `${frame.report.maxLeadMs} ms` : 'n/a'}); coverage: ${covered}`,
  );
  return frame;
}

export interface TargetFailure {
  readonly service: string;
  readonly error: TagstreamError;
}

export interface JobResult {
  readonly reports: readonly TargetReport[];
  /** Services that could not be trained (too little history, a store or registry error); the others still ran. */
  readonly failures: readonly TargetFailure[];
}

/** Runs the job for the services asked for; one report per registry service, or its failure. */
export async function runTrainingJob(opts: JobOptions, deps: JobDeps): Promise<JobResult> {
  const t0 = performance.now();
  deps.progress(
    `loading scans from id_transactions${opts.from === undefined ? '' : ` from ${new Date(opts.from).toISOString()}`}` +
      `${opts.to === undefined ? '' : ` before ${new Date(opts.to).toISOString()}`}`,
  );
  const scans = await loadScans(deps.sql, {
    ...(opts.from === undefined ? {} : { from: opts.from }),
    ...(opts.to === undefined ? {} : { to: opts.to }),
  });
  if (scans.length === 0)
    throw new TagstreamError(
      'CONFIG_INVALID',
      'id_transactions has no scans in the range: run the pipeline (history sink) or `npm run sim:train -- backfill --from-sim DIR` first',
    );
  const counted = countedScans(scans, opts.dedupWindowMs);
  let start = Infinity;
  let end = -Infinity;
  for (const s of scans) {
    start = Math.min(start, s.time);
    end = Math.max(end, s.time);
  }
  deps.progress(
    `${scans.length} scans (${counted.length} counted after de-duplication within ${opts.dedupWindowMs} ms), ` +
      `${new Date(start).toISOString()} .. ${new Date(end).toISOString()}, read in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const range = { start: opts.from ?? start, end: opts.to === undefined ? end : Math.min(end, opts.to - 1) };
  const run = runId(deps.now());
  const reports: TargetReport[] = [];
  const failures: TargetFailure[] = [];
  const fail = (service: string, e: unknown): void => {
    const error = toTagstreamError(e);
    failures.push({ service, error });
    deps.progress(`[${service}] FAILED: ${error.code} ${error.message}`);
  };
  // The drift reference of the rental services (maintenance and quality read the same rows): every rental of the last
  // holdoutDays days, labelled or not (allRentals says why); built once, when the first of them asks.
  let reference: Promise<{ table: ColumnTable; rentals: number }> | undefined;
  const rentalReference = () =>
    (reference ??= (async () => {
      const recent = allRentals(counted, range.end - opts.holdoutDays * 86_400_000);
      const { table } = await rentalFrame(
        recent,
        { name: 'unlabelled', value: () => NaN },
        deps.store,
        opts.historicalWindow,
      );
      return { table, rentals: recent.length };
    })());
  for (const service of opts.services) {
    let frame: Frame;
    try {
      frame = await frameFor(service, counted, range, opts, deps, rentalReference);
    } catch (e) {
      for (const spec of targetSpecs(service)) fail(spec.service, e);
      continue;
    }
    for (const spec of targetSpecs(service)) {
      try {
        reports.push(await trainTarget(spec, frame, opts, deps, run));
      } catch (e) {
        fail(spec.service, e);
      }
    }
  }
  return { reports, failures };
}

/** What serves: `ensemble of a + b + c` or the chosen algorithm. */
const served = (r: TargetReport): string =>
  r.ensemble.served
    ? `ensemble of ${r.ensemble.weights.map((w) => w.algorithm).join(' + ')}`
    : r.best.algorithm;

/** The lines of the final summary. */
export function summaryLines({ reports, failures }: JobResult): string[] {
  const lines: string[] = [];
  for (const f of failures) lines.push(`${f.service}: not trained: ${f.error.code} ${f.error.message}`);
  for (const r of reports) {
    const holdout = `holdout ${new Date(r.holdoutRange[0]).toISOString().slice(0, 10)}..${new Date(r.holdoutRange[1]).toISOString().slice(0, 10)} (${r.rows.holdout} rows)`;
    if (r.task === 'regression') {
      const metric = r.gateMetric === 'rmse' ? 'RMSE' : 'MAE';
      const b = gateValue(r.gateMetric, r.baseline.metrics);
      const m = gateValue(r.gateMetric, r.holdout);
      lines.push(
        `${r.service}: ${r.baseline.name} ${metric} ${fmt(b)}, model ${metric} ${fmt(m)} (${served(r)}), ` +
          `improvement ${(100 * (1 - m / b)).toFixed(1)}%; ${holdout}`,
      );
    } else {
      lines.push(
        `${r.service}: ROC AUC ${fmt(r.holdout.auc)}, PR-AUC ${fmt(r.holdout.pr_auc)} (${served(r)}), log-loss ${fmt(r.holdout.log_loss)}; ` +
          `${r.baseline.name}: ROC AUC ${fmt(r.baseline.metrics.auc)}, log-loss ${fmt(r.baseline.metrics.log_loss)}; ${holdout}`,
      );
    }
    const e = r.ensemble;
    lines.push(
      `  members ${r.algorithms.map((a) => `${a.algorithm} ${fmt(gateValue(r.gateMetric, a.holdout))}`).join(', ')}; ` +
        `ensemble ${fmt(gateValue(r.gateMetric, e.metrics))}: ` +
        (e.served ? 'serves (beats the best member)' : `not served (does not beat ${e.bestMember})`),
    );
    if (r.interval)
      lines.push(
        `  ${(100 * r.interval.coverage).toFixed(0)}% interval: holdout coverage ${(100 * r.interval.holdoutCoverage).toFixed(1)}%`,
      );
    if (r.ceiling)
      lines.push(
        `  ceiling (true probabilities, same rows): ROC AUC ${fmt(r.ceiling.auc)}, PR-AUC ${fmt(r.ceiling.prAuc)}; ` +
          `model ${(100 * r.ceiling.ratio).toFixed(1)}% of the ceiling's ROC AUC, PR-AUC ${fmt(r.ceiling.modelPrAuc)}`,
      );
    if (r.production)
      lines.push(
        `  production ${r.production.version}: ${r.production.metrics ? `${r.gateMetric} ${fmt(gateValue(r.gateMetric, r.production.metrics))}` : 'not scored'}` +
          (r.production.note ? ` (${r.production.note})` : ''),
      );
    lines.push(
      `  gate ${r.gate.pass ? 'PASSED' : 'FAILED'}: ${r.gate.reasons.join('; ')}; ${r.version} ${r.promoted ? 'promoted to production' : 'registered as candidate'}`,
    );
  }
  return lines;
}
