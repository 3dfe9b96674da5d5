// Progress rows: how far the feature store has got, per source partition, told through the feature topics themselves.
// The class windows and stock levels (one class-events partition q) turn class events into feature rows; what they
// emitted for a batch is followed, on the same partition q of each feature topic, by one progress row naming, per
// upstream channel (a clean topic's partition), the highest source offset q has taken from it (operators/
// origin-progress.ts). The feature-store sink writes a progress row's entries into the online store after the rows
// before it, as cells of the entity `progress|<feature topic>|<q>` stamped with the offset itself, so that the online
// store's newest-wins rule keeps the highest (src/app/feature-sink.ts). Serving reads them to know that the online
// store holds the class features of every event up to the one it scores (src/serving/sink-progress.ts).
// Progress rows never reach the offline log (src/store/feature-store.ts) and are not features: readers of the feature
// topics that compare or count features leave them out (isProgressRow).
import type { FeatureRow, FeatureVector } from '../schemas/types.ts';
import { featureRow, rowCells } from './vector.ts';

export const PROGRESS_ENTITY_TYPE = 'progress';

/** A progress row: each channel (`<topic>:<partition>`) with the highest source offset taken from it. */
export function progressRow(offsets: Readonly<Record<string, number>>, now: number): FeatureRow {
  return featureRow(PROGRESS_ENTITY_TYPE, PROGRESS_ENTITY_TYPE, offsets, now, PROGRESS_ENTITY_TYPE);
}

export const isProgressRow = (row: Pick<FeatureRow, 'entity_type'>): boolean =>
  row.entity_type === PROGRESS_ENTITY_TYPE;

/** The online-store entity holding the progress written through partition `partition` of the feature topic `topic`. */
export const progressEntity = (topic: string, partition: number): string =>
  `${PROGRESS_ENTITY_TYPE}|${topic}|${partition}`;

/** A progress row read from `topic`[`partition`] as online-store cells: per channel, its offset as value and time. */
export function progressCells(row: FeatureRow, topic: string, partition: number): FeatureVector[] {
  return rowCells({ ...row, entity_id: progressEntity(topic, partition) }).map((c) => ({
    ...c,
    feature_type: PROGRESS_ENTITY_TYPE,
    timestamp: c.feature_value,
  }));
}
