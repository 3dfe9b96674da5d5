// The documented value served for a feature the online store does not have (never written, or expired), so a model
// always gets a full row. Starts from the seed's FeatureStore._get_default_value; any other feature defaults to 0.
// Defaults apply to serving (getFeatures, getFeatureMatrix) only: training frames keep null for "no value yet".

export interface FeatureDefault {
  readonly value: number;
  /** Why this value: shown in the docs/architecture.md table. */
  readonly reason: string;
}

/** By feature name, whatever the window (`usage_frequency_7d` and `usage_frequency_7d@1d` share one default). */
export const FEATURE_DEFAULTS: Readonly<Record<string, FeatureDefault>> = Object.freeze({
  // From the seed.
  temperature_f: { value: 70, reason: 'mild day: neither heat nor cold moves demand' },
  humidity_pct: { value: 50, reason: 'average humidity' },
  usage_frequency_7d: {
    value: 0.5,
    reason: 'seed: an item of unknown history is assumed used half the days',
  },
  quality_degradation_rate: { value: 0, reason: 'no observed degradation' },
  consumer_confidence: { value: 100, reason: 'index baseline (1985 = 100)' },
  is_wedding_season: { value: 0, reason: 'not in season unless the calendar says so' },
  is_holiday_season: { value: 0, reason: 'not in season unless the calendar says so' },
  // Added by tagstream.
  precipitation_in: { value: 0, reason: 'a dry day' },
  days_to_next_event: { value: 365, reason: 'no known event: as far away as the calendar looks (its cap)' },
  days_since_last_use: { value: 365, reason: 'never seen in use: long idle, not "just used"' },
  unemployment_rate: { value: 4, reason: 'percent; typical recent value (US 2023-2025: 3.4-4.3)' },
  interest_rate: { value: 4.5, reason: 'percent; typical recent policy rate (US 2023-2025: 4.3-5.3)' },
  quality_grade: { value: 5, reason: 'grades run 1 (poor) .. 5 (like new): an unseen item is like new' },
  last_quality_grade: { value: 5, reason: 'as quality_grade' },
});

/** The fallback for a feature not in FEATURE_DEFAULTS (counts, rates, flags). */
export const FALLBACK_DEFAULT = 0;

export function defaultValue(featureName: string): number {
  return Object.hasOwn(FEATURE_DEFAULTS, featureName)
    ? FEATURE_DEFAULTS[featureName]!.value
    : FALLBACK_DEFAULT;
}

/** The table as markdown, for docs/architecture.md (kept next to the values so the two cannot drift). */
export function defaultsMarkdown(): string {
  const rows = Object.entries(FEATURE_DEFAULTS).map(
    ([name, d]) => `| \`${name}\` | ${d.value} | ${d.reason} |`,
  );
  return [
    '| feature | default | why |',
    '| --- | --- | --- |',
    ...rows,
    `| anything else | ${FALLBACK_DEFAULT} | counts, rates and flags: nothing observed |`,
  ].join('\n');
}
