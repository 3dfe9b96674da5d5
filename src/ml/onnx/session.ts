// A thin onnxruntime-node adapter: the rest of the code sees OnnxModel, never the vendor session or tensors,
// and every failure (load, input shape, run) comes back as a coded TagstreamError('MODEL_ERROR').
import * as ort from 'onnxruntime-node';
import { TagstreamError } from '../../errors.ts';
import { INPUT_CATEGORICAL, INPUT_NUMERIC, OUTPUT } from './export.ts';

/** A loaded model with the graph interface written by export.ts (numeric [N, F], categorical [N, K] strings). */
export interface OnnxModel {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Columns of the numeric input (F). */
  readonly numericColumns: number;
  /** Columns of the categorical input (K); 0 when the model has none. */
  readonly categoricalColumns: number;
  /**
   * One prediction per row (regression value or p(class 1)). `numericRows` is row-major n × F with NaN for
   * missing; `categorical` is row-major n × K, a missing value as any string that is not a known category
   * (e.g. ''), which encodes as all zeros like an unknown one.
   */
  predict(numericRows: Float32Array, n: number, categorical?: readonly string[]): Promise<Float32Array>;
  close(): Promise<void>;
}

export interface LoadOptions {
  /** onnxruntime intra-op threads; 1 suits small per-event batches (no thread pool hand-off). */
  readonly threads?: number;
}

function modelError(message: string, stage: string, cause?: unknown): TagstreamError {
  return new TagstreamError('MODEL_ERROR', message, {
    ...(cause === undefined ? {} : { cause }),
    retryable: false,
    details: { stage },
  });
}

const causeMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function columnsOf(session: ort.InferenceSession, name: string): number {
  const meta = session.inputMetadata.find((m) => m.name === name);
  if (meta === undefined) return 0;
  const cols = meta.isTensor ? meta.shape[1] : undefined;
  if (meta.isTensor && meta.shape.length === 2 && typeof cols === 'number' && cols >= 0) return cols;
  throw modelError(`input ${name} must be a tensor of shape [N, columns]`, 'load');
}

/** Loads ONNX model bytes (as written by exportOnnx) into an onnxruntime session. */
export async function loadModel(bytes: Uint8Array, options: LoadOptions = {}): Promise<OnnxModel> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      // Failures come back as MODEL_ERROR carrying onnxruntime's message; its own stderr logger stays quiet.
      logSeverityLevel: 4,
      ...(options.threads === undefined ? {} : { intraOpNumThreads: options.threads, interOpNumThreads: 1 }),
    });
  } catch (e) {
    throw modelError(`cannot load ONNX model: ${causeMessage(e)}`, 'load', e);
  }
  try {
    if (!session.inputNames.includes(INPUT_NUMERIC) || !session.outputNames.includes(OUTPUT))
      throw modelError(
        `expected input '${INPUT_NUMERIC}' and output '${OUTPUT}', got inputs [${session.inputNames.join(', ')}] ` +
          `and outputs [${session.outputNames.join(', ')}]`,
        'load',
      );
    const numericColumns = columnsOf(session, INPUT_NUMERIC);
    const categoricalColumns = columnsOf(session, INPUT_CATEGORICAL);
    return {
      inputs: [...session.inputNames],
      outputs: [...session.outputNames],
      numericColumns,
      categoricalColumns,
      async predict(numericRows, n, categorical) {
        if (!Number.isInteger(n) || n < 0)
          throw modelError(`row count ${n} is not a non-negative integer`, 'input');
        if (numericRows.length !== n * numericColumns)
          throw modelError(
            `numeric: expected ${n} × ${numericColumns} = ${n * numericColumns} values, got ${numericRows.length}`,
            'input',
          );
        const nCat = categorical?.length ?? 0;
        if (nCat !== n * categoricalColumns)
          throw modelError(
            `categorical: expected ${n} × ${categoricalColumns} = ${n * categoricalColumns} values, got ${nCat}`,
            'input',
          );
        if (n === 0) return new Float32Array(0);
        const feeds: Record<string, ort.Tensor> = {
          [INPUT_NUMERIC]: new ort.Tensor('float32', numericRows, [n, numericColumns]),
        };
        if (categoricalColumns > 0)
          feeds[INPUT_CATEGORICAL] = new ort.Tensor('string', categorical!, [n, categoricalColumns]);
        let result: ort.InferenceSession.ReturnType;
        try {
          result = await session.run(feeds);
        } catch (e) {
          throw modelError(`ONNX inference failed: ${causeMessage(e)}`, 'run', e);
        }
        const out = result[OUTPUT];
        if (out === undefined || out.type !== 'float32' || out.data.length !== n)
          throw modelError(`output ${OUTPUT} is not ${n} float32 values`, 'run');
        return out.data as Float32Array;
      },
      async close() {
        await session.release();
      },
    };
  } catch (e) {
    await session.release();
    throw e;
  }
}
