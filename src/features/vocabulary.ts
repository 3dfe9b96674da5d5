// The feature vocabulary: scan types and what they do to an item, the prediction services, and the lists of stored
// and label-history features the models are trained and served on. Pure data; training (src/ml/train), serving
// (src/serving), the collectors (src/batch) and the stream operators all name features from here.
import { columnName, type FeatureRef } from './keys.ts';

// ---------------------------------------------------------------------------------------------------------------
// Scans

/** Scan types the pipeline accepts; on the wire scan_type is free text, checked against this list. */
export const SCAN_TYPES = ['in', 'out', 'return', 'damage', 'repair'] as const;
export type ScanType = (typeof SCAN_TYPES)[number];

export function isScanType(s: string): s is ScanType {
  return (SCAN_TYPES as readonly string[]).includes(s);
}

/** The numeric code of a scan type, as the feature `last_scan_type` carries it. */
export const SCAN_TYPE_CODES: Readonly<Record<string, number>> = {
  in: 1,
  out: 2,
  return: 3,
  damage: 4,
  repair: 5,
};

export type ItemStatus = 'available' | 'out' | 'returned' | 'repair';

/** Where each scan type leaves an item (the stream's item state and the history sink's id_item_master agree). */
export const NEXT_STATUS: Readonly<Record<string, ItemStatus>> = {
  in: 'available',
  out: 'out',
  return: 'returned',
  damage: 'repair',
  repair: 'returned',
};

// ---------------------------------------------------------------------------------------------------------------
// Services

/** The prediction services, each on its own topic `predictions.<service>`. */
export const PREDICTION_SERVICES = [
  'demand',
  'maintenance',
  'quality',
  'pricing',
  'restock',
  'pack',
] as const;
export type PredictionService = (typeof PREDICTION_SERVICES)[number];

export function isPredictionService(s: string): s is PredictionService {
  return (PREDICTION_SERVICES as readonly string[]).includes(s);
}

// ---------------------------------------------------------------------------------------------------------------
// Streamed features and their families

/**
 * The family (feature_type in the store) of every feature the streaming stages compute. Rows on Kafka carry names
 * and values only; the feature store writes each value with its family from here.
 */
export const FEATURE_TYPES: Readonly<Record<string, string>> = {
  // per item, from each scan (operators/item-features.ts)
  last_scan_type: 'categorical',
  scan_hour: 'temporal',
  scan_day_of_week: 'temporal',
  usage_frequency_7d: 'behavioral',
  days_since_last_use: 'behavioral',
  turnover_ltd: 'behavioral',
  quality_grade: 'quality',
  quality_degradation_rate: 'quality',
  // per transaction, and per class and store from each rental line (operators/transaction-features.ts)
  transaction_value: 'financial',
  item_count: 'behavioral',
  avg_item_value: 'financial',
  rental_price: 'financial',
  rental_quantity: 'demand',
  revenue_contribution: 'financial',
  // per class and store, from status changes (operators/stock-levels.ts)
  available_stock: 'inventory',
  items_out: 'inventory',
  items_in_repair: 'inventory',
  // per class and store and window (pipelines/features.ts CLASS_MEASURES)
  rentals: 'demand',
  revenue: 'financial',
  out_scans: 'behavioral',
  return_scans: 'behavioral',
  damage_scans: 'quality',
};

/** A feature's family; `aggregate` for a name not in FEATURE_TYPES. */
export function featureTypeOf(name: string): string {
  return Object.hasOwn(FEATURE_TYPES, name) ? (FEATURE_TYPES[name] as string) : 'aggregate';
}

// ---------------------------------------------------------------------------------------------------------------
// Stored features the models read

/** Features of a rental class in a store (entity `S1|TENT-20X20`), written by the pipeline and the historical collector. */
export function demandClassRefs(historicalWindow: string): FeatureRef[] {
  return [
    { name: 'rentals', window: '1d' },
    { name: 'rentals', window: '7d' },
    { name: 'revenue', window: '7d' },
    { name: 'out_scans', window: '7d' },
    { name: 'return_scans', window: '7d' },
    { name: 'available_stock' },
    { name: 'items_out' },
    { name: 'items_in_repair' },
    { name: 'demand_rate', window: historicalWindow },
    { name: 'items_count' },
  ];
}

/** Per store (entity `S1`), from the weather and calendar collectors, stamped at 00:00 UTC of their day. */
export const STORE_REFS: readonly FeatureRef[] = [
  { name: 'temperature_f' },
  { name: 'humidity_pct' },
  { name: 'precipitation_in' },
  { name: 'is_wedding_season' },
  { name: 'is_holiday_season' },
  { name: 'days_to_next_event' },
];

/** Entity GLOBAL_ENTITY, from the economic collector (weekly). */
export const GLOBAL_REFS: readonly FeatureRef[] = [
  { name: 'consumer_confidence' },
  { name: 'unemployment_rate' },
  { name: 'interest_rate' },
];

/** Per item (entity = tag id), from operators/item-features.ts and the historical collector. */
export const ITEM_REFS: readonly FeatureRef[] = [
  { name: 'usage_frequency_7d' },
  { name: 'days_since_last_use' },
  { name: 'turnover_ltd' },
  { name: 'quality_grade' },
  { name: 'quality_degradation_rate' },
  { name: 'repair_count' },
];

/** Class features an item's rental sees (entity `store|class` of the item). */
export function rentalClassRefs(historicalWindow: string): FeatureRef[] {
  return [
    { name: 'damage_scans', window: '7d' },
    { name: 'out_scans', window: '7d' },
    { name: 'items_in_repair' },
    { name: 'available_stock' },
    { name: 'damage_rate', window: historicalWindow },
    { name: 'mean_quality_grade', window: historicalWindow },
  ];
}

/**
 * The streamed class features scoring reads (rentals and demand): what the online store keeps versions of, so that
 * serving reads them as of its event (src/store/online.ts OnlineVersions). The historical collector's daily values
 * and the item's own features are read latest: the first change once a day, the second only on the item's own scans.
 */
export function servingAsOfColumns(historicalWindow: string): Set<string> {
  return new Set(
    [...rentalClassRefs(historicalWindow), ...demandClassRefs(historicalWindow)]
      .filter((r) => Object.hasOwn(FEATURE_TYPES, r.name))
      .map(columnName),
  );
}

/** Every stored feature (column name, `name@window`) training reads: what a backfill has to write. */
export function trainingFeatureColumns(historicalWindow: string): Set<string> {
  return new Set(
    [
      ...demandClassRefs(historicalWindow),
      ...STORE_REFS,
      ...GLOBAL_REFS,
      ...RENTAL_ITEM_REFS,
      ...rentalClassRefs(historicalWindow),
    ].map(columnName),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Columns computed from the label history and the calendar (not stored)

/** Calendar columns of the demand target day, computed from the label time. */
export const DEMAND_CALENDAR = ['day_of_week', 'target_month', 'day_of_year'] as const;

/**
 * Features of a target day from the label history: only days before it (strictly before the cut-off). null where
 * the window reaches before the series starts. `units_lag_7` is the seasonal-naive forecast (same weekday last week).
 */
export interface DemandHistory {
  readonly units_lag_1: number | null;
  readonly units_lag_7: number | null;
  readonly units_mean_7: number | null;
  /** Mean of the same weekday over the last 4 weeks (D-7, D-14, D-21, D-28). */
  readonly units_same_weekday_4w: number | null;
  readonly units_mean_28: number | null;
}

/**
 * Weekday-adjusted levels: the class's recent mean (over whole weeks, so every weekday counts equally) times how the
 * target's weekday compares with an average day in its store. The classical improvement on "same weekday last week":
 * the level is averaged over more days, and the weekday profile is pooled over every class of the store.
 */
export interface DemandLevels {
  /** Store-wide: mean units of the target's weekday over the last (up to) 8 weeks / mean units per day then. */
  readonly store_weekday_ratio: number | null;
  /** Mean of the last 7, 14 and 28 days (fewer whole weeks at the start of the history) × store_weekday_ratio. */
  readonly level_weekday_7: number | null;
  readonly level_weekday_14: number | null;
  readonly level_weekday_28: number | null;
  /**
   * The class's mean per store and day over the 28 days before, pooled over every store (each store's days that had
   * ended by this label's cut-off) × store_weekday_ratio: a steadier level for a class that rents little here.
   */
  readonly class_level_weekday: number | null;
}

export const DEMAND_HISTORY_FEATURES: readonly (keyof DemandHistory | keyof DemandLevels)[] = [
  'units_lag_1',
  'units_lag_7',
  'units_mean_7',
  'units_same_weekday_4w',
  'units_mean_28',
  'store_weekday_ratio',
  'level_weekday_7',
  'level_weekday_14',
  'level_weekday_28',
  'class_level_weekday',
];

/**
 * History columns of a rental (src/ml/train/labels.ts RentalLabel), computed from the item's counted scans before the
 * `out` scan by one function in training and serving (labels.ts ItemHistory). The item's usage, idle time and grade
 * are here rather than read from the store: the store's value at a checkout includes the checkout's own update or
 * not depending on whether serving read it before or after the feature-store sink wrote it, so training (which saw
 * the update in every row) and serving (which saw it in some) disagreed, and the drift monitor said so.
 */
export const RENTAL_HISTORY = [
  'grade_at_out',
  'prior_damages',
  'prior_rentals',
  'days_since_last_use',
  'usage_frequency_7d',
  'quality_grade',
] as const;

/** Item features a rental reads from the store: those its own `out` scan does not change. */
export const RENTAL_ITEM_REFS: readonly FeatureRef[] = [
  { name: 'quality_degradation_rate' },
  { name: 'repair_count' },
];

/**
 * The weekday-adjusted level times the target day's weather and events: demand moves multiplicatively (rain takes a
 * share of an outdoor class's rentals, not a fixed number), which a linear model only sees through such products.
 * Added by derive.ts addLevelInteractions.
 */
export const DEMAND_INTERACTIONS = [
  'level_x_precipitation',
  'level_x_temperature',
  'level_x_event_day',
] as const;
