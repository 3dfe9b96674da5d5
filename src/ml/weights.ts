// Ensemble weights, shared by the training job (which scores an ensemble on its holdout) and serving (which
// combines the members' predictions), so the ensemble the gate judged is the one served.

/**
 * Inverse-score weights, normalised to sum 1. Scores are losses (MAE, log-loss: lower is better); a member without
 * a positive score gets the mean weight of the others (or 1 when none has one).
 */
export function weigh<M extends { validationScore: number | null }>(
  members: readonly { service: string; model: M }[],
): { service: string; model: M; weight: number }[] {
  const inverse = members.map(({ model }) =>
    model.validationScore !== null && model.validationScore > 0 ? 1 / model.validationScore : null,
  );
  const known = inverse.filter((w): w is number => w !== null);
  const fill = known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : 1;
  const raw = inverse.map((w) => w ?? fill);
  const total = raw.reduce((a, b) => a + b, 0);
  return members.map((m, i) => ({ ...m, weight: raw[i]! / total }));
}
