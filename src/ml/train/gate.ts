// The validation gate: a candidate is promoted only if, on the same held-out, later-in-time rows, it beats the naive
// baseline and is not worse than the production model. Pure: the job computes the metrics, this decides and says why.

export type GateMetric = 'mae' | 'rmse' | 'log_loss';

export interface GateInput {
  readonly service: string;
  /** The metric compared; lower is better for each. */
  readonly metric: GateMetric;
  /** The candidate's metric on the holdout. */
  readonly candidate: number;
  /** The naive baseline's metric on the same rows, and what the baseline is. */
  readonly baseline: { readonly name: string; readonly value: number };
  /**
   * The production model on the same rows: null when the service has none yet; `unscorable` when it cannot be
   * scored on them (e.g. it needs columns this frame lacks), which blocks promotion (never promote blind).
   */
  readonly production:
    | null
    | { readonly version: string; readonly value: number }
    | { readonly version: string; readonly unscorable: string };
  /** Required relative improvement over the baseline (default 0: any improvement). */
  readonly minImprovement?: number;
}

export interface GateDecision {
  readonly pass: boolean;
  /** One line per check, passing or not, for the log and ml_model_performance. */
  readonly reasons: readonly string[];
  /** 1 - candidate / baseline. */
  readonly improvement: number;
}

const LABEL: Record<GateMetric, string> = { mae: 'MAE', rmse: 'RMSE', log_loss: 'log-loss' };
const fmt = (v: number): string => (Number.isFinite(v) ? v.toFixed(4) : String(v));

export function gate(input: GateInput): GateDecision {
  const m = LABEL[input.metric];
  const min = input.minImprovement ?? 0;
  const reasons: string[] = [];
  let pass = true;
  const improvement = 1 - input.candidate / input.baseline.value;

  if (!Number.isFinite(input.candidate)) {
    pass = false;
    reasons.push(`candidate ${m} on the holdout is ${input.candidate}: nothing to compare`);
  } else if (!Number.isFinite(input.baseline.value)) {
    pass = false;
    reasons.push(
      `baseline (${input.baseline.name}) ${m} on the holdout is ${input.baseline.value}: cannot tell`,
    );
  } else if (input.candidate < input.baseline.value && improvement >= min) {
    reasons.push(
      `beats the ${input.baseline.name} baseline: ${m} ${fmt(input.candidate)} vs ${fmt(input.baseline.value)} ` +
        `(${(100 * improvement).toFixed(1)}% better${min > 0 ? `, at least ${(100 * min).toFixed(1)}% required` : ''})`,
    );
  } else {
    pass = false;
    reasons.push(
      `does not beat the ${input.baseline.name} baseline: ${m} ${fmt(input.candidate)} vs ${fmt(input.baseline.value)} ` +
        `(${(100 * improvement).toFixed(1)}%${min > 0 ? `, ${(100 * min).toFixed(1)}% required` : ''})`,
    );
  }

  const p = input.production;
  if (p === null) reasons.push(`${input.service} has no production model yet`);
  else if ('unscorable' in p) {
    pass = false;
    reasons.push(
      `production ${p.version} cannot be scored on this holdout (${p.unscorable}); promote by hand if intended`,
    );
  } else if (!Number.isFinite(p.value)) {
    reasons.push(`production ${p.version} scores ${p.value} on the holdout: treated as worse`);
  } else if (input.candidate <= p.value) {
    reasons.push(`not worse than production ${p.version}: ${m} ${fmt(input.candidate)} vs ${fmt(p.value)}`);
  } else {
    pass = false;
    reasons.push(`worse than production ${p.version}: ${m} ${fmt(input.candidate)} vs ${fmt(p.value)}`);
  }
  return { pass, reasons, improvement };
}
