// The onnxruntime adapter: names and shapes from the loaded model, and each failure (load, input, run) mapped
// to MODEL_ERROR with its stage.
import onnxProto from 'onnx-proto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { exportOnnx } from '../../../src/ml/onnx/export.ts';
import { type OnnxModel, loadModel } from '../../../src/ml/onnx/session.ts';
import { predictSpec } from '../../../src/ml/predict.ts';
import { rejectionOf } from '../../helpers/errors.ts';
import { randomFixture, randomRows, seeded } from '../random-spec.ts';

const { onnx } = onnxProto;

async function load(bytes: Uint8Array): Promise<OnnxModel> {
  const model = await loadModel(bytes, { threads: 1 });
  onTestFinished(() => model.close());
  return model;
}

describe('loadModel', () => {
  const fx = randomFixture(seeded(7), { kind: 'boosted-regressor', numeric: 3, categorical: 2 });

  it('exposes input and output names and column counts', async () => {
    const model = await load(exportOnnx(fx.spec));
    expect(model.inputs).toEqual(['numeric', 'categorical']);
    expect(model.outputs).toEqual(['prediction']);
    expect(model.numericColumns).toBe(3);
    expect(model.categoricalColumns).toBe(2);
  });

  it('predicts from row-major float32 and strings, and takes a subarray view', async () => {
    const model = await load(exportOnnx(fx.spec));
    const rows = randomRows(seeded(8), fx, 5);
    const js = predictSpec(fx.spec, rows.numeric, rows.categorical);
    const padded = new Float32Array(3 + rows.numeric32.length);
    padded.set(rows.numeric32, 3);
    const out = await model.predict(padded.subarray(3), 5, rows.categoricalFlat);
    expect(out).toBeInstanceOf(Float32Array);
    for (let i = 0; i < 5; i++) expect(out[i]).toBeCloseTo(js[i]!, 4);
    expect(await model.predict(new Float32Array(0), 0, [])).toHaveLength(0);
  });

  it('maps bytes that are not a model to MODEL_ERROR at load', async () => {
    const e = await rejectionOf(loadModel(new Uint8Array([1, 2, 3, 4])));
    expect(e.code).toBe('MODEL_ERROR');
    expect(e.retryable).toBe(false);
    expect(e.details).toEqual({ stage: 'load' });
    expect(e.cause).toBeInstanceOf(Error);
  });

  it('maps a model without our input and output names to MODEL_ERROR at load', async () => {
    const bytes = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 16 }],
      graph: {
        name: 'identity',
        node: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } }],
        output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } }],
      },
    }).finish();
    const e = await rejectionOf(loadModel(bytes));
    expect(e.code).toBe('MODEL_ERROR');
    expect(e.message).toMatch(/expected input 'numeric' and output 'prediction'/);
  });

  it('maps input of the wrong size to MODEL_ERROR before running', async () => {
    const model = await load(exportOnnx(fx.spec));
    let e = await rejectionOf(model.predict(new Float32Array(5), 2, ['a', 'b', 'c', 'd']));
    expect(e.code).toBe('MODEL_ERROR');
    expect(e.details).toEqual({ stage: 'input' });
    e = await rejectionOf(model.predict(new Float32Array(6), 2));
    expect(e.message).toMatch(/categorical: expected 2 × 2 = 4 values, got 0/);
  });

  it('maps a failure inside onnxruntime to MODEL_ERROR at run', async () => {
    // numeric [N, 1] reshaped to a fixed [2, 1]: loads, but fails for any N other than 2.
    const bytes = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 16 }],
      graph: {
        name: 'reshape',
        node: [{ opType: 'Reshape', input: ['numeric', 'shape'], output: ['prediction'] }],
        initializer: [
          { name: 'shape', dataType: onnx.TensorProto.DataType.INT64, dims: [2], int64Data: [2, 1] },
        ],
        input: [
          {
            name: 'numeric',
            type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 1 }] } } },
          },
        ],
        output: [
          {
            name: 'prediction',
            type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }, { dimValue: 1 }] } } },
          },
        ],
      },
    }).finish();
    const model = await load(bytes);
    expect([...(await model.predict(Float32Array.of(1, 2), 2))]).toEqual([1, 2]);
    const e = await rejectionOf(model.predict(Float32Array.of(1, 2, 3), 3));
    expect(e.code).toBe('MODEL_ERROR');
    expect(e.details).toEqual({ stage: 'run' });
    expect(e.cause).toBeInstanceOf(Error);
  });
});
