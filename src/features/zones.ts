// Store time zones: a store's local day bounds its daily windows, demand labels and pack horizon.
import { DateTime, IANAZone } from 'luxon';

/** The part of the configuration that names store zones (config/schema.ts `stores`). */
export interface StoreZones {
  readonly stores: {
    /** IANA time zone per store id. */
    readonly timeZones: Readonly<Record<string, string>>;
    /** Zone of stores not listed. */
    readonly defaultTimeZone: string;
  };
}

/** The IANA zone of each store: its own, or the default. */
export function zoneOf(config: StoreZones): (storeId: string) => string {
  return (storeId) => config.stores.timeZones[storeId] ?? config.stores.defaultTimeZone;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * Local time of instants in one IANA zone, exact and cheap. luxon computes a zone's offset through
 * Intl.DateTimeFormat on every call (tens of microseconds), which made local days and hours the largest cost of the
 * pipeline. Here the offset is cached per UTC hour: an hour whose first and last millisecond have the same offset
 * has it throughout (no zone changes its offset twice within an hour); an hour that holds a transition is not cached
 * and asks luxon for every instant in it. test/features/zones.test.ts compares it with luxon across DST changes.
 */
export interface ZoneClock {
  readonly zone: string;
  /** UTC offset at instant t, in ms (local = t + offset). */
  offsetMs(t: number): number;
  /** The local calendar day of t, as an epoch day (days since 1970-01-01 of the local date). */
  localDay(t: number): number;
  /** Local hour of day, 0-23. */
  hour(t: number): number;
  /** The instant local day `day` (an epoch day, as localDay gives) starts: cached per day, luxon computes it once. */
  midnight(day: number): number;
}

const clocks = new Map<string, ZoneClock>();

/** The clock of `zone`, shared by every caller (it holds only a cache of a pure function). */
export function zoneClock(zone: string): ZoneClock {
  let c = clocks.get(zone);
  if (!c) clocks.set(zone, (c = makeZoneClock(zone)));
  return c;
}

function makeZoneClock(zone: string): ZoneClock {
  const iana = IANAZone.create(zone);
  if (!iana.isValid) throw new RangeError(`invalid time zone ${zone}`);
  const byHour = new Map<number, number>();
  const offsetMs = (t: number): number => {
    const h = Math.floor(t / HOUR_MS);
    const cached = byHour.get(h);
    if (cached !== undefined) return cached;
    const first = iana.offset(h * HOUR_MS);
    const last = iana.offset(h * HOUR_MS + HOUR_MS - 1);
    if (first !== last) return iana.offset(t) * MINUTE_MS;
    if (byHour.size >= 200_000) byHour.clear(); // about 23 years of hours
    byHour.set(h, first * MINUTE_MS);
    return first * MINUTE_MS;
  };
  const midnights = new Map<number, number>();
  const midnight = (day: number): number => {
    const cached = midnights.get(day);
    if (cached !== undefined) return cached;
    const date = new Date(day * DAY_MS);
    const start = DateTime.fromObject(
      { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() },
      { zone: iana },
    )
      .startOf('day')
      .toMillis();
    if (midnights.size >= 20_000) midnights.clear(); // about 55 years of days
    midnights.set(day, start);
    return start;
  };
  return {
    zone,
    offsetMs,
    midnight,
    localDay: (t) => Math.floor((t + offsetMs(t)) / DAY_MS),
    hour: (t) => {
      const local = t + offsetMs(t);
      return Math.floor((((local % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS);
    },
  };
}
