// Window results to features: one FeatureRow per window result carrying every aggregate, stamped at the window end
// and named by window.
import type { FeatureRow } from '../src/schemas/types.ts';
import type { Operator } from '../src/runtime/operator.ts';
import { row } from './features.ts';
import type { WindowResult } from './window-aggregate.ts';

export function windowFeatures(entityType: string): Operator<WindowResult, FeatureRow> {
  return {
    name: 'window-features',
    process(rec) {
      const w = rec.value;
      return [
        row(entityType, w.key, w.values, w.end, 'windows', { name: w.window, start: w.start, end: w.end }),
      ];
    },
  };
}
