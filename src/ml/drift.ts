// Drift against the training reference: what a model's training rows looked like (bins of every numeric input, shares
// of every categorical one, bins of the model's own predictions), stored with the model in the registry, and the
// population stability index of live rows against it. Serving counts live rows into the same bins
// (src/serving/drift.ts); nothing here knows where the rows come from.
//
// PSI = Σ (c − r) · ln(c / r) over the bins, with a floor on empty shares so the logarithm stays finite. Numeric bins
// are the reference's deciles, so each holds about the same share of the training rows; a missing value (null, NaN)
// has a bin of its own, and so has a category training never saw. Rules of thumb: < 0.1 stable, 0.1–0.25 moderate,
// > 0.25 shifted.
//
// Like with like: a live window holds a day or so of rows, the reference many days; inputs that are slow-moving state
// (stock, items in repair) sit at one level within a day, so even an ordinary window differs from the reference as a
// whole. The reference therefore also keeps the PSI of its own windows (of the serving window's size, in time order,
// one starting every tenth of a window, each against the rest of the reference: chunkSpread), and the alert
// thresholds rise to what an ordinary period reaches there (driftThresholds: NannyML's chunked reference, mean + 3
// standard deviations, and at least the highest of those windows: a window's PSI is skewed, not normal).
import type { ColumnTable } from 'arquero';
import type { ModelSpec } from './model-spec.ts';
import { categoryValue, numericValue } from './preprocess.ts';

/** Bins of one numeric column: `edges.length + 1` value bins, then the missing bin. */
export interface NumericBins {
  /** Inner edges, ascending: bin i holds edges[i-1] < v <= edges[i]; the first and last are open-ended. */
  readonly edges: readonly number[];
  /** Share of the reference rows in each value bin (edges.length + 1 entries). */
  readonly proportions: readonly number[];
  /** Share of the reference rows without a value. The value shares and this sum to 1. */
  readonly missing: number;
}

/** Shares of one categorical column: one per training category, then unseen, then missing. */
export interface CategoryShares {
  readonly categories: readonly string[];
  /** Share of the reference rows per category (categories.length entries). */
  readonly proportions: readonly number[];
  /** Share of the reference rows without a value. */
  readonly missing: number;
}

/** The training data of one model, binned: what live inputs and predictions are compared with. */
export interface DriftReference {
  /** Training rows the shares were taken over. */
  readonly rows: number;
  /** Per numeric input (spec.preprocessing.numeric, derived features included). */
  readonly numeric: Readonly<Record<string, NumericBins>>;
  /** Per categorical input (spec.preprocessing.categorical). */
  readonly categorical: Readonly<Record<string, CategoryShares>>;
  /** The model's predictions on its training rows. */
  readonly prediction: NumericBins;
  /** The predictions' PSI in each window of the reference against the rest (absent: too few rows, or older models). */
  readonly chunks?: ChunkSpread;
}

/** PSI of the predictions of windows of the reference rows (in time order) against the rest of the reference. */
export interface ChunkSpread {
  /** Rows per window (the serving drift window's size at training). */
  readonly rows: number;
  /** Rows between the starts of two windows (absent in older references: windows did not overlap). */
  readonly step?: number;
  readonly psi: readonly number[];
}

export interface DriftReferenceOptions {
  /** Value bins per numeric column (fewer where values repeat). Default 10. */
  readonly bins?: number;
  /** Rows per window of the chunk spread (the serving drift window); none is computed without it. */
  readonly windowRows?: number;
  /** Event time of each row, to cut the windows in time order (default: the rows' order). */
  readonly time?: ArrayLike<number>;
}

/** Rows of serving's drift window where nobody says (serving.alerts.drift.window's default). */
export const DEFAULT_DRIFT_WINDOW = 500;

/** Fewest full windows the reference must hold for its spread to set the thresholds. */
export const MIN_CHUNKS = 3;

export const DEFAULT_DRIFT_BINS = 10;

/** Share floor of an empty bin, on both sides of the PSI sum. */
export const PSI_FLOOR = 1e-4;

/** Inner bin edges at the values' quantiles (duplicates removed): about the same share in each bin. */
export function quantileEdges(values: readonly number[] | Float64Array, bins: number): number[] {
  const sorted = Float64Array.from(values).sort();
  const edges: number[] = [];
  if (sorted.length === 0) return edges;
  for (let i = 1; i < bins; i++) {
    const q = sorted[Math.min(sorted.length - 1, Math.floor((i * sorted.length) / bins))]!;
    // The largest value as an edge would leave the last bin empty by construction.
    if (q < sorted[sorted.length - 1]! && (edges.length === 0 || q > edges[edges.length - 1]!)) edges.push(q);
  }
  return edges;
}

/** The value bin of a finite `v` (0..edges.length): the first edge at or above it. */
export function valueBin(edges: readonly number[], v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v > edges[mid]!) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Slots of a numeric column: its value bins, then missing. */
export const numericSlots = (b: NumericBins): number => b.edges.length + 2;

/** The slot of a numeric value: its value bin, or the last slot when it is missing. */
export function numericSlot(b: NumericBins, v: unknown): number {
  const x = numericValue(v);
  return Number.isFinite(x) ? valueBin(b.edges, x) : b.edges.length + 1;
}

/** Slots of a categorical column: its categories, then unseen, then missing. */
export const categorySlots = (c: CategoryShares): number => c.categories.length + 2;

/** The slot of a category; the categories are sorted (as fitPreprocessing sorts them), so a binary search finds it. */
export function categorySlot(c: CategoryShares, v: unknown): number {
  const s = categoryValue(v);
  if (s === null) return c.categories.length + 1;
  let lo = 0;
  let hi = c.categories.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c.categories[mid]! < s) lo = mid + 1;
    else hi = mid;
  }
  return c.categories[lo] === s ? lo : c.categories.length;
}

/** Reference shares per slot (summing to 1). */
export const numericShares = (b: NumericBins): number[] => [...b.proportions, b.missing];
export const categoryShares = (c: CategoryShares): number[] => [...c.proportions, 0, c.missing];

/** Bins a numeric sample: deciles of its finite values, and the share of the rest. */
export function numericBins(values: ArrayLike<unknown>, bins: number = DEFAULT_DRIFT_BINS): NumericBins {
  const n = values.length;
  const finite: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = numericValue(values[i]);
    if (Number.isFinite(x)) finite.push(x);
  }
  const edges = quantileEdges(finite, bins);
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const x of finite) counts[valueBin(edges, x)]!++;
  return {
    edges,
    proportions: counts.map((c) => (n === 0 ? 0 : c / n)),
    missing: n === 0 ? 0 : (n - finite.length) / n,
  };
}

/** Shares of each distinct category of a sample (sorted), and of missing values. */
export function categoryBins(values: ArrayLike<unknown>): CategoryShares {
  const n = values.length;
  const counts = new Map<string, number>();
  let missing = 0;
  for (let i = 0; i < n; i++) {
    const s = categoryValue(values[i]);
    if (s === null) missing++;
    else counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  const categories = [...counts.keys()].sort();
  return {
    categories,
    proportions: categories.map((c) => counts.get(c)! / n),
    missing: n === 0 ? 0 : missing / n,
  };
}

/**
 * The drift reference of a model: its numeric and categorical inputs binned over the training rows (after
 * deriveFeatures), and its predictions on those rows. Columns the table lacks count as missing throughout.
 */
export function driftReference(
  spec: ModelSpec,
  derivedTrain: ColumnTable,
  predictions: Float64Array,
  options: DriftReferenceOptions = {},
): DriftReference {
  const bins = options.bins ?? DEFAULT_DRIFT_BINS;
  const rows = derivedTrain.numRows();
  const present = new Set(derivedTrain.columnNames());
  const column = (name: string): ArrayLike<unknown> =>
    present.has(name) ? derivedTrain.array(name) : new Array<null>(rows).fill(null);
  const { numeric, categorical } = spec.preprocessing;
  const prediction = numericBins(predictions, bins);
  const chunks =
    options.windowRows === undefined
      ? undefined
      : chunkSpread(prediction, predictions, options.windowRows, options.time);
  return {
    rows,
    numeric: Object.fromEntries(numeric.map((c) => [c, numericBins(column(c), bins)])),
    categorical: Object.fromEntries(categorical.map((c) => [c, categoryBins(column(c))])),
    prediction,
    ...(chunks ? { chunks } : {}),
  };
}

/** Windows of the chunk spread per window length: a window starts every `windowRows / SPREAD_STEPS` rows. */
export const SPREAD_STEPS = 10;

/**
 * The PSI of every window of `windowRows` consecutive predictions (ordered by `time` when given), one starting every
 * `windowRows / SPREAD_STEPS` rows, each against the rest of the reference (the reference without that window, in the
 * same bins); undefined when fewer than MIN_CHUNKS whole windows fit.
 *
 * Why sliding and left out: serving checks its window at every row, so what it can reach on an ordinary day is the
 * PSI of a window starting anywhere, not only at multiples of its length; and a live window is not part of the
 * reference it is compared with, while a window of the reference counted against the whole would be compared partly
 * with itself (its PSI understated by about its share of the reference).
 */
export function chunkSpread(
  bins: NumericBins,
  predictions: ArrayLike<number>,
  windowRows: number,
  time?: ArrayLike<number>,
): ChunkSpread | undefined {
  const n = predictions.length;
  if (windowRows < 1 || Math.floor(n / windowRows) < MIN_CHUNKS) return undefined;
  const order = Array.from({ length: n }, (_, i) => i);
  if (time) order.sort((a, b) => time[a]! - time[b]! || a - b);
  const slot = order.map((i) => numericSlot(bins, predictions[i]));
  const slots = numericSlots(bins);
  const all = new Array<number>(slots).fill(0);
  for (const s of slot) all[s]!++;
  const step = Math.max(1, Math.floor(windowRows / SPREAD_STEPS));
  const counts = new Array<number>(slots).fill(0);
  for (let i = 0; i < windowRows; i++) counts[slot[i]!]!++;
  const psi: number[] = [];
  for (let start = 0; start + windowRows <= n; start += step) {
    // Slide from the previous window: its first `step` rows leave, the `step` after its end join.
    for (let i = start - step; start > 0 && i < start; i++) {
      counts[slot[i]!]!--;
      counts[slot[i + windowRows]!]!++;
    }
    const rest = all.map((c, s) => (c - counts[s]!) / (n - windowRows));
    psi.push(psiOfCounts(rest, counts));
  }
  return { rows: windowRows, step, psi };
}

/** The PSI thresholds of a drift alert. */
export interface DriftThresholds {
  readonly warning: number;
  readonly critical: number;
}

/**
 * The thresholds for a reference: the configured ones, raised where an ordinary window of the reference itself
 * reaches further — the warning to the larger of mean + 3 standard deviations of its chunk spread and the highest
 * PSI of those windows, the critical as far above it as configured above the warning. A window's PSI is skewed (a
 * sum of squares, like chi-square), so mean + 3 sd alone can fall below windows the reference itself holds: on
 * 2026-12-06 quality's warning came out at 0.196 against reference windows up to 0.238, and an ordinary live day
 * warned at 0.197. A live window no further off than the training data's own is no drift.
 */
export function driftThresholds(reference: DriftReference, configured: DriftThresholds): DriftThresholds {
  const psi = reference.chunks?.psi;
  if (!psi || psi.length < MIN_CHUNKS) return configured;
  const mean = psi.reduce((a, b) => a + b, 0) / psi.length;
  const sd = Math.sqrt(psi.reduce((a, b) => a + (b - mean) ** 2, 0) / (psi.length - 1));
  const ordinary = Math.max(mean + 3 * sd, ...psi);
  if (ordinary <= configured.warning) return configured;
  return {
    warning: ordinary,
    critical: Math.max(configured.critical, ordinary + (configured.critical - configured.warning)),
  };
}

/** PSI of slot counts of a live sample against the reference shares of the same slots; 0 for an empty sample. */
export function psiOfCounts(reference: readonly number[], counts: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return 0;
  let sum = 0;
  reference.forEach((share, i) => {
    const r = Math.max(share, PSI_FLOOR);
    const c = Math.max((counts[i] ?? 0) / total, PSI_FLOOR);
    sum += (c - r) * Math.log(c / r);
  });
  return sum;
}

/** PSI of a live numeric sample against a column's reference bins. */
export function numericPsi(b: NumericBins, values: ArrayLike<unknown>): number {
  const counts = new Array<number>(numericSlots(b)).fill(0);
  for (let i = 0; i < values.length; i++) counts[numericSlot(b, values[i])]!++;
  return psiOfCounts(numericShares(b), counts);
}

/** PSI of a live categorical sample against a column's reference shares. */
export function categoryPsi(c: CategoryShares, values: ArrayLike<unknown>): number {
  const counts = new Array<number>(categorySlots(c)).fill(0);
  for (let i = 0; i < values.length; i++) counts[categorySlot(c, values[i])]!++;
  return psiOfCounts(categoryShares(c), counts);
}

/** Checks the shape of a reference read back from JSON (the registry stores it as text). */
export function isDriftReference(v: unknown): v is DriftReference {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const isBins = (b: unknown): boolean => {
    if (typeof b !== 'object' || b === null) return false;
    const x = b as Record<string, unknown>;
    return (
      Array.isArray(x['edges']) &&
      Array.isArray(x['proportions']) &&
      x['proportions'].length === x['edges'].length + 1 &&
      typeof x['missing'] === 'number'
    );
  };
  const isShares = (c: unknown): boolean => {
    if (typeof c !== 'object' || c === null) return false;
    const x = c as Record<string, unknown>;
    return (
      Array.isArray(x['categories']) &&
      Array.isArray(x['proportions']) &&
      x['proportions'].length === x['categories'].length &&
      typeof x['missing'] === 'number'
    );
  };
  const chunks = r['chunks'] as Record<string, unknown> | undefined;
  return (
    (chunks === undefined ||
      (typeof chunks === 'object' &&
        chunks !== null &&
        typeof chunks['rows'] === 'number' &&
        (chunks['step'] === undefined || typeof chunks['step'] === 'number') &&
        Array.isArray(chunks['psi']) &&
        chunks['psi'].every((x) => typeof x === 'number'))) &&
    typeof r['rows'] === 'number' &&
    typeof r['numeric'] === 'object' &&
    r['numeric'] !== null &&
    Object.values(r['numeric']).every(isBins) &&
    typeof r['categorical'] === 'object' &&
    r['categorical'] !== null &&
    Object.values(r['categorical']).every(isShares) &&
    isBins(r['prediction'])
  );
}
