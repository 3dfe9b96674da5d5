// Writes a ModelSpec as an ordinary ONNX file: preprocessing and estimator in one graph, standard ai.onnx and
// ai.onnx.ml operators only, so onnxruntime (or any other ONNX runtime) serves exactly what training fitted.
//
// Graph (float32 throughout):
//   numeric [N, F] ─ Imputer ─────────────────────────────┐
//   categorical [N, K] ─ Gather(col j) ─ OneHotEncoder ───┴─ Concat(axis 1) ─ Scaler ─ estimator ─ prediction [N, 1]
// Estimators:
//   linear-regressor     LinearRegressor
//   logistic-classifier  LinearRegressor (the logit) → Sigmoid
//   tree-regressor       TreeEnsembleRegressor (SUM, base_values [base], leaf weights value·weight)
//   tree-classifier      TreeEnsembleRegressor as above, → Sigmoid for the logistic link
// Classifiers use a regressor on the score plus an explicit link rather than LinearClassifier or
// TreeEnsembleClassifier: for a binary model those emit a label plus a two-column score whose layout for a
// single class (one coefficient row, one class_id; "add second class", 1-p vs -score) differs between operator
// versions and runtimes, and would need a Slice to get p(class 1). Score → Sigmoid has one meaning everywhere
// and is the single [N, 1] output we want.
// Tree thresholds are written rounded down to float32 (see floorFloat32 in ../predict.ts): for a float32
// feature x, `x <= floorFloat32(t)` is exactly `x <= t`, so rounding never moves a split.
// The ai.onnx.ml operators have no type inference in onnx, so the graph's value_info declares the type and
// shape of every output they produce; with it the file passes `onnx.checker.check_model(m, full_check=True)`
// (test/ml/onnx/checker.test.ts).
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { TagstreamError } from '../../errors.ts';
import type { ModelSpec, Tree } from '../model-spec.ts';
import { checkSpec, featureWidth, floorFloat32, treeOrder } from '../predict.ts';

const P = onnxProto.onnx;

/**
 * The lowest opsets that hold every operator we emit with the attributes we use: ai.onnx 7 (Gather-1, Concat-4,
 * Sigmoid-6; later versions add negative indices/axes and types we do not use; 7 is the oldest opset
 * onnxruntime guarantees) and ai.onnx.ml 1 (every ML operator here is version 1; TreeEnsembleRegressor-3 only
 * adds the *_as_tensor attributes, and onnxruntime 1.11 has no kernel for it). IR 8 is ONNX 1.10+'s format.
 * onnxruntime-node 1.11.0 runs every estimator kind with the test's parity (checked by hand, not in the tests);
 * the tests use the package.json one.
 */
export const IR_VERSION = 8;
export const OPSET = 7;
export const ML_OPSET = 1;
export const ML_DOMAIN = 'ai.onnx.ml';
export const INPUT_NUMERIC = 'numeric';
export const INPUT_CATEGORICAL = 'categorical';
export const OUTPUT = 'prediction';

export interface ExportOptions {
  readonly producerName?: string;
  readonly docString?: string;
}

const { AttributeType } = P.AttributeProto;
const { DataType } = P.TensorProto;
const utf8 = new TextEncoder();

type Attr = number | string | readonly number[] | readonly string[];
type AttrKind = 'int' | 'float' | 'ints' | 'floats';

/** An attribute; numbers need their kind (int or float), strings do not. */
function attr(name: string, value: Attr, kind?: AttrKind): onnx.IAttributeProto {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: utf8.encode(value) };
  if (typeof value === 'number')
    return kind === 'int'
      ? { name, type: AttributeType.INT, i: value }
      : { name, type: AttributeType.FLOAT, f: value };
  if (kind === undefined)
    return { name, type: AttributeType.STRINGS, strings: value.map((s) => utf8.encode(String(s))) };
  return kind === 'ints'
    ? { name, type: AttributeType.INTS, ints: [...(value as readonly number[])] }
    : { name, type: AttributeType.FLOATS, floats: [...(value as readonly number[])] };
}

function tensorInfo(
  name: string,
  elemType: number,
  dims: readonly (number | string)[],
): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  /** Types of intermediate values whose operator onnx cannot infer them for (the ai.onnx.ml ones). */
  readonly valueInfo: onnx.IValueInfoProto[] = [];

  /** Declares an intermediate float [N, width] value; returns its name. */
  typed(name: string, width: number): string {
    this.valueInfo.push(tensorInfo(name, DataType.FLOAT, ['N', width]));
    return name;
  }

  node(
    opType: string,
    inputs: readonly string[],
    output: string,
    attributes: readonly onnx.IAttributeProto[] = [],
    domain = '',
  ): string {
    this.nodes.push({
      name: `${opType}_${this.nodes.length}`,
      opType,
      domain,
      input: [...inputs],
      output: [output],
      attribute: [...attributes],
    });
    return output;
  }

  int64Scalar(name: string, value: number): string {
    this.initializers.push({ name, dataType: DataType.INT64, dims: [], int64Data: [value] });
    return name;
  }
}

/** A tree ensemble's nodes_* and target_* attributes, nodes renumbered parents-first, leaf weights value·weight. */
function treeAttributes(trees: readonly Tree[], weight: number, width: number): onnx.IAttributeProto[] {
  const treeIds: number[] = [];
  const nodeIds: number[] = [];
  const featureIds: number[] = [];
  const modes: string[] = [];
  const values: number[] = [];
  const trueIds: number[] = [];
  const falseIds: number[] = [];
  const targetTree: number[] = [];
  const targetNode: number[] = [];
  const targetWeight: number[] = [];
  trees.forEach((tree, t) => {
    const order = treeOrder(tree, width, `estimator.trees[${t}]`);
    const id = new Map(order.map((old, i) => [old, i] as const));
    order.forEach((old, i) => {
      const n = tree.nodes[old]!;
      const leaf = n.feature === -1;
      treeIds.push(t);
      nodeIds.push(i);
      featureIds.push(leaf ? 0 : n.feature);
      modes.push(leaf ? 'LEAF' : 'BRANCH_LEQ');
      values.push(leaf ? 0 : floorFloat32(n.threshold));
      trueIds.push(leaf ? 0 : id.get(n.left)!);
      falseIds.push(leaf ? 0 : id.get(n.right)!);
      if (leaf) {
        targetTree.push(t);
        targetNode.push(i);
        targetWeight.push(n.value * weight);
      }
    });
  });
  return [
    attr('nodes_treeids', treeIds, 'ints'),
    attr('nodes_nodeids', nodeIds, 'ints'),
    attr('nodes_featureids', featureIds, 'ints'),
    attr('nodes_modes', modes),
    attr('nodes_values', values, 'floats'),
    attr('nodes_truenodeids', trueIds, 'ints'),
    attr('nodes_falsenodeids', falseIds, 'ints'),
    attr('target_treeids', targetTree, 'ints'),
    attr('target_nodeids', targetNode, 'ints'),
    attr(
      'target_ids',
      targetNode.map(() => 0),
      'ints',
    ),
    attr('target_weights', targetWeight, 'floats'),
  ];
}

/** Serialises the spec (preprocessing + estimator) as ONNX model bytes. Throws MODEL_ERROR for a bad spec. */
export function exportOnnx(spec: ModelSpec, options: ExportOptions = {}): Uint8Array {
  checkSpec(spec);
  const p = spec.preprocessing;
  if (p.numeric.length === 0)
    throw new TagstreamError(
      'MODEL_ERROR',
      'preprocessing.numeric: ONNX export needs at least one numeric column',
      {
        details: { path: 'preprocessing.numeric' },
      },
    );
  const width = featureWidth(p);
  const g = new GraphBuilder();
  const inputs = [tensorInfo(INPUT_NUMERIC, DataType.FLOAT, ['N', p.numeric.length])];

  const columns = [
    g.node(
      'Imputer',
      [INPUT_NUMERIC],
      g.typed('numeric_imputed', p.numeric.length),
      [attr('imputed_value_floats', p.impute, 'floats'), attr('replaced_value_float', Number.NaN, 'float')],
      ML_DOMAIN,
    ),
  ];
  if (p.categorical.length > 0) {
    inputs.push(tensorInfo(INPUT_CATEGORICAL, DataType.STRING, ['N', p.categorical.length]));
    p.categories.forEach((cats, j) => {
      if (cats.length === 0) return; // no known category: the column adds no features
      // Gather with a scalar index drops the axis: [N] strings → OneHotEncoder → [N, categories].
      const column = g.node(
        'Gather',
        [INPUT_CATEGORICAL, g.int64Scalar(`column_${j}`, j)],
        `categorical_${j}`,
        [attr('axis', 1, 'int')],
      );
      columns.push(
        g.node(
          'OneHotEncoder',
          [column],
          g.typed(`onehot_${j}`, cats.length),
          [attr('cats_strings', cats), attr('zeros', 1, 'int')],
          ML_DOMAIN,
        ),
      );
    });
  }
  const features =
    columns.length === 1 ? columns[0]! : g.node('Concat', columns, 'features', [attr('axis', 1, 'int')]);
  const scaled = g.node(
    'Scaler',
    [features],
    g.typed('scaled', width),
    [attr('offset', p.offset, 'floats'), attr('scale', p.scale, 'floats')],
    ML_DOMAIN,
  );

  const e = spec.estimator;
  const logistic =
    e.kind === 'logistic-classifier' || (e.kind === 'tree-classifier' && e.link === 'logistic');
  // The graph output has its type already; the logit before Sigmoid needs one.
  const scoreName = logistic ? g.typed('score', 1) : OUTPUT;
  if (e.kind === 'linear-regressor' || e.kind === 'logistic-classifier') {
    g.node(
      'LinearRegressor',
      [scaled],
      scoreName,
      [
        attr('coefficients', e.coefficients, 'floats'),
        attr('intercepts', [e.intercept], 'floats'),
        attr('targets', 1, 'int'),
      ],
      ML_DOMAIN,
    );
  } else {
    g.node(
      'TreeEnsembleRegressor',
      [scaled],
      scoreName,
      [
        ...treeAttributes(e.trees, e.weight, width),
        attr('n_targets', 1, 'int'),
        attr('aggregate_function', 'SUM'),
        attr('base_values', [e.base], 'floats'),
        attr('post_transform', 'NONE'),
      ],
      ML_DOMAIN,
    );
  }
  if (logistic) g.node('Sigmoid', [scoreName], OUTPUT);

  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [
      { domain: '', version: OPSET },
      { domain: ML_DOMAIN, version: ML_OPSET },
    ],
    producerName: options.producerName ?? 'tagstream',
    producerVersion: '1',
    modelVersion: 1,
    docString: options.docString ?? `${spec.service} ${spec.algorithm} (${e.kind})`,
    metadataProps: [
      { key: 'service', value: spec.service },
      { key: 'algorithm', value: spec.algorithm },
      { key: 'estimator', value: e.kind },
      { key: 'numeric', value: JSON.stringify(p.numeric) },
      { key: 'categorical', value: JSON.stringify(p.categorical) },
    ],
    graph: {
      name: `${spec.service}_${spec.algorithm}`,
      node: g.nodes,
      initializer: g.initializers,
      input: inputs,
      output: [tensorInfo(OUTPUT, DataType.FLOAT, ['N', 1])],
      valueInfo: g.valueInfo,
    },
  };
  return P.ModelProto.encode(model).finish();
}
