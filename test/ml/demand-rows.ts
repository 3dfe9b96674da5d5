// Synthetic daily demand per rental class and store (a small world) for training tests and bench:train.
import { table } from 'arquero';
import { xoroshiro128plus } from 'pure-rand';

export type Row = Record<string, unknown>;

/** Daily demand per rental class and store with weather, calendar and lag features (a small world). */
export function demandRows(opts: { classes: number; stores: number; days: number; seed: number }): Row[] {
  const g = xoroshiro128plus(opts.seed);
  const u = (): number => (g.unsafeNext() >>> 0) / 4294967296;
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const classBase = Array.from({ length: opts.classes }, () => 1 + 8 * u());
  const rows: Row[] = [];
  for (let day = 0; day < opts.days; day++) {
    const dow = day % 7;
    const month = Math.floor(day / 30.5) % 12;
    const wedding = month >= 4 && month <= 9 ? 1 : 0;
    const season = Math.sin((2 * Math.PI * (day - 80)) / 365);
    for (let s = 0; s < opts.stores; s++) {
      const temp = 60 + 20 * season + 5 * normal();
      const precip = u() < 0.3 ? u() : 0;
      for (let c = 0; c < opts.classes; c++) {
        const mu =
          classBase[c]! *
          (dow >= 5 ? 1.6 : 1) *
          (1 + 0.4 * wedding) *
          (precip > 0.5 ? 0.6 : 1) *
          (1 + 0.01 * (temp - 60)) *
          (1 + 0.2 * s);
        rows.push({
          day,
          store_id: `S${s}`,
          rental_class_num: `C${c}`,
          scan_day_of_week: dow,
          month,
          temperature_f: u() < 0.02 ? null : temp,
          humidity_pct: 50 + 20 * normal(),
          precipitation_in: precip,
          consumer_confidence: 100 + 10 * Math.sin(day / 60),
          unemployment_rate: 4 + 0.3 * normal(),
          is_wedding_season: wedding,
          is_holiday_season: month === 11 ? 1 : 0,
          days_to_next_event: 30 - (day % 30),
          usage_frequency_7d: 2 * u(),
          quality_grade: 1 + Math.floor(5 * u()),
          lag_1: mu + normal(),
          lag_7: mu + normal(),
          mean_7d: mu + 0.3 * normal(),
          items_count: 10 + (c % 7),
          demand: Math.max(0, mu + Math.sqrt(mu) * normal()),
        });
      }
    }
  }
  return rows;
}

export function tableOf(rows: readonly Row[]) {
  const names = Object.keys(rows[0]!);
  return table(Object.fromEntries(names.map((c) => [c, rows.map((r) => r[c])])));
}

export const NUMERIC = [
  'scan_day_of_week',
  'month',
  'temperature_f',
  'humidity_pct',
  'precipitation_in',
  'consumer_confidence',
  'unemployment_rate',
  'is_wedding_season',
  'is_holiday_season',
  'days_to_next_event',
  'usage_frequency_7d',
  'quality_grade',
  'lag_1',
  'lag_7',
  'mean_7d',
  'items_count',
  // Derived (preprocess.ts) before preprocessing.
  'is_weekend',
  'usage_category',
  'quality_alert',
  'usage_wear_interaction',
  'weekend_temperature_interaction',
  'confidence_season_interaction',
];
export const CATEGORICAL = ['store_id', 'rental_class_num'];
