// Preprocessing for training, after the seed's DataTransformer: derived features (arquero for tables, deriveRow for
// one record at serving: the two must agree), then impute → one-hot → scale fitted on the training split only.
// The fitted result is the plain-data Preprocessing of the ModelSpec, so serving applies exactly what training fitted.
import type { ColumnTable } from 'arquero';
import { TagstreamError } from '../errors.ts';
import { defaultValue } from '../store/defaults.ts';
import type { Preprocessing } from './model-spec.ts';

/** One input record (a row of features by name), as served. */
export type FeatureRecord = Readonly<Record<string, unknown>>;

/**
 * A derived feature: its inputs (each a list of accepted column names, the first present wins), the arquero
 * expression over placeholders $0, $1, … and the same computation in plain TypeScript for deriveRow. A missing
 * input (anything but a finite number) makes the derived value NaN, which the imputer then fills.
 */
interface DerivedFeature {
  readonly name: string;
  readonly inputs: readonly (readonly string[])[];
  readonly expr: string;
  readonly fn: (x: readonly number[]) => number;
}

const HOUR = ['scan_hour', 'hour'] as const;
/** 0 = Monday … 6 = Sunday, as the seed's pandas dayofweek and operators/features.ts localParts. */
const DAY_OF_WEEK = ['scan_day_of_week', 'day_of_week'] as const;

/** In order: later entries may read earlier ones (is_weekend feeds the weekend-temperature interaction). */
const DERIVED: readonly DerivedFeature[] = [
  {
    name: 'is_business_hours',
    inputs: [HOUR],
    expr: '$0 >= 8 && $0 <= 18 ? 1 : 0',
    fn: ([h]) => (h! >= 8 && h! <= 18 ? 1 : 0),
  },
  {
    name: 'is_peak_hours',
    inputs: [HOUR],
    expr: '$0 >= 10 && $0 <= 16 ? 1 : 0',
    fn: ([h]) => (h! >= 10 && h! <= 16 ? 1 : 0),
  },
  {
    name: 'is_weekend',
    inputs: [DAY_OF_WEEK],
    expr: '$0 >= 5 ? 1 : 0',
    fn: ([d]) => (d! >= 5 ? 1 : 0),
  },
  {
    // The seed's bins (0, 0.5], (0.5, 1.5], (1.5, ∞) → 0, 1, 2; zero and below join bin 0 (pandas gives NaN there).
    name: 'usage_category',
    inputs: [['usage_frequency_7d']],
    expr: '$0 <= 0.5 ? 0 : $0 <= 1.5 ? 1 : 2',
    fn: ([u]) => (u! <= 0.5 ? 0 : u! <= 1.5 ? 1 : 2),
  },
  {
    // Grades run 1 (poor) .. 5 (like new).
    name: 'quality_alert',
    inputs: [['quality_grade']],
    expr: '$0 <= 2 ? 1 : 0',
    fn: ([q]) => (q! <= 2 ? 1 : 0),
  },
  {
    // Heavy use of a worn item: wear grows as the grade falls below 5.
    name: 'usage_wear_interaction',
    inputs: [['usage_frequency_7d'], ['quality_grade']],
    expr: '$0 * (5 - $1)',
    fn: ([u, q]) => u! * (5 - q!),
  },
  {
    name: 'weekend_temperature_interaction',
    inputs: [['temperature_f'], ['is_weekend']],
    expr: '$0 * $1',
    fn: ([t, w]) => t! * w!,
  },
  {
    name: 'confidence_season_interaction',
    inputs: [['consumer_confidence'], ['is_wedding_season']],
    expr: '$0 * $1',
    fn: ([c, s]) => c! * s!,
  },
];

/** Names of all derived features, in the order they are derived. */
export const DERIVED_FEATURES: readonly string[] = DERIVED.map((f) => f.name);

function resolveInputs(f: DerivedFeature, has: (column: string) => boolean): string[] | null {
  const out: string[] = [];
  for (const alternatives of f.inputs) {
    const found = alternatives.find(has);
    if (found === undefined) return null;
    out.push(found);
  }
  return out;
}

/** The derived features that deriveFeatures/deriveRow add to data with these columns, in order. */
export function derivedFeatureNames(columns: readonly string[]): string[] {
  const present = new Set(columns);
  const out: string[] = [];
  for (const f of DERIVED) {
    if (resolveInputs(f, (c) => present.has(c)) === null) continue;
    present.add(f.name);
    out.push(f.name);
  }
  return out;
}

/**
 * Adds the derived features whose inputs exist in `table` (arquero expressions, no closures). An existing column
 * of the same name is replaced, so deriving twice changes nothing.
 */
export function deriveFeatures(table: ColumnTable): ColumnTable {
  let t = table;
  for (const f of DERIVED) {
    const columns = new Set(t.columnNames());
    const inputs = resolveInputs(f, (c) => columns.has(c));
    if (inputs === null) continue;
    const ref = inputs.map((c) => `d[${JSON.stringify(c)}]`);
    const guard = ref.map((r) => `op.is_finite(${r})`).join(' && ');
    const body = f.expr.replace(/\$(\d)/g, (_, i: string) => ref[Number(i)]!);
    t = t.derive({ [f.name]: `d => (${guard}) ? (${body}) : NaN` });
  }
  return t;
}

/** deriveFeatures for one record (serving): same features, same values, on a copy of the record. */
export function deriveRow(record: FeatureRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { ...record };
  for (const f of DERIVED) {
    const inputs = resolveInputs(f, (c) => Object.hasOwn(out, c));
    if (inputs === null) continue;
    const x = inputs.map((c) => out[c]);
    out[f.name] = x.every((v) => Number.isFinite(v)) ? f.fn(x as number[]) : NaN;
  }
  return out;
}

export interface PreprocessOptions {
  /** Numeric columns (derived features included), in the order of the feature vector. */
  readonly numeric: readonly string[];
  /** Categorical (string) columns; each becomes one indicator per training-split category. */
  readonly categorical: readonly string[];
  /** Standard scaling (linear models); false gives offset 0 / scale 1 (trees). */
  readonly scale: boolean;
}

/** A numeric input value; null, undefined, NaN and anything unreadable are missing (NaN). */
export function numericValue(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return NaN;
}

/** A categorical input value; null, undefined and NaN are missing (encoded as all zeros, like an unknown one). */
export function categoryValue(v: unknown): string | null {
  if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) return null;
  return String(v);
}

function checkColumns(table: ColumnTable, columns: readonly string[]): void {
  const present = new Set(table.columnNames());
  const missing = columns.filter((c) => !present.has(c));
  if (missing.length > 0)
    throw new TagstreamError('CONFIG_INVALID', `preprocessing: unknown column(s) ${missing.join(', ')}`, {
      details: { missing, columns: [...present] },
    });
}

/** Below this (relative to the mean's magnitude) a column counts as constant: rounding noise is not spread. */
const CONSTANT_STD = 1e-12;

/**
 * Fits impute → one-hot → scale on the training split: impute values are the training means (the feature's
 * documented default when the split has no value), categories the split's distinct values (sorted), and with
 * `scale` the offset/scale standardise each column of the imputed, encoded training matrix (population std;
 * scale 1 for a constant column).
 */
export function fitPreprocessing(train: ColumnTable, opts: PreprocessOptions): Preprocessing {
  checkColumns(train, [...opts.numeric, ...opts.categorical]);
  const n = train.numRows();
  if (n === 0) throw new TagstreamError('CONFIG_INVALID', 'preprocessing: empty training split');

  const impute = opts.numeric.map((name) => {
    const values = train.array(name);
    let sum = 0;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const v = numericValue(values[i]);
      if (Number.isFinite(v)) {
        sum += v;
        count++;
      }
    }
    return count > 0 ? sum / count : defaultValue(name);
  });

  const categories = opts.categorical.map((name) => {
    const values = train.array(name);
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const c = categoryValue(values[i]);
      if (c !== null) seen.add(c);
    }
    return [...seen].sort();
  });

  const unscaled: Preprocessing = {
    numeric: [...opts.numeric],
    impute,
    categorical: [...opts.categorical],
    categories,
    offset: [],
    scale: [],
  };
  const width = featureWidth(unscaled);
  if (!opts.scale)
    return { ...unscaled, offset: new Array<number>(width).fill(0), scale: new Array<number>(width).fill(1) };

  // Two passes over the encoded training rows (mean, then squared deviations) for a stable variance.
  const rows = toMatrix(train, {
    ...unscaled,
    offset: new Array<number>(width).fill(0),
    scale: new Array<number>(width).fill(1),
  });
  const mean = new Float64Array(width);
  for (const r of rows) for (let j = 0; j < width; j++) mean[j]! += r[j]!;
  for (let j = 0; j < width; j++) mean[j]! /= n;
  const ss = new Float64Array(width);
  for (const r of rows)
    for (let j = 0; j < width; j++) {
      const d = r[j]! - mean[j]!;
      ss[j]! += d * d;
    }
  const offset: number[] = [];
  const scale: number[] = [];
  for (let j = 0; j < width; j++) {
    const std = Math.sqrt(ss[j]! / n);
    offset.push(mean[j]!);
    scale.push(std > CONSTANT_STD * Math.max(1, Math.abs(mean[j]!)) ? 1 / std : 1);
  }
  return { ...unscaled, offset, scale };
}

/** Length of the preprocessed feature vector: numeric columns plus one indicator per known category. */
export function featureWidth(p: Preprocessing): number {
  return p.numeric.length + p.categories.reduce((s, c) => s + c.length, 0);
}

/** Names of the preprocessed features (`column=category` for indicators), e.g. for importances. */
export function featureNames(p: Preprocessing): string[] {
  const out = [...p.numeric];
  p.categorical.forEach((name, j) => {
    for (const c of p.categories[j] ?? []) out.push(`${name}=${c}`);
  });
  return out;
}

/** Encodes one row; `num(j)` and `cat(j)` read the raw numeric and categorical inputs. */
function encode(
  p: Preprocessing,
  lookup: readonly Map<string, number>[],
  num: (j: number) => unknown,
  cat: (j: number) => unknown,
): Float64Array {
  const out = new Float64Array(p.offset.length);
  for (let j = 0; j < p.numeric.length; j++) {
    let v = numericValue(num(j));
    if (Number.isNaN(v)) v = p.impute[j]!;
    out[j] = (v - p.offset[j]!) * p.scale[j]!;
  }
  let k = p.numeric.length;
  for (let j = 0; j < p.categorical.length; j++) {
    const known = p.categories[j]!;
    const c = categoryValue(cat(j));
    const hit = c === null ? undefined : lookup[j]!.get(c);
    for (let m = 0; m < known.length; m++, k++) out[k] = ((m === hit ? 1 : 0) - p.offset[k]!) * p.scale[k]!;
  }
  return out;
}

function lookups(p: Preprocessing): Map<string, number>[] {
  return p.categories.map((cs) => new Map(cs.map((c, i) => [c, i])));
}

/**
 * The preprocessed feature vectors of `table` (derived features must already be there): impute missing numerics,
 * one-hot the categoricals (an unknown or missing category is all zeros), then (x - offset) * scale.
 */
export function toMatrix(table: ColumnTable, p: Preprocessing): Float64Array[] {
  checkColumns(table, [...p.numeric, ...p.categorical]);
  const num = p.numeric.map((c) => table.array(c));
  const cat = p.categorical.map((c) => table.array(c));
  const lookup = lookups(p);
  const rows: Float64Array[] = [];
  for (let i = 0, n = table.numRows(); i < n; i++)
    rows.push(
      encode(
        p,
        lookup,
        (j) => num[j]![i],
        (j) => cat[j]![i],
      ),
    );
  return rows;
}

/** toMatrix for one record (after deriveRow); a column absent from the record counts as missing. */
export function transformRow(record: FeatureRecord, p: Preprocessing): Float64Array {
  return encode(
    p,
    lookups(p),
    (j) => record[p.numeric[j]!],
    (j) => record[p.categorical[j]!],
  );
}
