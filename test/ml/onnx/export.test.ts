// ONNX export: parity with the JS predictor through onnxruntime-node for every estimator kind (1,000 seeded
// random rows with missing values, unknown categories and values sitting on thresholds), and the file is
// ordinary ONNX: it decodes as a ModelProto with the expected opsets, inputs, outputs and operators.
// checker.test.ts runs onnx's own checker on it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ModelSpec } from '../../../src/ml/model-spec.ts';
import { ML_DOMAIN, ML_OPSET, OPSET, exportOnnx } from '../../../src/ml/onnx/export.ts';
import { loadModel } from '../../../src/ml/onnx/session.ts';
import { predictSpec } from '../../../src/ml/predict.ts';
import { thrownBy } from '../../helpers/errors.ts';
import { KINDS, type Kind, maxRelativeError, randomFixture, randomRows, seeded } from '../random-spec.ts';

const { onnx } = onnxProto;
const ROWS = 1000;
const TOLERANCE = 1e-5;

const isTree = (kind: Kind): boolean => kind !== 'linear-regressor' && kind !== 'logistic-classifier';

interface Case {
  readonly kind: Kind;
  readonly categorical: number;
  readonly missing: number;
  readonly scaled: boolean;
}

const cases: Case[] = KINDS.flatMap((kind) =>
  [0, 3].flatMap((categorical) =>
    [0, 0.15].flatMap((missing) =>
      (isTree(kind) ? [false, true] : [true]).map((scaled) => ({ kind, categorical, missing, scaled })),
    ),
  ),
);

async function onnxPredict(spec: ModelSpec, numeric32: Float32Array, n: number, categorical?: string[]) {
  const model = await loadModel(exportOnnx(spec));
  onTestFinished(() => model.close());
  return model.predict(numeric32, n, categorical);
}

describe('ONNX parity with the JS predictor (1,000 rows, |onnx - js| <= 1e-5 · max(1, |js|))', () => {
  it.each(cases)(
    '$kind, $categorical categorical columns, missing $missing, scaled $scaled',
    async ({ kind, categorical, missing, scaled }) => {
      const rng = seeded(1 + KINDS.indexOf(kind) * 100 + categorical * 10 + missing * 100 + (scaled ? 1 : 0));
      const fx = randomFixture(rng, { kind, numeric: 8, categorical, scaled });
      const rows = randomRows(rng, fx, ROWS, { missing, unknown: categorical > 0 ? 0.1 : 0 });
      const js = predictSpec(fx.spec, rows.numeric, rows.categorical);
      const out = await onnxPredict(
        fx.spec,
        rows.numeric32,
        ROWS,
        categorical > 0 ? rows.categoricalFlat : undefined,
      );
      expect(out).toHaveLength(ROWS);
      expect(maxRelativeError(out, js)).toBeLessThanOrEqual(TOLERANCE);
      // The model is not constant: parity is not trivially true.
      expect(new Set(js).size).toBeGreaterThan(20);
      if (kind.endsWith('classifier')) for (const p of out) expect(p >= 0 && p <= 1).toBe(true);
    },
  );

  it('holds on many seeds for the two estimators most sensitive to float32 (boosted trees, linear)', async () => {
    for (let seed = 0; seed < 20; seed++) {
      for (const kind of ['boosted-classifier', 'linear-regressor'] as const) {
        const rng = seeded(10_000 + seed);
        const fx = randomFixture(rng, { kind, numeric: 10, categorical: 2, scaled: seed % 2 === 0 });
        const rows = randomRows(rng, fx, ROWS);
        const js = predictSpec(fx.spec, rows.numeric, rows.categorical);
        const out = await onnxPredict(fx.spec, rows.numeric32, ROWS, rows.categoricalFlat);
        expect(maxRelativeError(out, js), `${kind} seed ${seed}`).toBeLessThanOrEqual(TOLERANCE);
      }
    }
  });

  it('takes the same branch as JS for values on a threshold that float32 cannot hold', async () => {
    const t = 0.1;
    const spec: ModelSpec = {
      service: 'test',
      algorithm: 'edge',
      preprocessing: {
        numeric: ['a'],
        impute: [t],
        categorical: [],
        categories: [],
        offset: [0],
        scale: [1],
      },
      estimator: {
        kind: 'tree-regressor',
        base: 0,
        weight: 1,
        trees: [
          {
            nodes: [
              { feature: 0, threshold: t, left: 1, right: 2, value: 0 },
              { feature: -1, threshold: 0, left: 0, right: 0, value: -1 },
              { feature: -1, threshold: 0, left: 0, right: 0, value: 1 },
            ],
          },
        ],
      },
    };
    const inputs = [Math.fround(t), 0.09999999403953552, t, Number.NaN, 0.2, -0.5];
    const js = predictSpec(
      spec,
      inputs.map((v) => [v]),
    );
    expect([...js]).toEqual([1, -1, 1, 1, 1, -1]);
    expect([...(await onnxPredict(spec, Float32Array.from(inputs), inputs.length))]).toEqual([...js]);
  });
});

describe('the exported file is ordinary ONNX', () => {
  const decode = (spec: ModelSpec) => onnx.ModelProto.decode(exportOnnx(spec, { producerName: 'unit-test' }));
  /** decode() builds message instances, so the graph's lists are present (possibly empty). */
  const graphOf = (m: InstanceType<typeof onnx.ModelProto>) =>
    m.graph as InstanceType<typeof onnx.GraphProto>;
  const rng = seeded(42);
  const tensorType = (v: OnnxTypes.IValueInfoProto | undefined) => {
    const t = v?.type?.tensorType;
    return { elemType: t?.elemType, dims: t?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue)) };
  };

  // The lowest opsets with every operator we emit: onnxruntime 1.11 has no TreeEnsembleRegressor for ai.onnx.ml 3.
  it('declares IR 8, ai.onnx 7 and ai.onnx.ml 1, and its producer', () => {
    const m = decode(randomFixture(rng, { kind: 'linear-regressor', numeric: 3, categorical: 0 }).spec);
    expect(Number(m.irVersion)).toBe(8);
    expect([OPSET, ML_OPSET]).toEqual([7, 1]);
    expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([
      ['', OPSET],
      [ML_DOMAIN, ML_OPSET],
    ]);
    expect(m.producerName).toBe('unit-test');
    expect(m.metadataProps.find((p) => p.key === 'estimator')?.value).toBe('linear-regressor');
  });

  it('has inputs numeric [N, F] float and categorical [N, K] string, and output prediction [N, 1] float', () => {
    const m = decode(randomFixture(rng, { kind: 'boosted-classifier', numeric: 5, categorical: 2 }).spec);
    const g = graphOf(m);
    expect(g.input.map((i) => i.name)).toEqual(['numeric', 'categorical']);
    expect(tensorType(g.input[0])).toEqual({ elemType: onnx.TensorProto.DataType.FLOAT, dims: ['N', 5] });
    expect(tensorType(g.input[1])).toEqual({ elemType: onnx.TensorProto.DataType.STRING, dims: ['N', 2] });
    expect(g.output.map((o) => o.name)).toEqual(['prediction']);
    expect(tensorType(g.output[0])).toEqual({ elemType: onnx.TensorProto.DataType.FLOAT, dims: ['N', 1] });
  });

  const ml = (op: string) => `${ML_DOMAIN}:${op}`;
  const expectedOps: Record<Kind, string[]> = {
    'linear-regressor': [ml('LinearRegressor')],
    'logistic-classifier': [ml('LinearRegressor'), 'Sigmoid'],
    'forest-regressor': [ml('TreeEnsembleRegressor')],
    'boosted-regressor': [ml('TreeEnsembleRegressor')],
    'forest-classifier': [ml('TreeEnsembleRegressor')],
    'boosted-classifier': [ml('TreeEnsembleRegressor'), 'Sigmoid'],
  };
  it.each(KINDS)('%s: preprocessing and estimator operators', (kind) => {
    const withCats = decode(randomFixture(rng, { kind, numeric: 4, categorical: 2 }).spec);
    expect(graphOf(withCats).node.map((n) => (n.domain ? `${n.domain}:${n.opType}` : n.opType))).toEqual([
      ml('Imputer'),
      'Gather',
      ml('OneHotEncoder'),
      'Gather',
      ml('OneHotEncoder'),
      'Concat',
      ml('Scaler'),
      ...expectedOps[kind],
    ]);
    const numericOnly = decode(randomFixture(rng, { kind, numeric: 4, categorical: 0 }).spec);
    expect(graphOf(numericOnly).input.map((i) => i.name)).toEqual(['numeric']);
    expect(graphOf(numericOnly).node.map((n) => n.opType)).toEqual([
      'Imputer',
      'Scaler',
      ...expectedOps[kind].map((op) => op.replace(`${ML_DOMAIN}:`, '')),
    ]);
  });

  it('writes tree thresholds rounded down to float32 and leaf weights scaled by the estimator weight', () => {
    const spec: ModelSpec = {
      service: 'test',
      algorithm: 'attrs',
      preprocessing: {
        numeric: ['a'],
        impute: [0],
        categorical: [],
        categories: [],
        offset: [0],
        scale: [1],
      },
      estimator: {
        kind: 'tree-regressor',
        base: 3,
        weight: 0.5,
        trees: [
          {
            nodes: [
              { feature: 0, threshold: 0.1, left: 2, right: 1, value: 0 },
              { feature: -1, threshold: 0, left: 0, right: 0, value: 4 },
              { feature: -1, threshold: 0, left: 0, right: 0, value: -2 },
            ],
          },
        ],
      },
    };
    const node = graphOf(decode(spec)).node.find((n) => n.opType === 'TreeEnsembleRegressor')!;
    const a = (name: string) =>
      node.attribute!.find((x) => x.name === name) as InstanceType<typeof onnx.AttributeProto>;
    expect(a('nodes_values').floats[0]).toBe(0.09999999403953552);
    expect(a('nodes_modes').strings.map((s) => new TextDecoder().decode(s))).toEqual([
      'BRANCH_LEQ',
      'LEAF',
      'LEAF',
    ]);
    // Nodes are renumbered parents first: left child (old 2) is node 1.
    expect(a('nodes_truenodeids').ints.map(Number)).toEqual([1, 0, 0]);
    expect(a('nodes_falsenodeids').ints.map(Number)).toEqual([2, 0, 0]);
    expect(a('target_weights').floats).toEqual([-1, 2]);
    expect(a('base_values').floats).toEqual([3]);
    expect(new TextDecoder().decode(a('aggregate_function').s)).toBe('SUM');
  });

  it('onnxruntime loads it from a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tagstream-onnx-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const fx = randomFixture(rng, { kind: 'forest-classifier', numeric: 4, categorical: 1 });
    const path = join(dir, 'model.onnx');
    await writeFile(path, exportOnnx(fx.spec));
    const session = await ort.InferenceSession.create(path);
    onTestFinished(() => session.release());
    expect(session.inputNames).toEqual(['numeric', 'categorical']);
    expect(session.outputNames).toEqual(['prediction']);
    const rows = randomRows(rng, fx, 10);
    const out = await session.run({
      numeric: new ort.Tensor('float32', rows.numeric32, [10, 4]),
      categorical: new ort.Tensor('string', rows.categoricalFlat, [10, 1]),
    });
    expect(out['prediction']!.dims).toEqual([10, 1]);
    const js = predictSpec(fx.spec, rows.numeric, rows.categorical);
    expect(maxRelativeError(out['prediction']!.data as Float32Array, js)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('refuses a malformed spec or one without numeric columns with MODEL_ERROR', () => {
    const fx = randomFixture(rng, { kind: 'linear-regressor', numeric: 2, categorical: 0 });
    const bad = {
      ...fx.spec,
      estimator: { kind: 'linear-regressor' as const, coefficients: [1], intercept: 0 },
    };
    expect(thrownBy(() => exportOnnx(bad)).code).toBe('MODEL_ERROR');
    const none: ModelSpec = {
      ...fx.spec,
      preprocessing: {
        numeric: [],
        impute: [],
        categorical: ['c'],
        categories: [['x']],
        offset: [0],
        scale: [1],
      },
      estimator: { kind: 'linear-regressor', coefficients: [1], intercept: 0 },
    };
    expect(thrownBy(() => exportOnnx(none)).details).toEqual({ path: 'preprocessing.numeric' });
  });
});
