// Preprocessing for training, after the seed's DataTransformer: derived features (arquero for tables here, deriveRow
// in src/features/derive.ts for one record at serving, both from one DERIVED list), then impute → one-hot → scale
// fitted on the training split only. The fitted result is the plain-data Preprocessing of the ModelSpec, so serving
// applies exactly what training fitted.
import type { ColumnTable } from 'arquero';
import { TagstreamError } from '../errors.ts';
import { DERIVED, resolveInputs, type FeatureRecord } from '../features/derive.ts';
import { defaultValue } from '../store/defaults.ts';
import type { Preprocessing } from './model-spec.ts';

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

  // Per column of the encoded training rows, two passes (mean, then squared deviations) for a stable variance, in
  // row order; the encoded matrix itself is never built.
  const offset: number[] = [];
  const scale: number[] = [];
  const fit = (value: (i: number) => number): void => {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += value(i);
    mean /= n;
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const d = value(i) - mean;
      ss += d * d;
    }
    const std = Math.sqrt(ss / n);
    offset.push(mean);
    scale.push(std > CONSTANT_STD * Math.max(1, Math.abs(mean)) ? 1 / std : 1);
  };
  opts.numeric.forEach((name, j) => {
    const values = train.array(name);
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = numericValue(values[i]);
      x[i] = Number.isNaN(v) ? impute[j]! : v;
    }
    fit((i) => x[i]!);
  });
  opts.categorical.forEach((name, j) => {
    const values = train.array(name);
    const index = new Map(categories[j]!.map((c, k) => [c, k]));
    const hit = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = categoryValue(values[i]);
      hit[i] = c === null ? -1 : (index.get(c) ?? -1);
    }
    categories[j]!.forEach((_, k) => fit((i) => (hit[i] === k ? 1 : 0)));
  });
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

/** Encodes one row into `out`; `num(j)` and `cat(j)` read the raw numeric and categorical inputs. */
function encode(
  p: Preprocessing,
  lookup: readonly Map<string, number>[],
  num: (j: number) => unknown,
  cat: (j: number) => unknown,
  out: Float64Array = new Float64Array(p.offset.length),
): Float64Array {
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
 * one-hot the categoricals (an unknown or missing category is all zeros), then (x - offset) * scale. The rows are
 * views into one buffer.
 */
export function toMatrix(table: ColumnTable, p: Preprocessing): Float64Array[] {
  checkColumns(table, [...p.numeric, ...p.categorical]);
  const num = p.numeric.map((c) => table.array(c));
  const cat = p.categorical.map((c) => table.array(c));
  const lookup = lookups(p);
  const width = p.offset.length;
  const n = table.numRows();
  const buffer = new Float64Array(n * width);
  const rows: Float64Array[] = [];
  let i = 0;
  const numAt = (j: number): unknown => num[j]![i];
  const catAt = (j: number): unknown => cat[j]![i];
  for (; i < n; i++) rows.push(encode(p, lookup, numAt, catAt, buffer.subarray(i * width, (i + 1) * width)));
  return rows;
}

/**
 * toMatrix as serving computes it: every value in float32 arithmetic, exactly as the ONNX graph and the tree path of
 * src/ml/predict.ts do (input rounded to float32, float32 impute, float32 x - offset, then float32 times scale).
 * Scoring a model on these rows takes the branches serving takes: a tree threshold can sit between a value and its
 * float32 rounding. The rows are views into one buffer (row-major, featureWidth(p) values each).
 */
export function toMatrix32(table: ColumnTable, p: Preprocessing): Float32Array[] {
  checkColumns(table, [...p.numeric, ...p.categorical]);
  const num = p.numeric.map((c) => table.array(c));
  const cat = p.categorical.map((c) => table.array(c));
  const lookup = lookups(p);
  const impute = Float32Array.from(p.impute);
  const offset = Float32Array.from(p.offset);
  const scale = Float32Array.from(p.scale);
  const width = offset.length;
  const n = table.numRows();
  const buffer = new Float32Array(n * width);
  const rows: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const x = buffer.subarray(i * width, (i + 1) * width);
    for (let j = 0; j < p.numeric.length; j++) {
      const v = numericValue(num[j]![i]);
      x[j] = Number.isNaN(v) ? impute[j]! : v; // the store rounds to float32
    }
    let k = p.numeric.length;
    for (let j = 0; j < p.categorical.length; j++) {
      const c = categoryValue(cat[j]![i]);
      const hit = c === null ? undefined : lookup[j]!.get(c);
      if (hit !== undefined) x[k + hit] = 1;
      k += p.categories[j]!.length;
    }
    // Storing into the Float32Array rounds the product; the difference needs its own rounding.
    for (let m = 0; m < width; m++) x[m] = Math.fround(x[m]! - offset[m]!) * scale[m]!;
    rows.push(x);
  }
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
