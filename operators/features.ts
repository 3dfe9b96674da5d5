// Helpers shared by the feature stages: building FeatureVector records and local-time parts of an event time.
import { DateTime } from 'luxon';
import type { FeatureVector } from '../src/schemas/types.ts';
import type { Rec } from '../src/runtime/operator.ts';

export const SCAN_TYPE_CODES: Readonly<Record<string, number>> = {
  in: 1,
  out: 2,
  return: 3,
  damage: 4,
  repair: 5,
};

export function feature(
  entityType: string,
  entityId: string,
  name: string,
  value: number,
  featureType: string,
  timestamp: number,
  source: string,
  window: { name: string; start: number; end: number } | null = null,
): Rec<FeatureVector> {
  return {
    key: Buffer.from(entityId),
    timestamp,
    value: {
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
    },
  };
}

/** Hour of day (0-23) and day of week (0 = Monday, as the seed's Python weekday()) in the store's zone. */
export function localParts(t: number, zone: string): { hour: number; dayOfWeek: number } {
  const d = DateTime.fromMillis(t, { zone });
  return { hour: d.hour, dayOfWeek: d.weekday - 1 };
}

/** The id of a rental class in a store, the key of per-class state and features. */
export const classKey = (storeId: string, rentalClass: string): string => `${storeId}|${rentalClass}`;
