// Calendar arithmetic on epoch days (days since 1970-01-01, the Avro `date`), and store-local times via luxon.
import { DateTime } from 'luxon';

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;

export const epochDayOf = (ms: number): number => Math.floor(ms / DAY_MS);

/** 'YYYY-MM-DD' of an epoch day. */
export const isoDate = (epochDay: number): string => new Date(epochDay * DAY_MS).toISOString().slice(0, 10);

/** Epoch day of 'YYYY-MM-DD', or NaN when the text is not such a date. */
export function parseIsoDate(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return NaN;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return isoDate(ms / DAY_MS) === text ? ms / DAY_MS : NaN;
}

/** 0 = Sunday ... 6 = Saturday (1970-01-01 was a Thursday). */
export const weekdayOf = (epochDay: number): number => (((epochDay + 4) % 7) + 7) % 7;

export interface YMD {
  readonly year: number;
  /** 1..12 */
  readonly month: number;
  readonly day: number;
}

export function ymdOf(epochDay: number): YMD {
  const d = new Date(epochDay * DAY_MS);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

export const epochDayOfYmd = (year: number, month: number, day: number): number =>
  Date.UTC(year, month - 1, day) / DAY_MS;

/** Day of the year, 0-based, with a fractional part of 0 (day granularity). */
export const dayOfYear = (epochDay: number): number => epochDay - epochDayOfYmd(ymdOf(epochDay).year, 1, 1);

/** Epoch day of the n-th `weekday` (0 = Sunday) of a month; n = -1 is the last one. */
export function nthWeekday(year: number, month: number, weekday: number, n: number): number {
  if (n > 0) {
    const first = epochDayOfYmd(year, month, 1);
    return first + ((weekday - weekdayOf(first) + 7) % 7) + 7 * (n - 1);
  }
  const last = epochDayOfYmd(year, month + 1, 1) - 1;
  return last - ((weekdayOf(last) - weekday + 7) % 7);
}

/**
 * UTC ms of local midnight of an epoch day in a zone, using the UTC offset at local noon, so that business-hour
 * times (local midnight + hours) are right on daylight-saving change days too. Cached per zone and day.
 */
export class LocalDays {
  private readonly cache = new Map<number, number>();

  constructor(readonly zone: string) {
    if (!DateTime.local().setZone(zone).isValid) throw new Error(`unknown time zone ${zone}`);
  }

  midnight(epochDay: number): number {
    let ms = this.cache.get(epochDay);
    if (ms === undefined) {
      const { year, month, day } = ymdOf(epochDay);
      const offsetMin = DateTime.fromObject({ year, month, day, hour: 12 }, { zone: this.zone }).offset;
      ms = epochDay * DAY_MS - offsetMin * MINUTE_MS;
      this.cache.set(epochDay, ms);
    }
    return ms;
  }

  /** UTC ms of a local time of day (ms after local midnight) on an epoch day. */
  at(epochDay: number, msOfDay: number): number {
    return this.midnight(epochDay) + Math.round(msOfDay);
  }
}
