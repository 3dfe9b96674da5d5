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
import { baseRate, logLoss, mae, rmse, rocAuc } from '../metrics.ts';
import type { ModelSpec } from '../model-spec.ts';
import { exportOnnx } from '../onnx/export.ts';
import { predictSpec, type CategoricalRow, type NumericRow } from '../predict.ts';
import { categoryValue, deriveFeatures, numericValue } from '../preprocess.ts';
import { promoteAndPublish, type ModelVersionPublisher } from '../registry/publisher.ts';
import type { ModelRecord, ModelRegistry } from '../registry/registry.ts';
import { demandFrame, rentalFrame, type Frame } from './features.ts';
import { gate, type GateDecision, type GateMetric } from './gate.ts';
import { loadScans } from './history.ts';
import {
  countedScans,
  dailyUnits,
  demandLabels,
  maintenanceLabels,
  qualityLabels,
  type MaintenanceLabel,
  type QualityLabel,
  type Scan,
} from './labels.ts';
import { logPerformance, markActive, type PerformanceRow } from './performance-log.ts';

/** What `--service` takes; `demand` trains two registry services, `demand` (next day) and `demand_7d`. */
export const TRAIN_SERVICES = ['demand', 'maintenance', 'quality'] as const;
export type TrainService = (typeof TRAIN_SERVICES)[number];

export const DEFAULT_HOLDOUT_DAYS = 60;
export const DEFAULT_K = 3;

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
  readonly holdout: HoldoutMetrics;
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
  return { rows: y.length, log_loss: logLoss(y, pred), auc: rocAuc(y, pred), base_rate: baseRate(y) };
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

/** The production model's holdout score, or why it has none. */
function scoreProduction(
  prod: ModelRecord,
  derivedHoldout: ColumnTable,
  task: Task,
  y: Float64Array,
): { metrics: HoldoutMetrics } | { unscorable: string } {
  let pred: Float64Array | { missing: string[] };
  try {
    pred = predictTable(prod.spec, derivedHoldout);
  } catch (e) {
    return { unscorable: `its spec does not run: ${(e as Error).message}` };
  }
  if (!(pred instanceof Float64Array))
    return { unscorable: `it needs columns this frame lacks: ${pred.missing.join(', ')}` };
  return { metrics: metricsOf(task, y, pred) };
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

  // Holdout: every algorithm's refitted model, the baseline and production on the same rows.
  const derived = deriveFeatures(holdout);
  const y = numbers(holdout, spec.target);
  const algorithms = result.algorithms.map((a: AlgorithmResult) => {
    const pred = predictTable(a.spec, derived);
    if (!(pred instanceof Float64Array))
      throw new TagstreamError('INTERNAL', `holdout lacks ${pred.missing.join(', ')}`);
    return { algorithm: a.algorithm, cvScore: a.score, holdout: metricsOf(spec.task, y, pred), result: a };
  });
  const chosen = algorithms.find((a) => a.algorithm === result.best.algorithm)!;
  const baselinePred = spec.baseline.predict(train, holdout);
  const baselineMetrics = metricsOf(spec.task, y, baselinePred);
  const metricValue = (m: HoldoutMetrics): number => gateValue(spec.gateMetric, m);

  const prod = await deps.registry.production(spec.service);
  let production: TargetReport['production'] = null;
  let gateProduction: Parameters<typeof gate>[0]['production'] = null;
  if (prod) {
    const scored = scoreProduction(prod, derived, spec.task, y);
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
    candidate: metricValue(chosen.holdout),
    baseline: { name: spec.baseline.name, value: metricValue(baselineMetrics) },
    production: gateProduction,
    ...(opts.minImprovement === undefined ? {} : { minImprovement: opts.minImprovement }),
  });

  // Register the chosen model (ONNX, preprocessing inside) as a candidate; the gate decides on promotion.
  const [trainFrom, trainTo] = span(numbers(train, spec.labelTime));
  const modelMetrics = {
    ...chosen.holdout,
    cv_score: chosen.cvScore,
    cv_metric: result.metric,
    baseline: { name: spec.baseline.name, ...baselineMetrics },
    production: production === null ? null : { version: production.version, ...(production.metrics ?? {}) },
    gate: { pass: decision.pass, reasons: decision.reasons, improvement: decision.improvement },
    train_rows: train.numRows(),
    holdout_rows: holdout.numRows(),
    train_from: trainFrom,
    train_until: trainTo,
    holdout_from: holdoutRange[0],
    holdout_to: holdoutRange[1],
    target: spec.target,
  };
  const onnx = exportOnnx(chosen.result.spec, { docString: `tagstream ${spec.service} (${spec.target})` });
  const { version } = await deps.registry.register({
    service: spec.service,
    algorithm: chosen.algorithm,
    spec: chosen.result.spec,
    onnx,
    metrics: modelMetrics,
    validationScore: metricValue(chosen.holdout),
    notes: `gate ${decision.pass ? 'passed' : 'failed'}: ${decision.reasons.join('; ')}`,
  });
  say(`registered ${version} (${chosen.algorithm}) as candidate`);

  let promoted = false;
  if (decision.pass && opts.promote) {
    const publisher = await deps.publisher();
    await promoteAndPublish(deps.registry, publisher, spec.service, version);
    promoted = true;
  }
  for (const r of decision.reasons) say(`gate: ${r}`);
  if (promoted) say(`gate passed: ${version} is production`);
  else if (decision.pass) say(`gate passed; not promoted (--no-promote)`);
  else say(`gate failed: production stays ${prod ? prod.version : '(none)'}`);

  const trainedAt = deps.now();
  const perf: PerformanceRow[] = algorithms.map((a) => ({
    service: spec.service,
    modelType: a.algorithm,
    modelVersion: a === chosen ? version : run,
    trainedAt,
    metrics:
      a === chosen
        ? modelMetrics
        : { ...a.holdout, cv_score: a.cvScore, cv_metric: result.metric, chosen: false, target: spec.target },
    accuracy: spec.task === 'regression' ? (a.holdout.mae ?? null) : (a.holdout.auc ?? null),
    params: {
      ...a.result.bestParams,
      seed: opts.seed,
      folds: opts.folds,
      gap: spec.gap,
      candidates: a.result.candidates.map((c) => ({ params: c.params, cv: c.folds.map((f) => f.score) })),
    },
    isActive: a === chosen && promoted,
  }));
  perf.push({
    service: spec.service,
    modelType: 'naive_baseline',
    modelVersion: run,
    trainedAt,
    metrics: { name: spec.baseline.name, ...baselineMetrics, target: spec.target },
    accuracy: spec.task === 'regression' ? (baselineMetrics.mae ?? null) : (baselineMetrics.auc ?? null),
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
    holdout: chosen.holdout,
    baseline: { name: spec.baseline.name, metrics: baselineMetrics },
    production,
    gate: decision,
    version,
    promoted,
    droppedColumns: dropped,
    seconds: (performance.now() - started) / 1000,
  };
}

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
    const labels: MaintenanceLabel[] = maintenanceLabels(counted, opts.k);
    const positives = labels.reduce((s, l) => s + l.needs_repair, 0);
    say(
      `${labels.length} rentals with ${opts.k} later rentals in the history, ${positives} (${((100 * positives) / Math.max(1, labels.length)).toFixed(1)}%) ` +
        `needing repair; reading features as of each checkout`,
    );
    frame = await rentalFrame(
      labels,
      { name: 'needs_repair', value: (l) => (l as MaintenanceLabel).needs_repair },
      deps.store,
      opts.historicalWindow,
    );
  } else {
    const labels: QualityLabel[] = qualityLabels(counted);
    say(`${labels.length} rentals with a return in the history; reading features as of each checkout`);
    frame = await rentalFrame(
      labels,
      { name: 'grade_at_return', value: (l) => (l as QualityLabel).grade_at_return },
      deps.store,
      opts.historicalWindow,
    );
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
  for (const service of opts.services) {
    let frame: Frame;
    try {
      frame = await frameFor(service, counted, range, opts, deps);
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
        `${r.service}: ${r.baseline.name} ${metric} ${fmt(b)}, model ${metric} ${fmt(m)} (${r.best.algorithm}), ` +
          `improvement ${(100 * (1 - m / b)).toFixed(1)}%; ${holdout}`,
      );
    } else {
      lines.push(
        `${r.service}: ROC AUC ${fmt(r.holdout.auc)} (${r.best.algorithm}), log-loss ${fmt(r.holdout.log_loss)}; ` +
          `${r.baseline.name}: ROC AUC ${fmt(r.baseline.metrics.auc)}, log-loss ${fmt(r.baseline.metrics.log_loss)}; ${holdout}`,
      );
    }
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
