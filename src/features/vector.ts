// Features as they travel on features.*.rows (FeatureRow: every feature of one entity and event) and as they land in
// the feature store (FeatureVector: one value, a cell).
import type { FeatureRow, FeatureVector } from '../schemas/types.ts';
import { featureTypeOf } from './vocabulary.ts';

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

/** Every feature of `entityId` at `timestamp` in one row; `window` for windowed aggregates, null per event. */
export function featureRow(
  entityType: string,
  entityId: string,
  features: Readonly<Record<string, number>>,
  timestamp: number,
  source: string,
  window: { name: string; start: number; end: number } | null = null,
): FeatureRow {
  return {
    entity_id: entityId,
    entity_type: entityType,
    timestamp,
    window: window?.name ?? null,
    window_start: window?.start ?? null,
    window_end: window?.end ?? null,
    source,
    features,
  };
}

/** A row's values as store cells, each with its family from FEATURE_TYPES. */
export function rowCells(row: FeatureRow): FeatureVector[] {
  return Object.entries(row.features).map(([name, value]) => ({
    entity_id: row.entity_id,
    entity_type: row.entity_type,
    feature_name: name,
    feature_value: value,
    feature_type: featureTypeOf(name),
    timestamp: row.timestamp,
    window: row.window,
    window_start: row.window_start,
    window_end: row.window_end,
    confidence: 1,
    source: row.source,
  }));
}
