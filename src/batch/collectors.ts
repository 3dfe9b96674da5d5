// The four batch collectors: weather (daily), economic (weekly), calendar (monthly) and historical (nightly).
// A run fetches its range from a provider, maps the rows to Avro records on external.* and to feature values, and
// writes both. Re-runs are idempotent: the same range writes the same feature keys (entity, feature, window, day),
// which the store upserts, and sends the same record identities (see publisher.ts). A provider that still fails
// after its retries leaves one clear log line and writes nothing, so the previous values stay in place.
import type { Config } from '../../config/schema.ts';
import { TagstreamError, toTagstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../runtime/clock.ts';
import type { FeatureVector } from '../schemas/types.ts';
import type { FeatureStore } from '../store/types.ts';
import { historicalFeatures, type HistorySnapshot } from './history.ts';
import { attemptsOf, type Provider } from './provider.ts';
import type { ExternalPublisher, KeyedRecord } from './publisher.ts';
import {
  DAYS_TO_NEXT_EVENT_CAP,
  DAY_MS,
  calendarFeatures,
  calendarKey,
  dayInZone,
  economicFeatures,
  economicKey,
  inRange,
  isoDay,
  toCalendarEvent,
  toEconomicIndicators,
  toWeatherObservation,
  weatherFeatures,
  weatherKey,
  type CalendarRow,
  type DayRange,
  type EconomicRow,
  type WeatherRow,
} from './records.ts';

export const COLLECTOR_NAMES = ['weather', 'economic', 'calendar', 'historical'] as const;
export type CollectorName = (typeof COLLECTOR_NAMES)[number];

export function isCollectorName(s: string): s is CollectorName {
  return (COLLECTOR_NAMES as readonly string[]).includes(s);
}

/** The features each collector writes (for the "last good values" lookup and the docs). */
export const COLLECTOR_FEATURES: Readonly<Record<CollectorName, readonly string[]>> = {
  weather: ['temperature_f', 'humidity_pct', 'precipitation_in'],
  economic: ['consumer_confidence', 'unemployment_rate', 'interest_rate'],
  calendar: ['is_wedding_season', 'is_holiday_season', 'month', 'days_to_next_event'],
  historical: [
    'demand_rate',
    'damage_rate',
    'mean_quality_grade',
    'items_count',
    'turnover_ytd',
    'turnover_ltd',
    'repair_count',
  ],
};

export interface CollectorProviders {
  readonly weather: Provider<WeatherRow>;
  readonly economic: Provider<EconomicRow>;
  readonly calendar: Provider<CalendarRow>;
  readonly historical: Provider<HistorySnapshot>;
}

export interface CollectorDeps {
  /** Already wrapped with withRetry where retries are wanted. */
  readonly providers: CollectorProviders;
  readonly publisher: ExternalPublisher;
  readonly store: Pick<FeatureStore, 'write'>;
  /** Event time (ms) of the newest value this collector has in the feature store; null when none. */
  readonly lastGood: (name: CollectorName) => Promise<number | null>;
  /** Stores that get calendar features (with any store named by an event). */
  readonly storeIds: readonly string[];
  readonly clock: Clock;
  readonly log: Logger;
}

export interface RunResult {
  readonly collector: CollectorName;
  readonly ok: boolean;
  readonly range: DayRange;
  /** Rows the provider returned within the range (snapshots for historical). */
  readonly rows: number;
  /** Records sent to external.* */
  readonly published: number;
  /** Feature values written to the feature store. */
  readonly features: number;
  readonly durationMs: number;
  /** Set when ok is false. */
  readonly error?: TagstreamError;
  /** Tries of the failed fetch. */
  readonly attempts?: number;
}

/** What a collector run writes: computed from the fetched rows before anything is written. */
export interface Collected {
  readonly rows: number;
  readonly publish: (publisher: ExternalPublisher) => Promise<number>;
  readonly features: readonly FeatureVector[];
}

/** Days an economic week reaches back: a week that started up to 6 days before the range covers its first day. */
const WEEK_LEAD = 6;

/** The range a collector asks its provider for: the calendar looks a year past the range for days_to_next_event. */
export function fetchRange(name: CollectorName, range: DayRange): DayRange {
  if (name === 'calendar') return { from: range.from, to: range.to + DAYS_TO_NEXT_EVENT_CAP };
  if (name === 'economic') return { from: range.from - WEEK_LEAD, to: range.to };
  return range;
}

function keyed<R, V>(rows: readonly R[], key: (r: R) => string, value: (r: R) => V): KeyedRecord<V>[] {
  return rows.map((r) => ({ key: key(r), value: value(r) }));
}

/** Pure: the rows of one run to records and features. */
export function collectWeather(
  rows: readonly WeatherRow[],
  range: DayRange,
  at: number,
  source: string,
): Collected {
  const kept = rows.filter((w) => inRange(w.date, range));
  return {
    rows: kept.length,
    publish: async (p) => {
      await p.publish(
        'weather',
        keyed(kept, weatherKey, (w) => toWeatherObservation(w, at, source)),
      );
      return kept.length;
    },
    features: weatherFeatures(kept),
  };
}

export function collectEconomic(
  rows: readonly EconomicRow[],
  range: DayRange,
  at: number,
  source: string,
): Collected {
  const kept = rows.filter((e) => inRange(e.week_start, fetchRange('economic', range)));
  return {
    rows: kept.length,
    publish: async (p) => {
      await p.publish(
        'economic',
        keyed(kept, economicKey, (e) => toEconomicIndicators(e, at, source)),
      );
      return kept.length;
    },
    features: economicFeatures(kept),
  };
}

export function collectCalendar(
  rows: readonly CalendarRow[],
  range: DayRange,
  storeIds: readonly string[],
  at: number,
  source: string,
): Collected {
  const kept = rows.filter((c) => inRange(c.event_date, fetchRange('calendar', range)));
  return {
    rows: kept.length,
    publish: async (p) => {
      await p.publish(
        'calendar',
        keyed(kept, calendarKey, (c) => toCalendarEvent(c, at, source)),
      );
      return kept.length;
    },
    features: calendarFeatures(kept, storeIds, range),
  };
}

export function collectHistorical(snapshots: readonly HistorySnapshot[]): Collected {
  return { rows: snapshots.length, publish: async () => 0, features: snapshots.flatMap(historicalFeatures) };
}

async function fetchAndMap(name: CollectorName, range: DayRange, deps: CollectorDeps): Promise<Collected> {
  const r = fetchRange(name, range);
  const at = deps.clock.now();
  const { providers: p } = deps;
  switch (name) {
    case 'weather':
      return collectWeather(await p.weather.fetch(r), range, at, p.weather.name);
    case 'economic':
      return collectEconomic(await p.economic.fetch(r), range, at, p.economic.name);
    case 'calendar':
      return collectCalendar(await p.calendar.fetch(r), range, deps.storeIds, at, p.calendar.name);
    case 'historical':
      return collectHistorical(await p.historical.fetch(r));
  }
}

/** The log line of a run whose provider failed: what failed, and which values stay (lastGood undefined: unknown). */
export function providerFailureLine(
  name: CollectorName,
  attempts: number,
  error: TagstreamError,
  lastGood: number | null | undefined,
): string {
  const kept =
    lastGood === undefined
      ? 'the values already in the feature store stay in place'
      : lastGood === null
        ? 'no earlier values exist, so readers get the documented defaults'
        : `last good values from ${isoDay(Math.floor(lastGood / DAY_MS))} stay in place`;
  return `collector ${name} failed after ${attempts} ${attempts === 1 ? 'try' : 'tries'}: ${error.code} ${error.message}; ${kept}`;
}

/** Runs one collector over `range`. Never throws: failures are logged and returned with ok = false. */
export async function runCollector(
  name: CollectorName,
  range: DayRange,
  deps: CollectorDeps,
): Promise<RunResult> {
  const started = deps.clock.now();
  const log = deps.log.child({ collector: name });
  const base = { collector: name, range };
  let collected: Collected;
  try {
    collected = await fetchAndMap(name, range, deps);
  } catch (e) {
    const error = toTagstreamError(e, 'PROVIDER_ERROR');
    const attempts = attemptsOf(error);
    // Undefined when the lookup fails too (the database may be what is down): the line then names no date.
    const lastGood = await deps.lastGood(name).catch(() => undefined);
    log.error(
      {
        code: error.code,
        attempts,
        lastGood: lastGood == null ? lastGood : new Date(lastGood).toISOString(),
      },
      providerFailureLine(name, attempts, error, lastGood),
    );
    return {
      ...base,
      ok: false,
      rows: 0,
      published: 0,
      features: 0,
      durationMs: deps.clock.now() - started,
      error,
      attempts,
    };
  }
  if (collected.rows === 0) {
    const fetched = fetchRange(name, range);
    log.warn(
      { from: isoDay(fetched.from), to: isoDay(fetched.to) },
      `collector ${name}: ${deps.providers[name].name} has no rows for ${isoDay(fetched.from)}..${isoDay(fetched.to)}` +
        (collected.features.length > 0 ? '' : '; nothing to write'),
    );
  }
  let published = 0;
  try {
    published = await collected.publish(deps.publisher);
    await deps.store.write(collected.features);
  } catch (e) {
    const error = toTagstreamError(e);
    log.error(
      { code: error.code },
      `collector ${name} failed writing: ${error.code} ${error.message}; what was written is kept, and a re-run rewrites the same keys`,
    );
    return {
      ...base,
      ok: false,
      rows: collected.rows,
      published,
      features: 0,
      durationMs: deps.clock.now() - started,
      error,
    };
  }
  return {
    ...base,
    ok: true,
    rows: collected.rows,
    published,
    features: collected.features.length,
    durationMs: deps.clock.now() - started,
  };
}

/** Today (in collectors.timeZone) as an epoch day. */
export function today(config: Config, now: number): number {
  return dayInZone(now, config.collectors.timeZone);
}

/** The range a scheduled run covers: [today - lookbackDays, today + aheadDays]; historical: today's snapshot. */
export function defaultRange(name: CollectorName, config: Config, now: number): DayRange {
  const d = today(config, now);
  if (name === 'historical') return { from: d, to: d };
  const c = config.collectors[name];
  return { from: d - c.lookbackDays, to: d + c.aheadDays };
}

/** The store ids that get calendar features (stores named by events are added): validation.storeIds. */
export function knownStores(config: Config): string[] {
  return [...config.validation.storeIds];
}

/** The range of a manual run: --from / --to, each defaulting to the end of the scheduled range it replaces. */
export function manualRange(
  name: CollectorName,
  config: Config,
  now: number,
  opts: { readonly from?: number | undefined; readonly to?: number | undefined },
): DayRange {
  const d = defaultRange(name, config, now);
  const range = { from: opts.from ?? d.from, to: opts.to ?? d.to };
  if (range.from > range.to)
    throw new TagstreamError(
      'CONFIG_INVALID',
      `${name}: --from ${isoDay(range.from)} is after --to ${isoDay(range.to)}`,
    );
  return range;
}
