// Window results to features: one FeatureVector per aggregate value, stamped at the window end and named by window.
import type { FeatureVector } from '../src/schemas/types.ts';
import type { Operator } from '../src/runtime/operator.ts';
import { feature } from './features.ts';
import type { WindowResult } from './window-aggregate.ts';

export function windowFeatures(
  entityType: string,
  featureTypes: Readonly<Record<string, string>>,
): Operator<WindowResult, FeatureVector> {
  return {
    name: 'window-features',
    process(rec) {
      const w = rec.value;
      return Object.entries(w.values).map(([name, value]) =>
        feature(entityType, w.key, name, value, featureTypes[name] ?? 'aggregate', w.end, 'windows', {
          name: w.window,
          start: w.start,
          end: w.end,
        }),
      );
    },
  };
}
