// The JS predictor for a ModelSpec (src/ml/model-spec.ts): the same preprocessing and estimator that the ONNX
// export (src/ml/onnx/export.ts) puts in its graph, as typed-array loops, so serving needs no native runtime
// and the two can be checked against each other.
//
// Float32 and trees: an ONNX graph (and any runtime that loads it) works in float32. That makes no visible
// difference for linear models (a relative error near 1e-7), but a tree branch can flip when a feature sits on a
// threshold. So trees here branch on float32 features computed exactly as the graph computes them (input
// rounded to float32, float32 impute, float32 (x - offset) * scale), and on thresholds rounded *down* to
// float32 (`floorFloat32`, the values the exporter writes). For a float32 feature x, `x <= floorFloat32(t)`
// holds exactly when `x <= t`, so for float32 inputs with the usual tree scaling (offset 0, scale 1) this is
// the model-spec rule `x <= threshold` itself, and both runtimes take the same branch in every case.
import { TagstreamError } from '../errors.ts';
import type { ModelSpec, Preprocessing, Tree } from './model-spec.ts';

/** One row of numeric inputs in `preprocessing.numeric` order; null or NaN is missing. */
export type NumericRow = readonly (number | null)[];
/** One row of categorical inputs in `preprocessing.categorical` order; null is missing (encodes as zeros). */
export type CategoricalRow = readonly (string | null)[];

/** Predicts one row: the regression value, or p(class 1) for classifiers. */
export type RowPredictor = (numeric: NumericRow, categorical?: CategoricalRow) => number;

function modelError(message: string, path: string): TagstreamError {
  return new TagstreamError('MODEL_ERROR', `${path}: ${message}`, { details: { path } });
}

/** Length of the preprocessed feature vector: numeric columns plus all one-hot categories. */
export function featureWidth(p: Preprocessing): number {
  let width = p.numeric.length;
  for (const cats of p.categories) width += cats.length;
  return width;
}

/** The largest float32 value <= t (t itself when it is a float32). */
export function floorFloat32(t: number): number {
  const f = Math.fround(t);
  if (!(f > t)) return f; // exact, rounded down, or NaN
  if (f === 0) return -1.401298464324817e-45; // t in (-2^-150, 0): the largest float32 below is -min subnormal
  F32[0] = f;
  U32[0] = f > 0 ? U32[0]! - 1 : U32[0]! + 1; // one ulp towards -Infinity
  return F32[0];
}
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function checkNumbers(values: readonly number[], length: number, path: string): void {
  if (values.length !== length) throw modelError(`expected ${length} values, got ${values.length}`, path);
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw modelError(`expected a finite number, got ${v}`, `${path}[${i}]`);
  });
}

/**
 * Node indices reachable from the root, parents before children (breadth first). Throws when the nodes are
 * not a tree: a child out of range, a node reached twice (a cycle or a shared child), a bad feature index.
 */
export function treeOrder(tree: Tree, width: number, path: string): number[] {
  const n = tree.nodes.length;
  if (n === 0) throw modelError('a tree needs at least one node', `${path}.nodes`);
  const seen = new Uint8Array(n);
  const order = [0];
  seen[0] = 1;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const node = tree.nodes[i]!;
    const at = `${path}.nodes[${i}]`;
    if (node.feature === -1) {
      if (!Number.isFinite(node.value))
        throw modelError(`leaf value ${node.value} is not finite`, `${at}.value`);
      continue;
    }
    if (!Number.isInteger(node.feature) || node.feature < 0 || node.feature >= width)
      throw modelError(`feature ${node.feature} is not -1 (leaf) or in [0, ${width})`, `${at}.feature`);
    if (Number.isNaN(node.threshold)) throw modelError('threshold is NaN', `${at}.threshold`);
    for (const side of ['left', 'right'] as const) {
      const c = node[side];
      if (!Number.isInteger(c) || c < 0 || c >= n)
        throw modelError(`child ${c} is not in [0, ${n})`, `${at}.${side}`);
      if (seen[c] === 1) throw modelError(`node ${c} is reached twice: not a tree`, `${at}.${side}`);
      seen[c] = 1;
      order.push(c);
    }
  }
  return order;
}

/** Checks the preprocessing's lengths and numbers; returns the feature width. Throws MODEL_ERROR. */
function checkPreprocessing(p: Preprocessing): number {
  checkNumbers(p.impute, p.numeric.length, 'preprocessing.impute');
  if (p.categories.length !== p.categorical.length)
    throw modelError(
      `expected ${p.categorical.length} category lists, got ${p.categories.length}`,
      'preprocessing.categories',
    );
  p.categories.forEach((cats, j) => {
    if (new Set(cats).size !== cats.length)
      throw modelError('categories are not unique', `preprocessing.categories[${j}]`);
  });
  const width = featureWidth(p);
  checkNumbers(p.offset, width, 'preprocessing.offset');
  checkNumbers(p.scale, width, 'preprocessing.scale');
  return width;
}

/** Checks that a spec is consistent (lengths, indices, finite numbers, tree shape); throws MODEL_ERROR. */
export function checkSpec(spec: ModelSpec): void {
  const width = checkPreprocessing(spec.preprocessing);
  const e = spec.estimator;
  switch (e.kind) {
    case 'linear-regressor':
    case 'logistic-classifier':
      checkNumbers(e.coefficients, width, 'estimator.coefficients');
      checkNumbers([e.intercept], 1, 'estimator.intercept');
      return;
    case 'tree-regressor':
    case 'tree-classifier':
      checkNumbers([e.base, e.weight], 2, 'estimator.base, estimator.weight');
      e.trees.forEach((t, i) => treeOrder(t, width, `estimator.trees[${i}]`));
      return;
  }
}

interface CompiledPreprocessing {
  readonly nNumeric: number;
  readonly nCategorical: number;
  readonly width: number;
  readonly impute: Float64Array;
  readonly impute32: Float32Array;
  /** Per categorical column: category → index in the feature vector. */
  readonly categoryIndex: readonly Map<string, number>[];
  readonly offset: Float64Array;
  readonly scale: Float64Array;
  readonly offset32: Float32Array;
  readonly scale32: Float32Array;
}

const compiledPreprocessing = new WeakMap<Preprocessing, CompiledPreprocessing>();

function compilePreprocessing(p: Preprocessing): CompiledPreprocessing {
  const cached = compiledPreprocessing.get(p);
  if (cached !== undefined) return cached;
  checkPreprocessing(p);
  let next = p.numeric.length;
  const categoryIndex = p.categories.map((cats) => new Map(cats.map((c) => [c, next++] as const)));
  const c: CompiledPreprocessing = {
    nNumeric: p.numeric.length,
    nCategorical: p.categorical.length,
    width: next,
    impute: Float64Array.from(p.impute),
    impute32: Float32Array.from(p.impute),
    categoryIndex,
    offset: Float64Array.from(p.offset),
    scale: Float64Array.from(p.scale),
    offset32: Float32Array.from(p.offset),
    scale32: Float32Array.from(p.scale),
  };
  compiledPreprocessing.set(p, c);
  return c;
}

function checkRow(
  c: CompiledPreprocessing,
  numeric: NumericRow,
  categorical: CategoricalRow | undefined,
): void {
  if (numeric.length !== c.nNumeric)
    throw modelError(`expected ${c.nNumeric} numeric values, got ${numeric.length}`, 'numeric');
  const nCat = categorical?.length ?? 0;
  if (nCat !== c.nCategorical)
    throw modelError(`expected ${c.nCategorical} categorical values, got ${nCat}`, 'categorical');
}

/** Writes one-hot ones (unknown or missing categories stay all zeros). */
function oneHot(
  c: CompiledPreprocessing,
  categorical: CategoricalRow | undefined,
  x: Float64Array | Float32Array,
) {
  for (let j = 0; j < c.nCategorical; j++) {
    const v = categorical![j];
    if (v === null || v === undefined) continue;
    const k = c.categoryIndex[j]!.get(v);
    if (k !== undefined) x[k] = 1;
  }
}

/** The feature vector in float64: impute → one-hot → (x - offset) * scale. */
function preprocessInto(
  c: CompiledPreprocessing,
  numeric: NumericRow,
  categorical: CategoricalRow | undefined,
  x: Float64Array,
): void {
  checkRow(c, numeric, categorical);
  for (let i = 0; i < c.nNumeric; i++) {
    const v = numeric[i];
    x[i] = v === null || v === undefined || Number.isNaN(v) ? c.impute[i]! : v;
  }
  x.fill(0, c.nNumeric);
  oneHot(c, categorical, x);
  for (let k = 0; k < c.width; k++) x[k] = (x[k]! - c.offset[k]!) * c.scale[k]!;
}

/** The same feature vector in float32 arithmetic, value for value what the ONNX graph computes. */
function preprocessInto32(
  c: CompiledPreprocessing,
  numeric: NumericRow,
  categorical: CategoricalRow | undefined,
  x: Float32Array,
): void {
  checkRow(c, numeric, categorical);
  for (let i = 0; i < c.nNumeric; i++) {
    const v = numeric[i];
    x[i] = v === null || v === undefined || Number.isNaN(v) ? c.impute32[i]! : v;
  }
  x.fill(0, c.nNumeric);
  oneHot(c, categorical, x);
  // Storing into a Float32Array rounds the product; the difference needs its own rounding.
  for (let k = 0; k < c.width; k++) x[k] = Math.fround(x[k]! - c.offset32[k]!) * c.scale32[k]!;
}

/** The preprocessed feature vector [numeric..., one-hot...] of one row, in float64. */
export function preprocessRow(
  p: Preprocessing,
  numeric: NumericRow,
  categorical: CategoricalRow,
): Float64Array {
  const c = compilePreprocessing(p);
  const x = new Float64Array(c.width);
  preprocessInto(c, numeric, categorical, x);
  return x;
}

/** All trees' nodes in flat arrays; a leaf has feature -1. Thresholds are rounded down to float32. */
interface CompiledForest {
  readonly roots: Int32Array;
  readonly feature: Int32Array;
  readonly threshold: Float32Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  readonly value: Float64Array;
}

function compileForest(trees: readonly Tree[]): CompiledForest {
  const total = trees.reduce((s, t) => s + t.nodes.length, 0);
  const f: CompiledForest = {
    roots: new Int32Array(trees.length),
    feature: new Int32Array(total),
    threshold: new Float32Array(total),
    left: new Int32Array(total),
    right: new Int32Array(total),
    value: new Float64Array(total),
  };
  let base = 0;
  trees.forEach((t, ti) => {
    f.roots[ti] = base;
    t.nodes.forEach((n, i) => {
      const k = base + i;
      f.feature[k] = n.feature;
      f.threshold[k] = floorFloat32(n.threshold);
      f.left[k] = base + n.left;
      f.right[k] = base + n.right;
      f.value[k] = n.value;
    });
    base += t.nodes.length;
  });
  return f;
}

function forestSum(f: CompiledForest, x: Float32Array): number {
  const { roots, feature, threshold, left, right, value } = f;
  let sum = 0;
  for (let t = 0; t < roots.length; t++) {
    let i = roots[t]!;
    let feat = feature[i]!;
    while (feat >= 0) {
      i = x[feat]! <= threshold[i]! ? left[i]! : right[i]!;
      feat = feature[i]!;
    }
    sum += value[i]!;
  }
  return sum;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Checks the spec once and returns a row predictor with its own scratch buffers (not re-entrant across threads). */
export function compilePredictor(spec: ModelSpec): RowPredictor {
  checkSpec(spec);
  const c = compilePreprocessing(spec.preprocessing);
  const e = spec.estimator;
  switch (e.kind) {
    case 'linear-regressor':
    case 'logistic-classifier': {
      const x = new Float64Array(c.width);
      const w = Float64Array.from(e.coefficients);
      const { intercept } = e;
      const logistic = e.kind === 'logistic-classifier';
      return (numeric, categorical) => {
        preprocessInto(c, numeric, categorical, x);
        let z = intercept;
        for (let k = 0; k < x.length; k++) z += w[k]! * x[k]!;
        return logistic ? sigmoid(z) : z;
      };
    }
    case 'tree-regressor':
    case 'tree-classifier': {
      const x = new Float32Array(c.width);
      const forest = compileForest(e.trees);
      const { base, weight } = e;
      const logistic = e.kind === 'tree-classifier' && e.link === 'logistic';
      return (numeric, categorical) => {
        preprocessInto32(c, numeric, categorical, x);
        const z = base + weight * forestSum(forest, x);
        return logistic ? sigmoid(z) : z;
      };
    }
  }
}

const compiledSpecs = new WeakMap<ModelSpec, RowPredictor>();

/**
 * Predicts every row: regressors give the value, classifiers p(class 1). `categoricalRows` may be left out
 * when the spec has no categorical columns. The compiled form is cached per spec object (specs are immutable).
 */
export function predictSpec(
  spec: ModelSpec,
  numericRows: readonly NumericRow[],
  categoricalRows?: readonly CategoricalRow[],
): Float64Array {
  let predict = compiledSpecs.get(spec);
  if (predict === undefined) {
    predict = compilePredictor(spec);
    compiledSpecs.set(spec, predict);
  }
  if (categoricalRows !== undefined && categoricalRows.length !== numericRows.length)
    throw modelError(
      `${numericRows.length} numeric rows but ${categoricalRows.length} categorical rows`,
      'categoricalRows',
    );
  const out = new Float64Array(numericRows.length);
  for (let r = 0; r < numericRows.length; r++) out[r] = predict(numericRows[r]!, categoricalRows?.[r]);
  return out;
}
