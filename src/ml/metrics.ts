// Evaluation metrics for model selection: MAE and RMSE for regression, log-loss, ROC AUC and average precision for binary
// classification (predictions are p(class 1)), and the log-loss of a constant base rate as the baseline to beat.

type Values = ArrayLike<number>;

function checkLengths(a: Values, b: Values): void {
  if (a.length !== b.length) throw new RangeError(`length mismatch: ${a.length} vs ${b.length}`);
}

/** Mean absolute error; NaN for empty input. */
export function mae(yTrue: Values, yPred: Values): number {
  checkLengths(yTrue, yPred);
  let s = 0;
  for (let i = 0; i < yTrue.length; i++) s += Math.abs(yTrue[i]! - yPred[i]!);
  return s / yTrue.length;
}

/** Root mean squared error; NaN for empty input. */
export function rmse(yTrue: Values, yPred: Values): number {
  checkLengths(yTrue, yPred);
  let s = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const d = yTrue[i]! - yPred[i]!;
    s += d * d;
  }
  return Math.sqrt(s / yTrue.length);
}

/** Probabilities are clipped to [eps, 1 - eps] so one confident mistake costs about -ln(eps), not infinity. */
export const LOG_LOSS_EPS = 1e-15;

/** Mean binary cross-entropy of labels in {0, 1} against p(class 1), probabilities clipped to [eps, 1 - eps]. */
export function logLoss(yTrue: Values, p: Values, eps: number = LOG_LOSS_EPS): number {
  checkLengths(yTrue, p);
  let s = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const q = Math.min(1 - eps, Math.max(eps, p[i]!));
    s -= yTrue[i]! === 1 ? Math.log(q) : Math.log(1 - q);
  }
  return s / yTrue.length;
}

/** The mean of the labels (the fraction of class 1). */
export function baseRate(y: Values): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i]!;
  return s / y.length;
}

/**
 * Log-loss of predicting one constant probability for every row: by default the base rate of `yTrue` itself (the
 * best constant in hindsight); pass the training split's base rate for an honest baseline on validation rows.
 */
export function baseRateLogLoss(yTrue: Values, rate: number = baseRate(yTrue)): number {
  return logLoss(yTrue, new Float64Array(yTrue.length).fill(rate));
}

/**
 * ROC AUC by ranks (Mann-Whitney U): the probability that a random positive scores above a random negative, ties
 * counting one half (tied scores share their average rank). NaN when only one class is present.
 */
export function rocAuc(yTrue: Values, score: Values): number {
  checkLengths(yTrue, score);
  const n = yTrue.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[a]! - score[b]!);
  let nPos = 0;
  let rankSumPos = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && score[idx[j + 1]!] === score[idx[i]!]) j++;
    const avgRank = (i + j) / 2 + 1; // ranks are 1-based
    for (let k = i; k <= j; k++) {
      if (yTrue[idx[k]!] === 1) {
        nPos++;
        rankSumPos += avgRank;
      }
    }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * Average precision (the area under the precision-recall curve as a step function, scikit-learn's
 * `average_precision_score`): Σ over distinct score thresholds, highest first, of (recall gained) × precision at
 * that threshold. Tied scores form one threshold. The baseline of a random score is the positive rate, so it reads
 * better than ROC AUC when positives are rare. NaN when there is no positive.
 */
export function averagePrecision(yTrue: Values, score: Values): number {
  checkLengths(yTrue, score);
  const n = yTrue.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b]! - score[a]!);
  let nPos = 0;
  for (let i = 0; i < n; i++) if (yTrue[i] === 1) nPos++;
  if (nPos === 0) return NaN;
  let tp = 0;
  let seen = 0;
  let ap = 0;
  for (let i = 0; i < n;) {
    let j = i;
    let gained = 0;
    while (j < n && score[idx[j]!] === score[idx[i]!]) {
      if (yTrue[idx[j]!] === 1) gained++;
      j++;
    }
    tp += gained;
    seen = j;
    ap += (gained / nPos) * (tp / seen);
    i = j;
  }
  return ap;
}

/**
 * The split-conformal quantile of calibration residuals: the ⌈(m + 1)·q⌉-th smallest of the m values (clamped to
 * the sample), so a new residual from the same distribution falls at or below it with probability ≥ q.
 */
export function conformalQuantile(residuals: Values, q: number): number {
  const m = residuals.length;
  if (m === 0) return NaN;
  const sorted = Float64Array.from(residuals).sort();
  const k = Math.min(m, Math.max(1, Math.ceil((m + 1) * q)));
  return sorted[k - 1]!;
}

/** The share of rows whose value lies in [lower, upper]. */
export function coverage(y: Values, lower: Values, upper: Values): number {
  checkLengths(y, lower);
  checkLengths(y, upper);
  let inside = 0;
  for (let i = 0; i < y.length; i++) if (y[i]! >= lower[i]! && y[i]! <= upper[i]!) inside++;
  return inside / y.length;
}
