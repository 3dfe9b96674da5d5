// Tree learners against references: the CART tree against ml-cart and an exhaustive split search, the forest
// against ml-random-forest, boosting against a single tree and linear models on nonlinear targets; and the
// emitted model-spec Tree nodes, walked here independently, reproduce the learner's own predictions.
import { createRequire } from 'node:module';
import { RandomForestRegression } from 'ml-random-forest';
import { xoroshiro128plus } from 'pure-rand';
import { describe, expect, it } from 'vitest';
import { baseRateLogLoss, logLoss, mae, rocAuc } from '../../../src/ml/metrics.ts';
import type { Tree } from '../../../src/ml/model-spec.ts';
import {
  fitLinearRegression,
  fitLogisticRegression,
  predictLinear,
  sigmoid,
} from '../../../src/ml/models/linear.ts';
import {
  boost,
  fitGradientBoosting,
  fitRandomForest,
  fitRegressionTree,
  predictTree,
  predictTrees,
  prepareTreeData,
} from '../../../src/ml/models/trees.ts';

// ml-cart ships no type declarations: load it through require with the part of its API we use.
interface CartRegression {
  train(X: number[][], y: number[]): void;
  predict(X: number[][]): number[];
}
const { DecisionTreeRegression } = createRequire(import.meta.url)('ml-cart') as {
  DecisionTreeRegression: new (options: { maxDepth: number; minNumSamples: number }) => CartRegression;
};

function gen(seed: number) {
  const g = xoroshiro128plus(seed);
  const uniform = (): number => (g.unsafeNext() >>> 0) / 4294967296;
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

/** Friedman #1: y = 10 sin(π x0 x1) + 20 (x2 − ½)² + 10 x3 + 5 x4 + noise, with five irrelevant features. */
function friedman(n: number, seed: number): { X: number[][]; y: number[] } {
  const { uniform, normal } = gen(seed);
  const X: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = Array.from({ length: 10 }, uniform);
    X.push(x);
    y.push(
      10 * Math.sin(Math.PI * x[0]! * x[1]!) + 20 * (x[2]! - 0.5) ** 2 + 10 * x[3]! + 5 * x[4]! + normal(),
    );
  }
  return { X, y };
}

/** A walk over model-spec nodes written apart from the learner: left when x[feature] <= threshold. */
function walk(tree: Tree, x: ArrayLike<number>): { value: number; leaf: number } {
  let i = 0;
  for (;;) {
    const node = tree.nodes[i]!;
    if (node.feature === -1) return { value: node.value, leaf: i };
    i = x[node.feature]! <= node.threshold ? node.left : node.right;
  }
}

const mse = (y: readonly number[], p: ArrayLike<number>): number =>
  y.reduce((s, v, i) => s + (v - p[i]!) ** 2, 0) / y.length;

describe('CART regression tree', () => {
  const train = friedman(300, 1);
  // One bin per distinct value (300 < 4096): the exact search ml-cart does.
  const data = prepareTreeData(train.X, 4096);

  it('matches ml-cart on the same data and depth (same or better training MSE, same predictions)', () => {
    for (const maxDepth of [1, 2, 3, 4, 6]) {
      const ref = new DecisionTreeRegression({ maxDepth, minNumSamples: 1 });
      ref.train(train.X, train.y);
      const refFit = ref.predict(train.X);
      const ours = fitRegressionTree(data, train.y, { maxDepth, minSamplesLeaf: 1 });
      expect(mse(train.y, ours.fitted)).toBeLessThanOrEqual(mse(train.y, refFit) + 1e-9);
      // Identical trees while both search every split; deeper, ml-cart stops early on some nodes.
      expect(mae(refFit, ours.fitted)).toBeLessThan(maxDepth <= 4 ? 1e-9 : 0.1);
    }
  });

  it('finds the best stump an exhaustive search finds', () => {
    const { fitted, tree } = fitRegressionTree(data, train.y, { maxDepth: 1, minSamplesLeaf: 1 });
    let best = Infinity;
    for (let f = 0; f < 10; f++) {
      const values = [...new Set(train.X.map((r) => r[f]!))].sort((a, b) => a - b);
      for (let v = 1; v < values.length; v++) {
        const t = (values[v - 1]! + values[v]!) / 2;
        const left = train.y.filter((_, i) => train.X[i]![f]! <= t);
        const right = train.y.filter((_, i) => train.X[i]![f]! > t);
        const sse = (a: number[]): number => {
          const m = a.reduce((s, x) => s + x, 0) / a.length;
          return a.reduce((s, x) => s + (x - m) ** 2, 0);
        };
        best = Math.min(best, sse(left) + sse(right));
      }
    }
    expect(mse(train.y, fitted) * train.y.length).toBeCloseTo(best, 6);
    expect(tree.nodes).toHaveLength(3);
  });

  it('puts thresholds at midpoints between adjacent distinct values of the rows reaching the node', () => {
    const big = friedman(3000, 2);
    for (const maxBins of [4096, 16]) {
      const { tree } = fitRegressionTree(prepareTreeData(big.X, maxBins), big.y, {
        maxDepth: 5,
        minSamplesLeaf: 5,
      });
      // The rows reaching each node, by walking every training row down the tree.
      const reach = tree.nodes.map(() => [] as number[]);
      big.X.forEach((x, r) => {
        for (let i = 0; ;) {
          reach[i]!.push(r);
          const nd = tree.nodes[i]!;
          if (nd.feature === -1) break;
          i = x[nd.feature]! <= nd.threshold ? nd.left : nd.right;
        }
      });
      // The learner sees values rounded to float32, as serving does.
      const all = (f: number): number[] =>
        [...new Set(big.X.map((x) => Math.fround(x[f]!)))].sort((a, b) => a - b);
      tree.nodes.forEach((nd, i) => {
        if (nd.feature === -1) return;
        const values = reach[i]!.map((r) => Math.fround(big.X[r]![nd.feature]!));
        const below = Math.max(...values.filter((v) => v <= nd.threshold));
        const above = Math.min(...values.filter((v) => v > nd.threshold));
        if (maxBins === 4096) {
          // Exact: the midpoint of the node's two values on either side.
          expect(nd.threshold === (below + above) / 2 || nd.threshold === below).toBe(true);
        } else {
          // Binned: the midpoint of two training values (bin edges) with none of the node's values between.
          const edges = all(nd.feature).filter((v) => v >= below && v <= above);
          const mids = edges.flatMap((a, j) => edges.slice(j + 1).map((c) => (a + c) / 2));
          expect(mids.includes(nd.threshold) || edges.includes(nd.threshold)).toBe(true);
        }
      });
    }
  });

  it('binned split search stays close to the exact one', () => {
    const big = friedman(3000, 3);
    const exact = fitRegressionTree(prepareTreeData(big.X, 4096), big.y, { maxDepth: 6, minSamplesLeaf: 5 });
    const binned = fitRegressionTree(prepareTreeData(big.X, 64), big.y, { maxDepth: 6, minSamplesLeaf: 5 });
    expect(mse(big.y, binned.fitted)).toBeLessThan(mse(big.y, exact.fitted) * 1.05);
  });

  it('emits well-formed nodes whose walk reproduces the learner, honouring depth and leaf size', () => {
    const { uniform } = gen(9);
    const weights = Array.from({ length: train.y.length }, () => Math.floor(uniform() * 3)); // with zeros
    const { tree, fitted } = fitRegressionTree(
      data,
      train.y,
      { maxDepth: 7, minSamplesLeaf: 4, maxFeatures: 3 },
      { weights, rng: xoroshiro128plus(4) },
    );
    const leafWeight = new Map<number, number>();
    train.X.forEach((x, i) => {
      const { value, leaf } = walk(tree, x);
      expect(value).toBe(fitted[i]);
      expect(predictTree(tree, x)).toBe(fitted[i]);
      leafWeight.set(leaf, (leafWeight.get(leaf) ?? 0) + weights[i]!);
    });
    for (const w of leafWeight.values()) expect(w).toBeGreaterThanOrEqual(4);
    const depth = (i: number): number => {
      const nd = tree.nodes[i]!;
      return nd.feature === -1 ? 0 : 1 + Math.max(depth(nd.left), depth(nd.right));
    };
    expect(depth(0)).toBeLessThanOrEqual(7);
    tree.nodes.forEach((nd, i) => {
      if (nd.feature === -1) expect([nd.left, nd.right]).toEqual([-1, -1]);
      else expect(nd.left > i && nd.right > nd.left).toBe(true);
    });
  });

  it('splits on values as float32 serving sees them', () => {
    // 1 and 1 + 1e-9 are one float32: no split can separate them. 1 + 2^-23 is the next float32 up.
    const X = [[1], [1 + 1e-9], [1 + 2 ** -23], [2]];
    const y = [0, 10, 20, 30];
    const { tree, fitted } = fitRegressionTree(prepareTreeData(X), y, { maxDepth: 3, minSamplesLeaf: 1 });
    expect(fitted[0]).toBe(fitted[1]);
    expect(new Set(fitted).size).toBe(3);
    X.forEach((x, i) => expect(walk(tree, [Math.fround(x[0]!)]).value).toBe(fitted[i]));
  });

  it('predicts on features as float32, as serving does', () => {
    // Split at 1.5, a float32. 1.5 + 1e-9 is above it in float64, but its float32 is 1.5 itself: left.
    const { tree } = fitRegressionTree(prepareTreeData([[1], [2]]), [0, 10], {
      maxDepth: 1,
      minSamplesLeaf: 1,
    });
    expect(tree.nodes[0]!.threshold).toBe(1.5);
    expect(predictTree(tree, [1.5 + 1e-9])).toBe(0);
    expect(predictTree(tree, [1.5 + 1e-6])).toBe(10);
  });

  it('needs a generator to subsample features', () => {
    expect(() =>
      fitRegressionTree(data, train.y, { maxDepth: 2, minSamplesLeaf: 1, maxFeatures: 2 }),
    ).toThrow(/generator/);
  });
});

describe('random forest', () => {
  const train = friedman(300, 21);
  const test = friedman(500, 22);

  it('is comparable to ml-random-forest on Friedman #1 (test MAE within 10%)', () => {
    const ref = new RandomForestRegression({
      nEstimators: 30,
      maxFeatures: 0.5,
      replacement: false,
      useSampleBagging: true,
      seed: 5,
      noOOB: true,
      treeOptions: { maxDepth: 8, minNumSamples: 3 },
    });
    ref.train(train.X, train.y);
    const refMae = mae(test.y, ref.predict(test.X));
    const est = fitRandomForest(
      prepareTreeData(train.X),
      train.y,
      { nTrees: 30, maxDepth: 8, minSamplesLeaf: 2, maxFeatures: 0.5, seed: 5 },
      'regression',
    );
    expect(est).toMatchObject({ kind: 'tree-regressor', base: 0, weight: 1 / 30 });
    const ours = mae(
      test.y,
      test.X.map((x) => predictTrees(est, x)),
    );
    expect(ours).toBeLessThan(refMae * 1.1);
  });

  it('classifies by averaging leaf class-1 frequencies (identity link), deterministically per seed', () => {
    const { uniform } = gen(31);
    const X = Array.from({ length: 600 }, () => [uniform(), uniform(), uniform()]);
    const y = X.map((x) => ((x[0]! - 0.5) * (x[1]! - 0.5) > 0 ? 1 : 0));
    const data = prepareTreeData(X);
    const params = { nTrees: 20, maxDepth: 6, minSamplesLeaf: 3, maxFeatures: 'sqrt' as const, seed: 8 };
    const est = fitRandomForest(data, y, params, 'classification');
    expect(est).toMatchObject({ kind: 'tree-classifier', link: 'identity', base: 0, weight: 1 / 20 });
    if (est.kind !== 'tree-classifier') throw new Error('unreachable');
    for (const t of est.trees)
      for (const nd of t.nodes) if (nd.feature < 0) expect(nd.value).toBeGreaterThanOrEqual(0);
    const p = X.map((x) => predictTrees(est, x));
    p.forEach((v, i) => {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
      expect(v).toBeCloseTo(est.trees.reduce((s, t) => s + walk(t, X[i]!).value, 0) / 20, 12);
    });
    expect(rocAuc(y, p)).toBeGreaterThan(0.95);
    expect(JSON.stringify(fitRandomForest(data, y, params, 'classification'))).toBe(JSON.stringify(est));
    expect(JSON.stringify(fitRandomForest(data, y, { ...params, seed: 9 }, 'classification'))).not.toBe(
      JSON.stringify(est),
    );
  });
});

describe('gradient-boosted trees', () => {
  function nonlinear(n: number, seed: number) {
    const { uniform, normal } = gen(seed);
    const X = Array.from({ length: n }, () => Array.from({ length: 4 }, () => 2 * uniform() - 1));
    const y = X.map((x) => Math.sin(3 * x[0]!) + x[1]! ** 2 + 2 * x[0]! * x[2]! + 0.1 * normal());
    return { X, y };
  }

  it('regression beats a single tree and linear regression on a nonlinear target', () => {
    const train = nonlinear(2000, 41);
    const test = nonlinear(1000, 42);
    const data = prepareTreeData(train.X);
    const gbt = fitGradientBoosting(
      data,
      train.y,
      { nTrees: 150, learningRate: 0.1, maxDepth: 3, minSamplesLeaf: 5, seed: 1 },
      'regression',
    );
    expect(gbt).toMatchObject({ kind: 'tree-regressor', weight: 0.1 });
    const gbtMae = mae(
      test.y,
      test.X.map((x) => predictTrees(gbt, x)),
    );
    for (const maxDepth of [3, 6]) {
      const { tree } = fitRegressionTree(data, train.y, { maxDepth, minSamplesLeaf: 5 });
      const treeMae = mae(
        test.y,
        test.X.map((x) => predictTree(tree, x)),
      );
      expect(gbtMae).toBeLessThan(treeMae * 0.7);
    }
    const lin = fitLinearRegression(train.X, train.y);
    const linMae = mae(
      test.y,
      test.X.map((x) => predictLinear(lin, x)),
    );
    expect(gbtMae).toBeLessThan(linMae * 0.5);
  });

  it('regression starts at the mean and adds learning-rate-weighted residual trees', () => {
    const train = nonlinear(300, 43);
    const data = prepareTreeData(train.X);
    const mean = train.y.reduce((a, v) => a + v, 0) / train.y.length;
    const gbt = fitGradientBoosting(
      data,
      train.y,
      { nTrees: 1, learningRate: 1, maxDepth: 3, minSamplesLeaf: 5, seed: 1 },
      'regression',
    );
    expect(gbt.base).toBeCloseTo(mean, 12);
    const { fitted } = fitRegressionTree(
      data,
      train.y.map((v) => v - mean),
      { maxDepth: 3, minSamplesLeaf: 5 },
    );
    train.X.forEach((x, i) => expect(predictTrees(gbt, x)).toBeCloseTo(mean + fitted[i]!, 12));
  });

  it('classification: base log-odds, Newton leaves Σ(y − p) / Σp(1 − p), logistic link', () => {
    const { uniform } = gen(44);
    const X = Array.from({ length: 500 }, () => [uniform(), uniform()]);
    const y = X.map((x) => (uniform() < 0.2 + 0.6 * x[0]! ? 1 : 0));
    const rate = y.reduce((a: number, v) => a + v, 0) / y.length;
    const gbt = fitGradientBoosting(
      prepareTreeData(X),
      y,
      { nTrees: 1, learningRate: 1, maxDepth: 2, minSamplesLeaf: 10, seed: 1 },
      'classification',
    );
    if (gbt.kind !== 'tree-classifier') throw new Error('expected a classifier');
    expect(gbt.link).toBe('logistic');
    expect(gbt.base).toBeCloseTo(Math.log(rate / (1 - rate)), 12);
    const sums = new Map<number, { g: number; h: number }>();
    X.forEach((x, i) => {
      const { leaf } = walk(gbt.trees[0]!, x);
      const s = sums.get(leaf) ?? { g: 0, h: 0 };
      s.g += y[i]! - rate;
      s.h += rate * (1 - rate);
      sums.set(leaf, s);
    });
    expect(sums.size).toBeGreaterThan(1);
    for (const [leaf, { g, h }] of sums) expect(gbt.trees[0]!.nodes[leaf]!.value).toBeCloseTo(g / h, 10);
    X.forEach((x) =>
      expect(predictTrees(gbt, x)).toBeCloseTo(sigmoid(gbt.base + walk(gbt.trees[0]!, x).value), 12),
    );
  });

  it('classification beats the base rate and logistic regression on an interaction (XOR) target', () => {
    const sample = (n: number, seed: number) => {
      const { uniform } = gen(seed);
      const X = Array.from({ length: n }, () => [2 * uniform() - 1, 2 * uniform() - 1, uniform()]);
      const y = X.map((x) => (x[0]! * x[1]! > 0 !== uniform() < 0.1 ? 1 : 0));
      return { X, y };
    };
    const train = sample(2000, 45);
    const test = sample(1000, 46);
    const gbt = fitGradientBoosting(
      prepareTreeData(train.X),
      train.y,
      { nTrees: 100, learningRate: 0.1, maxDepth: 3, minSamplesLeaf: 10, subsample: 0.8, seed: 3 },
      'classification',
    );
    const p = test.X.map((x) => predictTrees(gbt, x));
    const lr = fitLogisticRegression(train.X, train.y, { l2: 1e-4 });
    const pl = test.X.map((x) => predictLinear(lr, x));
    expect(logLoss(test.y, p)).toBeLessThan(baseRateLogLoss(test.y) - 0.2);
    expect(logLoss(test.y, p)).toBeLessThan(logLoss(test.y, pl) - 0.2);
    expect(rocAuc(test.y, p)).toBeGreaterThan(0.85);
  });

  describe('early stopping on a validation set', () => {
    const train = nonlinear(1500, 47);
    const val = nonlinear(500, 48);
    const data = prepareTreeData(train.X);
    const params = { nTrees: 300, learningRate: 0.3, maxDepth: 3, minSamplesLeaf: 5, seed: 2 };

    it("scores every round and keeps the best round; its validation predictions are the estimator's", () => {
      const r = boost(data, train.y, { ...params, earlyStoppingRounds: 10 }, 'regression', val);
      const losses = Array.from(r.validationLoss!);
      const best = losses.indexOf(Math.min(...losses));
      expect(r.estimator.trees).toHaveLength(best + 1);
      expect(losses.length).toBeLessThanOrEqual(best + 1 + 10);
      expect(losses.length).toBeLessThan(300);
      val.X.forEach((x, i) => expect(r.validationPred![i]).toBe(predictTrees(r.estimator, x)));
      expect(mae(val.y, r.validationPred!)).toBe(Math.min(...losses));
      // Without early stopping every round is kept, and the first rounds are the same trees.
      const full = boost(data, train.y, params, 'regression', val);
      expect(full.estimator.trees).toHaveLength(300);
      expect(JSON.stringify(full.estimator.trees.slice(0, best + 1))).toBe(JSON.stringify(r.estimator.trees));
    });

    it('classification stops on log-loss', () => {
      const y = train.y.map((v) => (v > 0.5 ? 1 : 0));
      const yv = val.y.map((v) => (v > 0.5 ? 1 : 0));
      const r = boost(data, y, { ...params, earlyStoppingRounds: 10 }, 'classification', { X: val.X, y: yv });
      const losses = Array.from(r.validationLoss!);
      expect(logLoss(yv, r.validationPred!)).toBeCloseTo(Math.min(...losses), 12);
      expect(r.estimator.trees).toHaveLength(losses.indexOf(Math.min(...losses)) + 1);
    });

    it('fits on a prefix of the rows: the rest weigh nothing', () => {
      const k = 1000;
      const garbage = train.y.map((v, i) => (i < k ? v : 1e6));
      const zeros = train.y.map((v, i) => (i < k ? v : 0));
      const a = boost(data, garbage, params, 'regression', undefined, k);
      const b = boost(data, zeros, params, 'regression', undefined, k);
      expect(JSON.stringify(a.estimator)).toBe(JSON.stringify(b.estimator));
      expect(a.estimator.base).toBeCloseTo(train.y.slice(0, k).reduce((s, v) => s + v, 0) / k, 12);
    });
  });
});
