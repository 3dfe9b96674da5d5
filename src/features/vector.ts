// A feature value as it travels on features.* and lands in the feature store (schemas/avro/feature_vector.avsc).
import type { FeatureVector } from '../schemas/types.ts';

/** A feature value of an entity at `timestamp`; `window` for a windowed aggregate, null for a per-event value. */
export function featureVector(
  entityType: string,
  entityId: string,
  name: string,
  value: number,
  featureType: string,
  timestamp: number,
  source: string,
  window: { name: string; start: number; end: number } | null = null,
): FeatureVector {
  return {
    entity_id: entityId,
    entity_type: entityType,
    feature_name: name,
    feature_value: value,
    feature_type: featureType,
    timestamp,
    window: window?.name ?? null,
    window_start: window?.start ?? null,
    window_end: window?.end ?? null,
    confidence: 1,
    source,
  };
}
