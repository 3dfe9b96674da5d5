// The external series the batch collectors handle: provider rows (parsed and checked from JSON), their Avro records
// for external.*, and the feature values they put in the feature store. Pure functions, unit tested.
//
// Feature timestamps: a day's values are stamped at 00:00 UTC of that calendar day (epoch day * 86,400,000), a
// week's at 00:00 UTC of its first day. Dates are the provider's calendar dates (the store's local day); stamping
// them at UTC midnight keeps one key per day whatever the zone, which makes re-runs idempotent.
import { GLOBAL_ENTITY } from '../features/keys.ts';
import { featureVector as fv } from '../features/vector.ts';
import type {
  CalendarEvent,
  EconomicIndicators,
  FeatureVector,
  WeatherObservation,
} from '../schemas/types.ts';

export const DAY_MS = 86_400_000;

/** An inclusive range of days, as epoch days (days since 1970-01-01). */
export interface DayRange {
  readonly from: number;
  readonly to: number;
}

export interface WeatherRow {
  /** Store id, or `global`. */
  readonly location: string;
  readonly date: number;
  readonly temperature_f: number;
  readonly humidity_pct: number;
  readonly precipitation_in: number;
}

export interface EconomicRow {
  readonly region: string;
  readonly week_start: number;
  readonly consumer_confidence: number;
  readonly unemployment_rate: number;
  readonly interest_rate: number;
}

export interface CalendarRow {
  readonly event_id: string;
  /** null: the event affects every store. */
  readonly store_id: string | null;
  readonly name: string;
  readonly category: string;
  readonly event_date: number;
  readonly expected_attendance: number | null;
}

/** Thrown by the row parsers; the provider adds where (file and line, or URL and index) and the coded error. */
export class RowError extends Error {
  override readonly name = 'RowError';
}

const ISO_DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** 'YYYY-MM-DD' to an epoch day; undefined for anything else (including impossible dates like 2026-02-30). */
export function parseIsoDay(s: string): number | undefined {
  const m = ISO_DAY.exec(s);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d)
    return undefined;
  return ms / DAY_MS;
}

/** Epoch day to 'YYYY-MM-DD'. */
export function isoDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** The calendar day (epoch day) of an instant in an IANA time zone. */
export function dayInZone(ms: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(ms));
  const day = parseIsoDay(parts);
  if (day === undefined) throw new RangeError(`cannot read the day of ${ms} in ${timeZone}: ${parts}`);
  return day;
}

type Obj = Record<string, unknown>;

function asObject(v: unknown): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RowError('expected a JSON object');
  return v as Obj;
}

function str(o: Obj, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0) throw new RowError(`${key}: expected a non-empty string`);
  return v;
}

function num(o: Obj, key: string, min = -Infinity, max = Infinity): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RowError(`${key}: expected a number`);
  if (v < min || v > max) throw new RowError(`${key}: ${v} is outside ${min}..${max}`);
  return v;
}

function day(o: Obj, key: string): number {
  const v = o[key];
  const d = typeof v === 'string' ? parseIsoDay(v) : undefined;
  if (d === undefined) throw new RowError(`${key}: expected a date YYYY-MM-DD, got ${JSON.stringify(v)}`);
  return d;
}

/** `{location, date, temperature_f, humidity_pct, precipitation_in}` (the simulator's weather.jsonl line). */
export function parseWeatherRow(value: unknown): WeatherRow {
  const o = asObject(value);
  return {
    location: str(o, 'location'),
    date: day(o, 'date'),
    temperature_f: num(o, 'temperature_f', -100, 150),
    humidity_pct: num(o, 'humidity_pct', 0, 100),
    precipitation_in: num(o, 'precipitation_in', 0, 50),
  };
}

/** `{region, week_start, consumer_confidence, unemployment_rate, interest_rate}` (economic.jsonl). */
export function parseEconomicRow(value: unknown): EconomicRow {
  const o = asObject(value);
  return {
    region: str(o, 'region'),
    week_start: day(o, 'week_start'),
    consumer_confidence: num(o, 'consumer_confidence', 0, 1000),
    unemployment_rate: num(o, 'unemployment_rate', 0, 100),
    interest_rate: num(o, 'interest_rate', -10, 100),
  };
}

/** `{event_id, store_id|null, name, category, event_date, expected_attendance|null}` (calendar.jsonl). */
export function parseCalendarRow(value: unknown): CalendarRow {
  const o = asObject(value);
  const store = o['store_id'];
  if (store !== null && store !== undefined && (typeof store !== 'string' || store === ''))
    throw new RowError('store_id: expected a non-empty string or null');
  const attendance = o['expected_attendance'];
  if (
    attendance !== null &&
    attendance !== undefined &&
    !(
      Number.isSafeInteger(attendance) &&
      (attendance as number) >= 0 &&
      (attendance as number) <= 2 ** 31 - 1
    )
  )
    throw new RowError('expected_attendance: expected a non-negative integer or null');
  return {
    event_id: str(o, 'event_id'),
    store_id: (store as string | null | undefined) ?? null,
    name: str(o, 'name'),
    category: str(o, 'category'),
    event_date: day(o, 'event_date'),
    expected_attendance: (attendance as number | null | undefined) ?? null,
  };
}

export const inRange = (d: number, r: DayRange): boolean => d >= r.from && d <= r.to;

/** The Kafka key of an external record: its store or region, `global` for an event of every store. */
export const weatherKey = (w: WeatherRow): string => w.location;
export const economicKey = (e: EconomicRow): string => e.region;
export const calendarKey = (c: CalendarRow): string => c.store_id ?? 'global';

export function toWeatherObservation(w: WeatherRow, collectedAt: number, source: string): WeatherObservation {
  return { ...w, collected_at: collectedAt, source };
}

export function toEconomicIndicators(
  e: EconomicRow,
  collectedAt: number,
  source: string,
): EconomicIndicators {
  return { ...e, collected_at: collectedAt, source };
}

export function toCalendarEvent(c: CalendarRow, collectedAt: number, source: string): CalendarEvent {
  return { ...c, collected_at: collectedAt, source };
}

/** `global` is its own entity type; any other location or region is a store or a region. */
const entityTypeOf = (id: string, otherwise: string): string =>
  id === GLOBAL_ENTITY ? GLOBAL_ENTITY : otherwise;

/** temperature_f, humidity_pct, precipitation_in per store (entity_type 'store'), stamped at the day's 00:00 UTC. */
export function weatherFeatures(rows: readonly WeatherRow[]): FeatureVector[] {
  return rows.flatMap((w) => {
    const t = w.date * DAY_MS;
    const type = entityTypeOf(w.location, 'store');
    return [
      fv(type, w.location, 'temperature_f', w.temperature_f, 'environmental', t, 'weather'),
      fv(type, w.location, 'humidity_pct', w.humidity_pct, 'environmental', t, 'weather'),
      fv(type, w.location, 'precipitation_in', w.precipitation_in, 'environmental', t, 'weather'),
    ];
  });
}

/** consumer_confidence, unemployment_rate, interest_rate per region ('global'), stamped at the week's first day. */
export function economicFeatures(rows: readonly EconomicRow[]): FeatureVector[] {
  return rows.flatMap((e) => {
    const t = e.week_start * DAY_MS;
    const type = entityTypeOf(e.region, 'region');
    return [
      fv(type, e.region, 'consumer_confidence', e.consumer_confidence, 'economic', t, 'economic'),
      fv(type, e.region, 'unemployment_rate', e.unemployment_rate, 'economic', t, 'economic'),
      fv(type, e.region, 'interest_rate', e.interest_rate, 'economic', t, 'economic'),
    ];
  });
}

/** Month 1-12 of an epoch day. */
export const monthOf = (day: number): number => new Date(day * DAY_MS).getUTCMonth() + 1;

/** May to September: the wedding and outdoor party season (seed: month in [5, 6, 7, 8, 9]). */
export const isWeddingSeason = (day: number): boolean => {
  const m = monthOf(day);
  return m >= 5 && m <= 9;
};

/** November and December (seed: month in [11, 12]). */
export const isHolidaySeason = (day: number): boolean => monthOf(day) >= 11;

/** days_to_next_event when no event is known within this many days. */
export const DAYS_TO_NEXT_EVENT_CAP = 365;

/**
 * Days from `day` to the first event on or after it (0 on the day of an event), capped at 365.
 * `eventDays` must be sorted ascending.
 */
export function daysToNextEvent(day: number, eventDays: readonly number[]): number {
  let lo = 0;
  let hi = eventDays.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (eventDays[mid]! < day) lo = mid + 1;
    else hi = mid;
  }
  const next = eventDays[lo];
  return next === undefined ? DAYS_TO_NEXT_EVENT_CAP : Math.min(DAYS_TO_NEXT_EVENT_CAP, next - day);
}

/**
 * Per store and per day of `range`: is_wedding_season, is_holiday_season, month, and days_to_next_event (the next
 * event at that store or a global one). `events` should reach 365 days past the range's end, or the distance to an
 * event beyond what was fetched reads as the cap. With no store known, one 'global' entity gets the values.
 */
export function calendarFeatures(
  events: readonly CalendarRow[],
  storeIds: readonly string[],
  range: DayRange,
): FeatureVector[] {
  const stores = [
    ...new Set([...storeIds, ...events.flatMap((e) => (e.store_id === null ? [] : [e.store_id]))]),
  ];
  const entities = stores.length > 0 ? stores : ['global'];
  const out: FeatureVector[] = [];
  for (const entity of entities) {
    const type = entityTypeOf(entity, 'store');
    const days = events
      .filter((e) => e.store_id === null || e.store_id === entity)
      .map((e) => e.event_date)
      .sort((a, b) => a - b);
    for (let d = range.from; d <= range.to; d++) {
      const t = d * DAY_MS;
      out.push(
        fv(type, entity, 'is_wedding_season', isWeddingSeason(d) ? 1 : 0, 'seasonal', t, 'calendar'),
        fv(type, entity, 'is_holiday_season', isHolidaySeason(d) ? 1 : 0, 'seasonal', t, 'calendar'),
        fv(type, entity, 'month', monthOf(d), 'temporal', t, 'calendar'),
        fv(type, entity, 'days_to_next_event', daysToNextEvent(d, days), 'temporal', t, 'calendar'),
      );
    }
  }
  return out;
}
