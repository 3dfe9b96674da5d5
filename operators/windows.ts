// Window assigners: tumbling windows aligned to the epoch, calendar days in a time zone (23, 24 or 25 hours
// across DST), and sliding windows over the last N ms in hops. Pure functions of the event time.
import { DateTime } from 'luxon';

export type WindowSpec =
  | { readonly name: string; readonly kind: 'tumbling'; readonly sizeMs: number }
  /** A calendar day in the zone of the key (e.g. the store's), from local midnight to local midnight. */
  | { readonly name: string; readonly kind: 'day'; readonly zone: (key: string) => string }
  /**
   * The last sizeMs up to the key's event time `end`, its lower edge moving in hops of hopMs: [start, end] with
   * start = the end of end's hop - sizeMs (`slidingStart`). It is the hopping window (size sizeMs, advance hopMs)
   * that ends next, as it stands at `end`: between sizeMs - hopMs and sizeMs long. sizeMs is a multiple of hopMs;
   * the operator keeps one partial aggregate per hop, so its state does not grow with the number of records.
   */
  | { readonly name: string; readonly kind: 'sliding'; readonly sizeMs: number; readonly hopMs: number };

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** [start, end) of the tumbling window holding t. */
export function tumblingWindow(t: number, sizeMs: number): [number, number] {
  const start = tumblingStart(t, sizeMs);
  return [start, start + sizeMs];
}

/** The start of the tumbling window holding t (its end is start + sizeMs). */
export function tumblingStart(t: number, sizeMs: number): number {
  return Math.floor(t / sizeMs) * sizeMs;
}

/** [start, end) of the local calendar day holding t in `zone`. */
export function dayWindow(t: number, zone: string): [number, number] {
  const local = DateTime.fromMillis(t, { zone }).startOf('day');
  if (!local.isValid) throw new Error(`invalid time zone ${zone}`);
  // The next day's start, not start + 1 day: where DST begins at midnight a day starts at 01:00 and the next at 00:00.
  return [local.toMillis(), local.plus({ days: 1 }).startOf('day').toMillis()];
}

/** The first instant of the sliding window (size sizeMs, hops of hopMs) that ends at `end`: a hop edge. */
export function slidingStart(end: number, sizeMs: number, hopMs: number): number {
  return Math.floor(end / hopMs) * hopMs + hopMs - sizeMs;
}

/**
 * Remembers the last three days per zone: consecutive events mostly fall on the same day (and late ones on the day
 * before), and luxon is not free.
 */
export function cachedDayWindow(): (t: number, zone: string) => [number, number] {
  const recent = new Map<string, Array<[number, number]>>();
  return (t, zone) => {
    let days = recent.get(zone);
    if (!days) recent.set(zone, (days = []));
    for (const w of days) if (t >= w[0] && t < w[1]) return w;
    const fresh = dayWindow(t, zone);
    days.unshift(fresh);
    if (days.length > 3) days.pop();
    return fresh;
  };
}

/** The five windows the pipeline computes features over. */
export function standardWindows(zoneOfKey: (key: string) => string): WindowSpec[] {
  return [
    { name: '1m', kind: 'tumbling', sizeMs: MINUTE },
    { name: '5m', kind: 'tumbling', sizeMs: 5 * MINUTE },
    { name: '1h', kind: 'tumbling', sizeMs: HOUR },
    { name: '1d', kind: 'day', zone: zoneOfKey },
    // Hourly hops: 168 partial aggregates per key, and the window is never more than an hour short of 7 days.
    { name: '7d', kind: 'sliding', sizeMs: 7 * DAY, hopMs: HOUR },
  ];
}
