// The feature store sink node: the feature rows of features.realtime.rows and features.windowed.rows into the feature
// store (MySQL offline log + Redis online cache), one value per entry of a row. At-least-once by design and
// exactly-once in effect: the runner commits offsets after the store acknowledged the batch, and both stores are
// idempotent (upsert on entity, feature, window and event time; newest-by-event-time wins online), so a replay after
// a crash rewrites the same rows and never duplicates them. Progress rows (src/features/progress-rows.ts) go to the
// online store after the rows of their batch, as the highest source offsets the rows before them cover.
import type { Config } from '../../config/schema.ts';
import { recordError } from '../errors.ts';
import { mapOperator } from '../runtime/operator.ts';
import { Flow, topology, type SinkNode, type Topology } from '../runtime/topology.ts';
import { rowCells } from '../features/vector.ts';
import { isProgressRow, progressCells } from '../features/progress-rows.ts';
import type { FeatureRow } from '../schemas/types.ts';
import type { FeatureStore } from '../store/types.ts';

export interface SinkCounter {
  (n: number): void;
}

/** Writes the values of feature rows into the store; `onWritten` counts the values (progress lines, tests). */
export function featureStoreSink(store: FeatureStore, onWritten?: SinkCounter): SinkNode<FeatureRow> {
  return {
    name: 'feature-store',
    async write(records) {
      const cells = [];
      const progress = [];
      for (const r of records)
        if (isProgressRow(r.value))
          progress.push(...progressCells(r.value, r.source.topic, r.source.partition));
        else cells.push(...rowCells(r.value));
      // One call, progress last: the online store applies a call's values in order.
      await store.write(progress.length === 0 ? cells : [...cells, ...progress]);
      onWritten?.(cells.length);
    },
  };
}

/** A feature row the store can hold: an entity, named finite values and an integer event time. */
export const checkFeature = mapOperator<FeatureRow, FeatureRow>('check-feature', (v, rec) => {
  if (
    typeof v?.entity_id !== 'string' ||
    !v.entity_id ||
    typeof v.features !== 'object' ||
    v.features === null
  )
    throw recordError('MISSING_FIELD', 'feature row without entity_id or features');
  if (!Number.isSafeInteger(v.timestamp))
    throw recordError('NOT_FINITE', `feature row of ${v.entity_id}: the time must be an integer ms`);
  for (const [name, value] of Object.entries(v.features)) {
    if (!name) throw recordError('MISSING_FIELD', `feature row of ${v.entity_id}: a feature without a name`);
    if (!Number.isFinite(value))
      throw recordError('NOT_FINITE', `feature ${v.entity_id}/${name}: the value must be finite`);
  }
  return rec;
});

/** Consumer group `<pipeline.groupId>-feature-store`: both feature topics into the store. */
export function featureStoreTopology(config: Config, store: FeatureStore, onWritten?: SinkCounter): Topology {
  const node = featureStoreSink(store, onWritten);
  return topology(
    'feature-store',
    [config.topics.featuresRealtime, config.topics.featuresWindowed].map((t) =>
      Flow.from<FeatureRow>(t).via(checkFeature).sink(node),
    ),
  );
}
