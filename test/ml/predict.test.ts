// The JS predictor on hand-computed examples: preprocessing, each estimator, the float32 branch rule, and the
// spec checks that turn a malformed model into MODEL_ERROR.
import { describe, expect, it } from 'vitest';
import type { ModelSpec, Preprocessing, TreeNode } from '../../src/ml/model-spec.ts';
import {
  checkSpec,
  compilePredictor,
  featureWidth,
  floorFloat32,
  predictSpec,
  preprocessRow,
} from '../../src/ml/predict.ts';
import { thrownBy } from '../helpers/errors.ts';

const pre: Preprocessing = {
  numeric: ['a', 'b'],
  impute: [10, -1],
  categorical: ['colour'],
  categories: [['red', 'green']],
  offset: [2, 0, 0.5, 0],
  scale: [0.5, 1, 2, 1],
};

const leaf = (value: number): TreeNode => ({ feature: -1, threshold: 0, left: 0, right: 0, value });
const split = (feature: number, threshold: number, left: number, right: number): TreeNode => ({
  feature,
  threshold,
  left,
  right,
  value: 0,
});

/** x[0] <= 3 → 1, else (x[1] <= 0 → 2, else 4). */
const stump = { nodes: [split(0, 3, 1, 2), leaf(1), split(1, 0, 3, 4), leaf(2), leaf(4)] };
const identity: Preprocessing = { ...pre, offset: [0, 0, 0, 0], scale: [1, 1, 1, 1] };

const spec = (estimator: ModelSpec['estimator'], preprocessing: Preprocessing = pre): ModelSpec => ({
  service: 'test',
  algorithm: 'hand',
  preprocessing,
  estimator,
});

describe('preprocessRow', () => {
  it('imputes, one-hot encodes and scales', () => {
    // a = 6 → (6 - 2) * 0.5 = 2; b = 3 → 3; red → [1, 0] → [(1 - 0.5) * 2, 0] = [1, 0]
    expect([...preprocessRow(pre, [6, 3], ['red'])]).toEqual([2, 3, 1, 0]);
    // green → [0, 1] → [(0 - 0.5) * 2, 1] = [-1, 1]
    expect([...preprocessRow(pre, [6, 3], ['green'])]).toEqual([2, 3, -1, 1]);
  });

  it('imputes null and NaN with the column value', () => {
    // a missing → 10 → (10 - 2) * 0.5 = 4; b NaN → -1
    expect([...preprocessRow(pre, [null, Number.NaN], ['red'])]).toEqual([4, -1, 1, 0]);
  });

  it('encodes unknown and missing categories as all zeros', () => {
    expect([...preprocessRow(pre, [2, 0], ['blue'])]).toEqual([0, 0, -1, 0]);
    expect([...preprocessRow(pre, [2, 0], [null])]).toEqual([0, 0, -1, 0]);
    // Prototype keys are not categories.
    expect([...preprocessRow(pre, [2, 0], ['constructor'])]).toEqual([0, 0, -1, 0]);
  });

  it('rejects a row of the wrong length', () => {
    expect(thrownBy(() => preprocessRow(pre, [1], ['red'])).code).toBe('MODEL_ERROR');
    expect(thrownBy(() => preprocessRow(pre, [1, 2], [])).details).toEqual({ path: 'categorical' });
  });

  it('counts features as numeric plus categories', () => {
    expect(featureWidth(pre)).toBe(4);
  });
});

describe('linear estimators', () => {
  const coefficients = [1, 2, 3, -1];
  it('linear-regressor: intercept + coefficients · x', () => {
    // x = [2, 3, 1, 0] → 0.5 + 2 + 6 + 3 - 0 = 11.5
    const s = spec({ kind: 'linear-regressor', coefficients, intercept: 0.5 });
    expect([...predictSpec(s, [[6, 3]], [['red']])]).toEqual([11.5]);
  });

  it('logistic-classifier: p(class 1) = sigmoid(z)', () => {
    // x = [0, 0, -1, 0]: z = ln 3 + 3 * -1 + 3 = ln 3 → p = 3 / 4
    const s = spec({ kind: 'logistic-classifier', coefficients, intercept: Math.log(3) + 3 });
    expect(predictSpec(s, [[2, 0]], [['blue']])[0]).toBeCloseTo(0.75, 12);
    const zero = spec({ kind: 'logistic-classifier', coefficients: [0, 0, 0, 0], intercept: 0 });
    expect([...predictSpec(zero, [[2, 0]], [['red']])]).toEqual([0.5]);
  });
});

describe('tree estimators', () => {
  const regressor = (trees = [stump], base = 0, weight = 1) =>
    spec({ kind: 'tree-regressor', trees, base, weight }, identity);

  it('goes left when x <= threshold, right otherwise', () => {
    const s = regressor();
    expect([...predictSpec(s, [[3, 5]], [['red']])]).toEqual([1]); // 3 <= 3: left
    expect([...predictSpec(s, [[3.5, 0]], [['red']])]).toEqual([2]); // right, then 0 <= 0: left
    expect([...predictSpec(s, [[3.5, 0.25]], [['red']])]).toEqual([4]);
  });

  it('branches on imputed values', () => {
    // a missing → 10 → right; b missing → -1 → left
    expect([...predictSpec(regressor(), [[null, Number.NaN]], [[null]])]).toEqual([2]);
  });

  it('averages a forest with weight 1/n', () => {
    const s = regressor([stump, { nodes: [leaf(7)] }], 0, 1 / 2);
    expect([...predictSpec(s, [[0, 0]], [['red']])]).toEqual([4]); // (1 + 7) / 2
  });

  it('adds a boosting base and learning rate', () => {
    const s = regressor([stump, stump], 10, 0.1);
    expect(predictSpec(s, [[5, 1]], [['red']])[0]).toBeCloseTo(10.8, 12); // 10 + 0.1 * (4 + 4)
  });

  it('splits on one-hot features', () => {
    const byColour = { nodes: [split(3, 0.5, 1, 2), leaf(0.2), leaf(0.9)] }; // feature 3 is colour=green
    const s = spec(
      { kind: 'tree-classifier', trees: [byColour], base: 0, weight: 1, link: 'identity' },
      identity,
    );
    expect([
      ...predictSpec(
        s,
        [
          [0, 0],
          [0, 0],
          [0, 0],
        ],
        [['green'], ['red'], ['teal']],
      ),
    ]).toEqual([0.9, 0.2, 0.2]);
  });

  it('tree-classifier with the logistic link: sigmoid(base + weight · Σ)', () => {
    const s = spec(
      { kind: 'tree-classifier', trees: [stump], base: Math.log(3) - 0.5, weight: 0.5, link: 'logistic' },
      identity,
    );
    expect(predictSpec(s, [[0, 0]], [['red']])[0]).toBeCloseTo(0.75, 12); // z = ln 3 - 0.5 + 0.5 * 1
  });

  it('compilePredictor predicts one row at a time', () => {
    const predict = compilePredictor(regressor());
    expect(predict([3.5, 1], ['red'])).toBe(4);
    expect(predict([0, 1], ['red'])).toBe(1);
  });

  it('takes no categorical rows when the spec has no categorical columns', () => {
    const numericOnly: Preprocessing = {
      numeric: ['a', 'b'],
      impute: [0, 0],
      categorical: [],
      categories: [],
      offset: [0, 0],
      scale: [1, 1],
    };
    const s = spec({ kind: 'tree-regressor', trees: [stump], base: 0, weight: 1 }, numericOnly);
    expect([
      ...predictSpec(s, [
        [1, 1],
        [4, 1],
      ]),
    ]).toEqual([1, 4]);
  });
});

describe('float32 branching', () => {
  it('floorFloat32 is the largest float32 <= t', () => {
    expect(floorFloat32(0.5)).toBe(0.5);
    expect(floorFloat32(0.1)).toBe(0.09999999403953552); // fround(0.1) = 0.10000000149... is above 0.1
    expect(floorFloat32(-0.1)).toBe(Math.fround(-0.1)); // rounds down already
    expect(floorFloat32(1e39)).toBe(3.4028234663852886e38);
    expect(floorFloat32(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    expect(floorFloat32(-1e-50)).toBe(-1.401298464324817e-45);
    for (const t of [0.1, 1 / 3, -2.7, 123.456, 1e-40]) {
      const f = floorFloat32(t);
      expect(f).toBe(Math.fround(f));
      expect(f).toBeLessThanOrEqual(t);
      // The next float32 up is above t.
      const next = new Float32Array([f]);
      const bits = new Int32Array(next.buffer);
      bits[0]! += f >= 0 ? 1 : -1;
      expect(next[0]!).toBeGreaterThan(t);
    }
  });

  it('for float32 inputs, the branch is exactly x <= threshold', () => {
    const t = 0.1; // not a float32
    const tree = { nodes: [split(0, t, 1, 2), leaf(-1), leaf(1)] };
    const s = spec({ kind: 'tree-regressor', trees: [tree], base: 0, weight: 1 }, identity);
    const below = floorFloat32(t); // 0.099999994: <= 0.1
    const above = Math.fround(t); // 0.100000001: > 0.1
    expect([
      ...predictSpec(
        s,
        [
          [below, 0],
          [above, 0],
        ],
        [['red'], ['red']],
      ),
    ]).toEqual([-1, 1]);
    // A double input is rounded to float32 first, as the ONNX input tensor rounds it: 0.1 → 0.100000001 → right.
    expect([...predictSpec(s, [[0.1, 0]], [['red']])]).toEqual([1]);
  });

  it('trees see the impute value and the scaling in float32, as the graph does', () => {
    // impute a = 0.1 (→ 0.100000001 in float32), threshold 0.1: the float32 value is above it → right.
    const p: Preprocessing = { ...identity, impute: [0.1, 0] };
    const tree = { nodes: [split(0, 0.1, 1, 2), leaf(-1), leaf(1)] };
    const s = spec({ kind: 'tree-regressor', trees: [tree], base: 0, weight: 1 }, p);
    expect([...predictSpec(s, [[null, 0]], [['red']])]).toEqual([1]);
  });
});

describe('checkSpec', () => {
  const ok = spec({ kind: 'tree-regressor', trees: [stump], base: 0, weight: 1 }, identity);
  const bad = (estimator: ModelSpec['estimator'], preprocessing = identity) =>
    thrownBy(() => checkSpec(spec(estimator, preprocessing)));

  it('accepts a consistent spec', () => {
    expect(() => checkSpec(ok)).not.toThrow();
  });

  it('names the failing path', () => {
    let e = bad({ kind: 'linear-regressor', coefficients: [1, 2], intercept: 0 });
    expect(e.code).toBe('MODEL_ERROR');
    expect(e.details).toEqual({ path: 'estimator.coefficients' });
    e = bad(
      { kind: 'linear-regressor', coefficients: [1, 2, 3, 4], intercept: 0 },
      { ...identity, impute: [0] },
    );
    expect(e.details).toEqual({ path: 'preprocessing.impute' });
    e = bad({ kind: 'linear-regressor', coefficients: [1, 2, 3, Number.NaN], intercept: 0 });
    expect(e.details).toEqual({ path: 'estimator.coefficients[3]' });
  });

  it('rejects nodes that are not a tree', () => {
    const cycle = { nodes: [split(0, 1, 1, 2), leaf(0), split(1, 1, 0, 1)] };
    expect(bad({ kind: 'tree-regressor', trees: [stump, cycle], base: 0, weight: 1 }).details).toEqual({
      path: 'estimator.trees[1].nodes[2].left',
    });
    const outOfRange = { nodes: [split(0, 1, 1, 5), leaf(0)] };
    expect(bad({ kind: 'tree-regressor', trees: [outOfRange], base: 0, weight: 1 }).message).toMatch(
      /not in \[0, 2\)/,
    );
    const badFeature = { nodes: [split(4, 1, 1, 2), leaf(0), leaf(1)] };
    expect(bad({ kind: 'tree-regressor', trees: [badFeature], base: 0, weight: 1 }).details).toEqual({
      path: 'estimator.trees[0].nodes[0].feature',
    });
  });

  it('predictSpec checks the spec before predicting', () => {
    const e = thrownBy(() =>
      predictSpec(
        spec({ kind: 'tree-regressor', trees: [{ nodes: [] }], base: 0, weight: 1 }),
        [[0, 0]],
        [['red']],
      ),
    );
    expect(e.code).toBe('MODEL_ERROR');
  });
});
