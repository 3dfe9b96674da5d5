// The ensemble predictor of a service: every production model serving it, weighted by validation score.
//
// A service's members are the registry service `<service>` (the primary) and the services its production spec
// lists in `members` (`<service>-<member>`, e.g. demand-random_forest), as the training job promotes them when the
// ensemble beats its best single member. Each is promoted, rolled back and hot-swapped on its own; a primary that
// lists no members serves alone, whatever other `<service>-…` models are in production. A prediction lists the
// versions it combined.
// Weights are the inverse of each member's validation score (MAE or log-loss: lower is better), normalised; a
// member without a score gets the mean weight of the others (or 1 when none has one).
import { TagstreamError } from '../errors.ts';
import type { FeatureRecord } from '../features/derive.ts';
import type { LoadedModel } from '../ml/registry/watcher.ts';
import { numericValue } from '../ml/preprocess.ts';
import { weigh } from '../ml/weights.ts';

export { weigh };

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

/**
 * The members of `service` now, primary first, with their weights (empty when no model serves it). A listed member
 * that is not loaded (not promoted yet, or failed to load) is left out and the others are weighed without it.
 */
export function ensembleMembers(models: ModelSource, service: string): EnsembleMember[] {
  const primary = models.current(service);
  if (!primary) return [];
  const loaded = [{ service, model: primary }];
  for (const s of primary.spec.members ?? []) {
    const m = s === service ? undefined : models.current(s);
    if (m) loaded.push({ service: s, model: m });
  }
  return weigh(loaded);
}

export interface EnsembleResult {
  /** One weighted prediction per record. */
  readonly values: Float64Array;
  /** Versions of the members that produced them. */
  readonly versions: readonly string[];
  /** Each member's own predictions, in member order (drift compares a model's output with its training output). */
  readonly byMember: readonly Float32Array[];
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
  const byMember: Float32Array[] = [];
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
    byMember.push(out);
  }
  return { values, versions: members.map((m) => m.model.version), byMember };
}
