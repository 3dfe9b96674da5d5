// Seeded random ModelSpecs and input rows for parity tests and the inference benchmark. Rows hit the hard
// cases on purpose: missing values, unknown categories, values that are not float32, and values sitting
// exactly on tree thresholds and on the impute value.
import type { Estimator, ModelSpec, Tree, TreeNode } from '../../src/ml/model-spec.ts';
import type { CategoricalRow, NumericRow } from '../../src/ml/predict.ts';

export type Rng = () => number;

/** mulberry32: a small, fast, seeded PRNG in [0, 1). */
export function seeded(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const normal = (rng: Rng): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

/** The estimator kinds under test; the four tree kinds are the ways trainers fill the tree estimators. */
export const KINDS = [
  'linear-regressor',
  'logistic-classifier',
  'forest-regressor', // tree-regressor, weight 1/n, base 0
  'boosted-regressor', // tree-regressor, base + learning rate
  'forest-classifier', // tree-classifier, identity link, probability leaves
  'boosted-classifier', // tree-classifier, logistic link
] as const;
export type Kind = (typeof KINDS)[number];

/** How one numeric column's values are drawn. */
interface NumericColumn {
  readonly integer: boolean;
  readonly mean: number;
  readonly std: number;
  /** Values that rows take exactly now and then, and that thresholds and the impute value use. */
  readonly landmarks: readonly number[];
}

export interface Fixture {
  readonly spec: ModelSpec;
  readonly columns: readonly NumericColumn[];
  /** Category frequencies per categorical column. */
  readonly frequencies: readonly (readonly number[])[];
}

export interface SpecOptions {
  readonly kind: Kind;
  readonly numeric: number;
  readonly categorical: number;
  readonly trees?: number;
  readonly maxDepth?: number;
  /** Trees: standard scaling instead of offset 0 / scale 1 (linear models are always scaled). */
  readonly scaled?: boolean;
  /** Every tree complete to maxDepth (the benchmark's model) instead of random depths. */
  readonly fullTrees?: boolean;
}

export function randomFixture(rng: Rng, o: SpecOptions): Fixture {
  const columns: NumericColumn[] = Array.from({ length: o.numeric }, () => {
    if (rng() < 0.3) {
      const mean = int(rng, 2, 8);
      return { integer: true, mean, std: 2, landmarks: [mean, mean + 1, mean - 2] };
    }
    const mean = (rng() - 0.5) * 100;
    const std = 2 + rng() * 18;
    return {
      integer: false,
      mean,
      std,
      landmarks: [mean, mean + std * normal(rng), mean + std * normal(rng)],
    };
  });
  const categories = Array.from({ length: o.categorical }, (_, j) => {
    const cats = Array.from({ length: int(rng, 2, 5) }, (_, k) => `c${j}_${k}`);
    if (j === 0) cats.push('café ☕'); // non-ASCII goes through the string tensor as UTF-8
    return cats;
  });
  const frequencies = categories.map((cats) => {
    const w = cats.map(() => 0.2 + rng());
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / total);
  });
  const width = o.numeric + categories.reduce((s, c) => s + c.length, 0);
  const linear = o.kind === 'linear-regressor' || o.kind === 'logistic-classifier';
  const scaled = linear || o.scaled === true;
  const offset = [...columns.map((c) => c.mean), ...frequencies.flat()];
  const scale = [
    ...columns.map((c) => 1 / c.std),
    ...frequencies.flat().map((p) => 1 / Math.sqrt(p * (1 - p))),
  ];
  const preprocessing = {
    numeric: columns.map((_, i) => `n${i}`),
    impute: columns.map((c) => c.landmarks[0]!),
    categorical: categories.map((_, j) => `k${j}`),
    categories,
    offset: scaled ? offset : offset.map(() => 0),
    scale: scaled ? scale : scale.map(() => 1),
  };
  /** A split threshold in feature space, often exactly at a value the rows take. */
  const threshold = (f: number): number => {
    let raw: number;
    if (f < o.numeric) {
      const c = columns[f]!;
      if (c.integer) raw = int(rng, c.mean - 4, c.mean + 4) + pick(rng, [0, 0, 0.5]);
      else raw = rng() < 0.4 ? pick(rng, c.landmarks) : c.mean + c.std * normal(rng);
    } else raw = pick(rng, [0, 0.5, 1]);
    return (raw - preprocessing.offset[f]!) * preprocessing.scale[f]!;
  };
  const nTrees = o.trees ?? 20;
  const maxDepth = o.maxDepth ?? 6;
  const grow = (leaf: () => number, full: boolean): Tree => {
    const nodes: TreeNode[] = [];
    const depthLimit = full ? maxDepth : int(rng, 1, maxDepth);
    const build = (depth: number): number => {
      const i = nodes.length;
      if (depth >= depthLimit || (!full && depth > 0 && rng() < 0.15)) {
        nodes.push({ feature: -1, threshold: 0, left: 0, right: 0, value: leaf() });
        return i;
      }
      const feature = int(rng, 0, width - 1);
      nodes.push({ feature, threshold: threshold(feature), left: -1, right: -1, value: 0 });
      const left = build(depth + 1);
      const right = build(depth + 1);
      nodes[i] = { ...nodes[i]!, left, right };
      return i;
    };
    build(0);
    return { nodes };
  };
  const forest = (leaf: () => number): Tree[] =>
    Array.from({ length: nTrees }, () => grow(leaf, o.fullTrees === true));
  const coefficients = () =>
    Array.from({ length: width }, () => normal(rng) * (o.kind === 'linear-regressor' ? 1 : 0.5));
  let estimator: Estimator;
  switch (o.kind) {
    case 'linear-regressor':
      estimator = { kind: o.kind, coefficients: coefficients(), intercept: 10 * normal(rng) };
      break;
    case 'logistic-classifier':
      estimator = { kind: o.kind, coefficients: coefficients(), intercept: normal(rng) };
      break;
    case 'forest-regressor':
      estimator = {
        kind: 'tree-regressor',
        trees: forest(() => 100 + 30 * normal(rng)),
        base: 0,
        weight: 1 / nTrees,
      };
      break;
    case 'boosted-regressor':
      estimator = { kind: 'tree-regressor', trees: forest(() => 5 * normal(rng)), base: 42.5, weight: 0.1 };
      break;
    case 'forest-classifier':
      estimator = {
        kind: 'tree-classifier',
        link: 'identity',
        trees: forest(rng),
        base: 0,
        weight: 1 / nTrees,
      };
      break;
    case 'boosted-classifier':
      estimator = {
        kind: 'tree-classifier',
        link: 'logistic',
        trees: forest(() => normal(rng)),
        base: -0.4,
        weight: 0.1,
      };
      break;
  }
  return { spec: { service: 'test', algorithm: o.kind, preprocessing, estimator }, columns, frequencies };
}

export interface Rows {
  readonly numeric: NumericRow[];
  readonly categorical: CategoricalRow[];
  /** The same rows as onnxruntime input: row-major float32 with NaN for missing. */
  readonly numeric32: Float32Array;
  /** Row-major strings; a missing category is '' (never a known category). */
  readonly categoricalFlat: string[];
}

export interface RowOptions {
  /** Share of missing values (numeric null/NaN, categorical null). */
  readonly missing?: number;
  /** Share of categories never seen in training. */
  readonly unknown?: number;
}

export function randomRows(rng: Rng, fx: Fixture, n: number, o: RowOptions = {}): Rows {
  const missing = o.missing ?? 0.1;
  const unknown = o.unknown ?? 0.1;
  const { categories } = fx.spec.preprocessing;
  const numeric: NumericRow[] = [];
  const categorical: CategoricalRow[] = [];
  for (let r = 0; r < n; r++) {
    numeric.push(
      fx.columns.map((c) => {
        const u = rng();
        if (u < missing) return u < missing / 2 ? null : Number.NaN;
        if (rng() < 0.15) return pick(rng, c.landmarks);
        const v = c.mean + c.std * normal(rng);
        return c.integer ? Math.round(v) : v;
      }),
    );
    categorical.push(
      categories.map((cats, j) => {
        const u = rng();
        if (u < missing) return null;
        if (u < missing + unknown) return `unknown-${int(rng, 0, 3)}`;
        let p = rng();
        const freq = fx.frequencies[j]!;
        for (let k = 0; k < cats.length; k++) if ((p -= freq[k]!) <= 0) return cats[k]!;
        return cats[cats.length - 1]!;
      }),
    );
  }
  return {
    numeric,
    categorical,
    numeric32: Float32Array.from(numeric.flat(), (v) => v ?? Number.NaN),
    categoricalFlat: categorical.flat().map((v) => v ?? ''),
  };
}

/** max |a - b| / max(1, |b|): the parity measure (1e-5 required). */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const b = expected[i]!;
    const err = Math.abs(actual[i]! - b) / Math.max(1, Math.abs(b));
    if (!(err <= worst)) worst = err; // NaN wins
  }
  return worst;
}
