// Window assigners: tumbling windows aligned to the epoch, calendar days in a time zone (23, 24 or 25 hours
// across DST), and sliding windows over the last N ms. Pure functions of the event time.
import { DateTime } from 'luxon';

export type WindowSpec =
  | { readonly name: string; readonly kind: 'tumbling'; readonly sizeMs: number }
  /** A calendar day in the zone of the key (e.g. the store's), from local midnight to local midnight. */
  | { readonly name: string; readonly kind: 'day'; readonly zone: (key: string) => string }
  /** The last sizeMs up to the partition's event time: (end - sizeMs, end]. */
  | { readonly name: string; readonly kind: 'sliding'; readonly sizeMs: number };

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** [start, end) of the tumbling window holding t. */
export function tumblingWindow(t: number, sizeMs: number): [number, number] {
  const start = Math.floor(t / sizeMs) * sizeMs;
  return [start, start + sizeMs];
}

/** [start, end) of the local calendar day holding t in `zone`. */
export function dayWindow(t: number, zone: string): [number, number] {
  const local = DateTime.fromMillis(t, { zone }).startOf('day');
  if (!local.isValid) throw new Error(`invalid time zone ${zone}`);
  // The next day's start, not start + 1 day: where DST begins at midnight a day starts at 01:00 and the next at 00:00.
  return [local.toMillis(), local.plus({ days: 1 }).startOf('day').toMillis()];
}

/** Remembers the last day per zone: consecutive events mostly fall on the same day, and luxon is not free. */
export function cachedDayWindow(): (t: number, zone: string) => [number, number] {
  const last = new Map<string, [number, number]>();
  return (t, zone) => {
    const w = last.get(zone);
    if (w && t >= w[0] && t < w[1]) return w;
    const fresh = dayWindow(t, zone);
    last.set(zone, fresh);
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
    { name: '7d', kind: 'sliding', sizeMs: 7 * DAY },
  ];
}
