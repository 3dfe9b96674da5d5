// Which models serve a service: the primary and exactly the members its spec names, weighted by validation score.
import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/ml/model-spec.ts';
import type { LoadedModel } from '../../src/ml/registry/watcher.ts';
import { ensembleMembers, type ModelSource } from '../../src/serving/ensemble.ts';

function model(service: string, validationScore: number, members?: string[]): LoadedModel {
  return {
    service,
    version: `${service}-v1`,
    validationScore,
    spec: { service, ...(members ? { members } : {}) } as unknown as ModelSpec,
  } as unknown as LoadedModel;
}

function source(...ms: LoadedModel[]): ModelSource {
  const map = new Map(ms.map((m) => [m.service, m]));
  return {
    current: (s) => map.get(s),
    versions: () => Object.fromEntries([...map].map(([s, m]) => [s, m.version])),
  };
}

describe('ensemble members', () => {
  it('serves the primary with the members its spec lists, primary first, weights from validation scores', () => {
    const members = ensembleMembers(
      source(
        model('demand', 1, ['demand-linear', 'demand-random_forest']),
        model('demand-linear', 2),
        model('demand-random_forest', 2),
        model('demand_7d', 1),
      ),
      'demand',
    );
    expect(members.map((m) => m.service)).toEqual(['demand', 'demand-linear', 'demand-random_forest']);
    expect(members.map((m) => m.weight)).toEqual([0.5, 0.25, 0.25]);
  });

  it('serves the primary alone when its spec lists no members, whatever else is in production', () => {
    // demand-linear is still production from an earlier ensemble; the new primary does not name it.
    const members = ensembleMembers(source(model('demand', 1), model('demand-linear', 2)), 'demand');
    expect(members.map((m) => [m.service, m.weight])).toEqual([['demand', 1]]);
  });

  it('leaves out a listed member that is not loaded, and serves nothing without a primary', () => {
    const src = source(model('demand', 1, ['demand-linear', 'demand-gone']), model('demand-linear', 1));
    expect(ensembleMembers(src, 'demand').map((m) => m.service)).toEqual(['demand', 'demand-linear']);
    expect(ensembleMembers(source(model('demand-linear', 1)), 'demand')).toEqual([]);
  });
});
