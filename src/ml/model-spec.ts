// A trained model as plain data: the preprocessing fitted on the training split and the estimator. The JS
// predictor (src/ml/predict.ts) and the ONNX exporter (src/ml/onnx/) both read this, so serving runs exactly
// what training fitted (no training/serving skew), and parity between the two is testable.

/** Fitted preprocessing, applied in this order: derive → impute → one-hot (categoricals) → scale. */
export interface Preprocessing {
  /** Numeric input columns, in the order of the model's float input tensor. */
  readonly numeric: readonly string[];
  /** Value used for a missing (NaN) numeric input, per numeric column (training-split mean or default). */
  readonly impute: readonly number[];
  /** Categorical input columns (strings), in the order of the model's string input tensor. */
  readonly categorical: readonly string[];
  /** Known categories per categorical column (from the training split); unknown ones encode as all zeros. */
  readonly categories: readonly (readonly string[])[];
  /**
   * Standard scaling of the final feature vector [numeric..., one-hot...]: x' = (x - offset) * scale. Length is
   * numeric.length + total categories. Trees may use offset 0 and scale 1.
   */
  readonly offset: readonly number[];
  readonly scale: readonly number[];
}

/** One tree, nodes in an array; node 0 is the root. */
export interface TreeNode {
  /** Index into the preprocessed feature vector; -1 for a leaf. */
  readonly feature: number;
  /** Go left when x[feature] <= threshold (ONNX mode BRANCH_LEQ), else right. */
  readonly threshold: number;
  readonly left: number;
  readonly right: number;
  /** Leaf value (regression value, or for classifiers the score added to the class-1 logit/probability). */
  readonly value: number;
}

export interface Tree {
  readonly nodes: readonly TreeNode[];
}

export type Estimator =
  /** y = intercept + coefficients · x */
  | {
      readonly kind: 'linear-regressor';
      readonly coefficients: readonly number[];
      readonly intercept: number;
    }
  /** p(class 1) = sigmoid(intercept + coefficients · x) */
  | {
      readonly kind: 'logistic-classifier';
      readonly coefficients: readonly number[];
      readonly intercept: number;
    }
  /** y = base + Σ weight·tree(x): weight 1/n for a random forest (average), the learning rate for boosting */
  | {
      readonly kind: 'tree-regressor';
      readonly trees: readonly Tree[];
      readonly base: number;
      readonly weight: number;
    }
  /**
   * p(class 1) = link(base + Σ weight·tree(x)); link 'logistic' for gradient boosting on the log-odds, 'identity'
   * for a random forest averaging leaf probabilities.
   */
  | {
      readonly kind: 'tree-classifier';
      readonly trees: readonly Tree[];
      readonly base: number;
      readonly weight: number;
      readonly link: 'logistic' | 'identity';
    };

export interface ModelSpec {
  readonly service: string;
  readonly algorithm: string;
  readonly preprocessing: Preprocessing;
  readonly estimator: Estimator;
  /**
   * Set on a service's primary model when it serves as an ensemble: the other registry services
   * (`<service>-<member>`) whose production models are combined with it, weighted by validation score
   * (src/serving/ensemble.ts). Absent: the model serves alone. Not part of the ONNX graph.
   */
  readonly members?: readonly string[];
}
