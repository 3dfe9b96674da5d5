// Training frames: the labels of labels.ts joined with the feature store's values as of each label's cut-off
// (getTrainingFrame, point-in-time correct), plus the label's own calendar and label-history columns. Every value
// the store returns is checked again here to be stamped at or before its label's time.
import { table, type ColumnTable } from 'arquero';
import { TagstreamError } from '../../errors.ts';
import { addLevelInteractions } from '../../features/derive.ts';
import { GLOBAL_ENTITY, classKey, columnName, type FeatureRef } from '../../features/keys.ts';
import {
  DEMAND_CALENDAR,
  DEMAND_HISTORY_FEATURES,
  DEMAND_INTERACTIONS,
  GLOBAL_REFS,
  RENTAL_ITEM_REFS,
  RENTAL_HISTORY,
  STORE_REFS,
  demandClassRefs,
  rentalClassRefs,
} from '../../features/vocabulary.ts';
import type { FeatureStore, LabelPoint, TrainingRow } from '../../store/types.ts';
import type { DemandLabel, RentalLabel } from './labels.ts';

/**
 * Throws INTERNAL if any value of a frame is stamped after its label's time: the store promises the as-of join, and
 * training re-checks it on every frame rather than trusting it.
 */
export function checkPointInTime(rows: readonly TrainingRow[]): void {
  for (const r of rows)
    for (const column in r.featureTimes) {
      const t = r.featureTimes[column];
      if (t !== null && t !== undefined && t > r.timestamp)
        throw new TagstreamError(
          'INTERNAL',
          `training frame: ${column} of ${r.entityId} is stamped ${new Date(t).toISOString()}, after the label time ` +
            `${new Date(r.timestamp).toISOString()}: the feature store's as-of join is broken`,
          { details: { entity: r.entityId, column, featureTime: t, labelTime: r.timestamp } },
        );
    }
}

export interface FrameReport {
  /** Per stored column: share of rows that found a value (the rest are null, imputed in preprocessing). */
  readonly coverage: Readonly<Record<string, number>>;
  /** Latest feature timestamp minus label time over all values used (<= 0 when point-in-time correct). */
  readonly maxLeadMs: number;
}

type Columns = Record<string, unknown[]>;

/**
 * Reads `refs` for each (entity, time) point as of the time, checks point-in-time correctness and adds the
 * columns (named `name` or `name@window`) to `columns`. Identical points are read once, all in one store call: the
 * store chooses how to read (src/store/offline.ts reads a whole frame's features in one scan of the log).
 */
async function addStoreColumns(
  store: Pick<FeatureStore, 'getTrainingFrame'>,
  points: readonly { entityId: string; timestamp: number }[],
  refs: readonly FeatureRef[],
  out: { columns: Columns; coverage: Record<string, number>; lead: { max: number } },
): Promise<void> {
  const index = new Map<string, number>();
  const distinct: LabelPoint[] = [];
  const rowOf = points.map((p) => {
    const key = `${p.entityId}\u0000${p.timestamp}`;
    let i = index.get(key);
    if (i === undefined) {
      i = distinct.length;
      index.set(key, i);
      distinct.push({ entityId: p.entityId, timestamp: p.timestamp, label: 0 });
    }
    return i;
  });
  const frame = await store.getTrainingFrame(distinct, refs);
  checkPointInTime(frame);
  const names = refs.map(columnName);
  for (const r of frame)
    for (const c of names) {
      const t = r.featureTimes[c];
      if (t !== null && t !== undefined) out.lead.max = Math.max(out.lead.max, t - r.timestamp);
    }
  for (const c of names) {
    const values = rowOf.map((i) => frame[i]!.features[c] ?? null);
    out.columns[c] = values;
    out.coverage[c] = values.length === 0 ? 0 : values.filter((v) => v !== null).length / values.length;
  }
}

export interface Frame {
  readonly table: ColumnTable;
  /** Numeric feature columns in model order (derived features are added by trainCandidates / deriveFeatures). */
  readonly numeric: readonly string[];
  readonly categorical: readonly string[];
  readonly report: FrameReport;
  /**
   * The rows serving will score, without labels, over the last days of the history: what the drift reference is
   * binned from where the labelled holdout is a biased sample of them (rental frames; see allRentals). Absent: the
   * holdout rows are the reference.
   */
  readonly reference?: ColumnTable;
}

/**
 * The demand frame: one row per (store, class, target day) with the stored class, store and global features as of
 * the cut-off, the target day's calendar, and the label-history columns; targets `units_1d`, `units_7d` and the
 * seasonal-naive forecasts `units_lag_7` / `naive_7d`. Time column `day` (epoch day of the target day).
 */
export async function demandFrame(
  labels: readonly DemandLabel[],
  store: Pick<FeatureStore, 'getTrainingFrame'>,
  historicalWindow: string,
): Promise<Frame> {
  const classRefs = demandClassRefs(historicalWindow);
  const columns: Columns = {
    day: labels.map((l) => l.day),
    cutoff: labels.map((l) => l.cutoff),
    entity_id: labels.map((l) => l.entityId),
    store_id: labels.map((l) => l.storeId),
    rental_class_num: labels.map((l) => l.rentalClass),
    units_1d: labels.map((l) => l.units_1d),
    units_7d: labels.map((l) => l.units_7d),
    naive_7d: labels.map((l) => l.naive_7d),
  };
  for (const c of [...DEMAND_CALENDAR, ...DEMAND_HISTORY_FEATURES]) columns[c] = labels.map((l) => l[c]);
  const out = { columns, coverage: {} as Record<string, number>, lead: { max: -Infinity } };
  await addStoreColumns(
    store,
    labels.map((l) => ({ entityId: l.entityId, timestamp: l.cutoff })),
    classRefs,
    out,
  );
  const at = (entity: (l: DemandLabel) => string) =>
    labels.map((l) => ({ entityId: entity(l), timestamp: l.cutoff }));
  await addStoreColumns(
    store,
    at((l) => l.storeId),
    STORE_REFS,
    out,
  );
  await addStoreColumns(
    store,
    at(() => GLOBAL_ENTITY),
    GLOBAL_REFS,
    out,
  );
  const stored = [...classRefs, ...STORE_REFS, ...GLOBAL_REFS].map(columnName);
  addLevelInteractions(columns);
  return {
    table: table(columns),
    numeric: [...DEMAND_CALENDAR, ...DEMAND_HISTORY_FEATURES, ...stored, ...DEMAND_INTERACTIONS],
    categorical: ['store_id', 'rental_class_num'],
    report: { coverage: out.coverage, maxLeadMs: out.lead.max },
  };
}

/**
 * The rental frame (maintenance and quality): one row per rental with the item's history columns (RENTAL_HISTORY,
 * from its scans before the `out` scan), the item's stored features its checkout does not change and its class's as of
 * the `out` scan. Time column `time` (ms of the `out` scan).
 */
export async function rentalFrame<L extends RentalLabel>(
  labels: readonly L[],
  target: { readonly name: string; readonly value: (l: L) => number },
  store: Pick<FeatureStore, 'getTrainingFrame'>,
  historicalWindow: string,
): Promise<Frame> {
  const classRefs = rentalClassRefs(historicalWindow);
  const columns: Columns = {
    time: labels.map((l) => l.time),
    day: labels.map((l) => Math.floor(l.time / 86_400_000)),
    settled_at: labels.map((l) => l.settledAt),
    tag_id: labels.map((l) => l.tagId),
    store_id: labels.map((l) => l.storeId),
    rental_class_num: labels.map((l) => l.rentalClass),
    [target.name]: labels.map(target.value),
  };
  for (const c of RENTAL_HISTORY) columns[c] = labels.map((l) => l[c]);
  const out = { columns, coverage: {} as Record<string, number>, lead: { max: -Infinity } };
  await addStoreColumns(
    store,
    labels.map((l) => ({ entityId: l.tagId, timestamp: l.time })),
    RENTAL_ITEM_REFS,
    out,
  );
  await addStoreColumns(
    store,
    labels.map((l) => ({ entityId: classKey(l.storeId, l.rentalClass), timestamp: l.time })),
    classRefs,
    out,
  );
  return {
    table: table(columns),
    numeric: [...RENTAL_HISTORY, ...[...RENTAL_ITEM_REFS, ...classRefs].map(columnName)],
    categorical: ['store_id', 'rental_class_num'],
    report: { coverage: out.coverage, maxLeadMs: out.lead.max },
  };
}
