// The feature store's contract: the offline log (MySQL) and the online cache (Redis) behind one interface.
// Feature values are FeatureVector records (schemas/avro/feature_vector.avsc), the same shape as on features.*.
import type { FeatureRef } from '../features/keys.ts';
import type { FeatureVector } from '../schemas/types.ts';

export type { FeatureVector };

/** A label for a training frame: the entity and the time at which the label's features must be read (as of). */
export interface LabelPoint {
  readonly entityId: string;
  readonly timestamp: number;
  readonly label: number;
}

export interface FeatureMatrix {
  readonly entities: readonly string[];
  /** Column names: `name` or `name@window`. */
  readonly columns: readonly string[];
  /** rows[i][j]: entity i, column j; missing values replaced by the documented default of the feature. */
  readonly rows: readonly (readonly number[])[];
}

export interface TrainingRow {
  readonly entityId: string;
  readonly timestamp: number;
  readonly label: number;
  /** By column name; null when no value was stamped at or before the label time. */
  readonly features: Readonly<Record<string, number | null>>;
  /** For each column, the timestamp of the value used (never after `timestamp`); null when none. */
  readonly featureTimes: Readonly<Record<string, number | null>>;
}

export interface FeatureStore {
  /** Idempotent: replaying the same values never duplicates rows; the online store keeps the newest by event time. */
  write(features: readonly FeatureVector[]): Promise<void>;
  /** Latest values from the online store, defaults for missing ones. */
  getFeatures(entityId: string, refs: readonly FeatureRef[]): Promise<Record<string, number>>;
  /** Latest values for many entities in one online-store round trip. */
  getFeatureMatrix(entityIds: readonly string[], refs: readonly FeatureRef[]): Promise<FeatureMatrix>;
  /** Point-in-time correct as-of join from the offline log (like Feast get_historical_features). */
  getTrainingFrame(labels: readonly LabelPoint[], refs: readonly FeatureRef[]): Promise<TrainingRow[]>;
  close(): Promise<void>;
}
