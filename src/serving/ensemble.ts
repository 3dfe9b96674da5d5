// The ensemble predictor of a service: every production model serving it, weighted by validation score.
//
// A service's members are the registry services `<service>` and `<service>-<member>` (e.g. demand, demand-gbt):
// each is promoted, rolled back and hot-swapped on its own, and a prediction lists the versions it combined.
// Weights are the inverse of each member's validation score (MAE or log-loss: lower is better), normalised; a
// member without a score gets the mean weight of the others (or 1 when none has one).
import { TagstreamError } from '../errors.ts';
import type { FeatureRecord } from '../features/derive.ts';
import type { LoadedModel } from '../ml/registry/watcher.ts';
import { numericValue } from '../ml/preprocess.ts';

/** What the ensemble needs of the model watcher. */
export interface ModelSource {
  current(service: string): LoadedModel | undefined;
  versions(): Record<string, string>;
}

export interface EnsembleMember {
  readonly service: string;
  readonly model: Pick<LoadedModel, 'version' | 'spec' | 'validationScore' | 'predict'>;
  readonly weight: number;
}

/** The members of `service` now, with their weights (empty when no model serves it). */
export function ensembleMembers(models: ModelSource, service: string): EnsembleMember[] {
  const names = Object.keys(models.versions())
    .filter((s) => s === service || s.startsWith(`${service}-`))
    .sort();
  const loaded = names.flatMap((s) => {
    const m = models.current(s);
    return m ? [{ service: s, model: m }] : [];
  });
  return weigh(loaded);
}

/** Inverse-score weights, normalised to sum 1. */
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

export interface EnsembleResult {
  /** One weighted prediction per record. */
  readonly values: Float64Array;
  /** Versions of the members that produced them. */
  readonly versions: readonly string[];
}

/**
 * Scores records with every member of the service in one batch each, and combines them by weight. Each member
 * reads the columns its own spec names (models of one service may use different features).
 */
export async function predictEnsemble(
  members: readonly EnsembleMember[],
  records: readonly FeatureRecord[],
): Promise<EnsembleResult> {
  if (members.length === 0) throw new TagstreamError('MODEL_NOT_FOUND', 'no model serves this service');
  const n = records.length;
  const values = new Float64Array(n);
  for (const { model, weight } of members) {
    const { numeric, categorical } = model.spec.preprocessing;
    const num = new Float32Array(n * numeric.length);
    const cat: string[] = [];
    records.forEach((r, i) => {
      numeric.forEach((c, j) => (num[i * numeric.length + j] = numericValue(r[c])));
      for (const c of categorical) {
        const v = r[c];
        cat.push(v === null || v === undefined ? '' : String(v));
      }
    });
    const out = await model.predict(num, n, categorical.length > 0 ? cat : undefined);
    for (let i = 0; i < n; i++) values[i]! += weight * out[i]!;
  }
  return { values, versions: members.map((m) => m.model.version) };
}
