// The feature store sink node: features.realtime and features.windowed into the feature store (MySQL offline log
// + Redis online cache). At-least-once by design and exactly-once in effect: the runner commits offsets after the
// store acknowledged the batch, and both stores are idempotent (upsert on entity, feature, window and event time;
// newest-by-event-time wins online), so a replay after a crash rewrites the same rows and never duplicates them.
import type { Config } from '../../config/schema.ts';
import { recordError } from '../errors.ts';
import { mapOperator } from '../runtime/operator.ts';
import { Flow, topology, type SinkNode, type Topology } from '../runtime/topology.ts';
import type { FeatureVector } from '../schemas/types.ts';
import type { FeatureStore } from '../store/types.ts';

export interface SinkCounter {
  (n: number): void;
}

/** Writes feature rows into the store; `onWritten` counts them (progress lines, tests). */
export function featureStoreSink(store: FeatureStore, onWritten?: SinkCounter): SinkNode<FeatureVector> {
  return {
    name: 'feature-store',
    async write(records) {
      await store.write(records.map((r) => r.value));
      onWritten?.(records.length);
    },
  };
}

/** A feature value the store can hold: an entity, a name, a finite value and an integer event time. */
export const checkFeature = mapOperator<FeatureVector, FeatureVector>('check-feature', (v, rec) => {
  if (
    typeof v?.entity_id !== 'string' ||
    !v.entity_id ||
    typeof v.feature_name !== 'string' ||
    !v.feature_name
  )
    throw recordError('MISSING_FIELD', 'feature without entity_id or feature_name');
  if (!Number.isFinite(v.feature_value) || !Number.isSafeInteger(v.timestamp))
    throw recordError(
      'NOT_FINITE',
      `feature ${v.entity_id}/${v.feature_name}: value and time must be finite`,
    );
  return rec;
});

/** Consumer group `<pipeline.groupId>-feature-store`: both feature topics into the store. */
export function featureStoreTopology(config: Config, store: FeatureStore, onWritten?: SinkCounter): Topology {
  const node = featureStoreSink(store, onWritten);
  return topology(
    'feature-store',
    [config.topics.featuresRealtime, config.topics.featuresWindowed].map((t) =>
      Flow.from<FeatureVector>(t).via(checkFeature).sink(node),
    ),
  );
}
