// Helpers shared by the feature stages: building FeatureRow records and local-time parts of an event time.
import { featureRow } from '../src/features/vector.ts';
import { zoneClock } from '../src/features/zones.ts';
import type { FeatureRow } from '../src/schemas/types.ts';
import type { Rec } from '../src/runtime/operator.ts';

/** A feature row as a record keyed by its entity (the arguments of src/features/vector.ts featureRow). */
export function row(...args: Parameters<typeof featureRow>): Rec<FeatureRow> {
  const value = featureRow(...args);
  return { key: Buffer.from(value.entity_id), timestamp: value.timestamp, value };
}

/** Hour of day (0-23) and day of week (0 = Monday, as the seed's Python weekday()) in the store's zone. */
export function localParts(t: number, zone: string): { hour: number; dayOfWeek: number } {
  const clock = zoneClock(zone);
  const day = clock.localDay(t);
  // 1970-01-01 was a Thursday (3).
  return { hour: clock.hour(t), dayOfWeek: (((day + 3) % 7) + 7) % 7 };
}
