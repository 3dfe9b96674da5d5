// Derived features, after the seed's DataTransformer: each computed from columns a row already has. deriveRow adds
// them to one record (serving); src/ml/preprocess.ts deriveFeatures adds the same ones to a training table from the
// same DERIVED list, so the two agree. addLevelInteractions adds the demand model's level × weather products.
import { DEMAND_INTERACTIONS } from './vocabulary.ts';

/** One input record (a row of features by name): raw and derived columns (numbers, category strings, null/NaN). */
export type FeatureRecord = Readonly<Record<string, unknown>>;

/**
 * A derived feature: its inputs (each a list of accepted column names, the first present wins), the arquero
 * expression over placeholders $0, $1, … and the same computation in plain TypeScript for deriveRow. A missing
 * input (anything but a finite number) makes the derived value NaN, which the imputer then fills.
 */
export interface DerivedFeature {
  readonly name: string;
  readonly inputs: readonly (readonly string[])[];
  readonly expr: string;
  readonly fn: (x: readonly number[]) => number;
}

const HOUR = ['scan_hour', 'hour'] as const;
/** 0 = Monday … 6 = Sunday, as the seed's pandas dayofweek and operators/features.ts localParts. */
const DAY_OF_WEEK = ['scan_day_of_week', 'day_of_week'] as const;

/** In order: later entries may read earlier ones (is_weekend feeds the weekend-temperature interaction). */
export const DERIVED: readonly DerivedFeature[] = [
  {
    name: 'is_business_hours',
    inputs: [HOUR],
    expr: '$0 >= 8 && $0 <= 18 ? 1 : 0',
    fn: ([h]) => (h! >= 8 && h! <= 18 ? 1 : 0),
  },
  {
    name: 'is_peak_hours',
    inputs: [HOUR],
    expr: '$0 >= 10 && $0 <= 16 ? 1 : 0',
    fn: ([h]) => (h! >= 10 && h! <= 16 ? 1 : 0),
  },
  {
    name: 'is_weekend',
    inputs: [DAY_OF_WEEK],
    expr: '$0 >= 5 ? 1 : 0',
    fn: ([d]) => (d! >= 5 ? 1 : 0),
  },
  {
    // The seed's bins (0, 0.5], (0.5, 1.5], (1.5, ∞) → 0, 1, 2; zero and below join bin 0 (pandas gives NaN there).
    name: 'usage_category',
    inputs: [['usage_frequency_7d']],
    expr: '$0 <= 0.5 ? 0 : $0 <= 1.5 ? 1 : 2',
    fn: ([u]) => (u! <= 0.5 ? 0 : u! <= 1.5 ? 1 : 2),
  },
  {
    // Grades run 1 (poor) .. 5 (like new).
    name: 'quality_alert',
    inputs: [['quality_grade']],
    expr: '$0 <= 2 ? 1 : 0',
    fn: ([q]) => (q! <= 2 ? 1 : 0),
  },
  {
    // Heavy use of a worn item: wear grows as the grade falls below 5.
    name: 'usage_wear_interaction',
    inputs: [['usage_frequency_7d'], ['quality_grade']],
    expr: '$0 * (5 - $1)',
    fn: ([u, q]) => u! * (5 - q!),
  },
  {
    name: 'weekend_temperature_interaction',
    inputs: [['temperature_f'], ['is_weekend']],
    expr: '$0 * $1',
    fn: ([t, w]) => t! * w!,
  },
  {
    name: 'confidence_season_interaction',
    inputs: [['consumer_confidence'], ['is_wedding_season']],
    expr: '$0 * $1',
    fn: ([c, s]) => c! * s!,
  },
];

/** Names of all derived features, in the order they are derived. */
export const DERIVED_FEATURES: readonly string[] = DERIVED.map((f) => f.name);

/** The columns a derived feature reads, given which columns exist; null when one of its inputs is absent. */
export function resolveInputs(f: DerivedFeature, has: (column: string) => boolean): string[] | null {
  const out: string[] = [];
  for (const alternatives of f.inputs) {
    const found = alternatives.find(has);
    if (found === undefined) return null;
    out.push(found);
  }
  return out;
}

/** The derived features that deriveFeatures/deriveRow add to data with these columns, in order. */
export function derivedFeatureNames(columns: readonly string[]): string[] {
  const present = new Set(columns);
  const out: string[] = [];
  for (const f of DERIVED) {
    if (resolveInputs(f, (c) => present.has(c)) === null) continue;
    present.add(f.name);
    out.push(f.name);
  }
  return out;
}

/** deriveFeatures for one record (serving): same features, same values, on a copy of the record. */
export function deriveRow(record: FeatureRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { ...record };
  for (const f of DERIVED) {
    const inputs = resolveInputs(f, (c) => Object.hasOwn(out, c));
    if (inputs === null) continue;
    const x = inputs.map((c) => out[c]);
    out[f.name] = x.every((v) => Number.isFinite(v)) ? f.fn(x as number[]) : NaN;
  }
  return out;
}

/** The columns addLevelInteractions reads. */
export const LEVEL_INTERACTION_INPUTS = [
  'level_weekday_28',
  'precipitation_in',
  'temperature_f',
  'days_to_next_event',
] as const;

/** Adds the DEMAND_INTERACTIONS columns to columns by name (training's frame, or one-row columns at serving). */
export function addLevelInteractions(columns: Record<string, unknown[]>): void {
  const [levelColumn, precipitationIn, temperatureF, daysToNextEvent] = LEVEL_INTERACTION_INPUTS;
  const level = columns[levelColumn]!;
  const product = (other: unknown[], f: (v: number) => number): (number | null)[] =>
    level.map((l, i) => {
      const v = other[i];
      return typeof l === 'number' && typeof v === 'number' ? l * f(v) : null;
    });
  const [precipitation, temperature, eventDay] = DEMAND_INTERACTIONS;
  columns[precipitation] = product(columns[precipitationIn]!, (v) => v);
  columns[temperature] = product(columns[temperatureF]!, (v) => v);
  columns[eventDay] = product(columns[daysToNextEvent]!, (v) => (v === 0 ? 1 : 0));
}
