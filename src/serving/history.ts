// Label-history features at serving time, computed by the training code itself (src/ml/train/labels.ts) from the
// same source (id_transactions), so a model sees at serving exactly the kind of value it was trained on:
//  - demand: the lags and weekday-adjusted levels of units rented per class and store before the target day. They
//    change once a day, so they are computed once per target day for every class and store, and cached;
//  - class rentals: the latest counted rentals of every class out of every store before the target day, from the
//    same load (pack scoring scores them with the maintenance model for the class's predicted damage rate);
//  - rentals: an item's counted rentals and damage scans before its `out` scan, one query per batch of items.
import { classKey } from '../features/keys.ts';
import { DEMAND_HISTORY_FEATURES, type DemandHistory, type DemandLevels } from '../features/vocabulary.ts';
import type { Sql } from '../io/mysql/pool.ts';
import {
  DAY_MS,
  countedScans,
  dailyUnits,
  dayOfWeek,
  dayOfYear,
  demandHistory,
  demandLevelContext,
  localDayOf,
  localMidnight,
  monthOfDay,
  ItemHistory,
  type RentalHistory,
  type Scan,
} from '../ml/train/labels.ts';
import { loadScans } from '../ml/train/history.ts';

export type DemandHistoryRow = DemandHistory & DemandLevels;

/** The target day's calendar columns (DEMAND_CALENDAR), as the training frame has them. */
export function demandCalendar(day: number): {
  day_of_week: number;
  target_month: number;
  day_of_year: number;
} {
  return { day_of_week: dayOfWeek(day), target_month: monthOfDay(day), day_of_year: dayOfYear(day) };
}

export interface DemandHistorySource {
  /** The label-history columns of (store, class) for local day `day`; nulls where the history is too short. */
  forDay(day: number): Promise<(storeId: string, rentalClass: string) => DemandHistoryRow>;
}

/** A counted rental (`out` scan) of an item of a class out of a store. */
export interface ClassRental {
  readonly tagId: string;
  readonly storeId: string;
  readonly rentalClass: string;
  /** Event time of the `out` scan. */
  readonly time: number;
  /** Grade on the `out` scan. */
  readonly grade: number;
}

export interface ClassRentalSource {
  /**
   * The latest counted rentals of (store, class) before local day `day` began in the store's zone, oldest first (at
   * most `rentalsPerClass`, only those in the loaded history); empty for a class without rentals there.
   */
  forDay(day: number): Promise<(storeId: string, rentalClass: string) => readonly ClassRental[]>;
}

/** Every label-history column null: a class and store without history before the day. */
const EMPTY = Object.fromEntries(
  DEMAND_HISTORY_FEATURES.map((c) => [c, null]),
) as unknown as DemandHistoryRow;

/** Rentals per class and store that the class's predicted damage rate averages over, by default. */
export const CLASS_RISK_RENTALS = 20;

interface DayHistory {
  readonly demand: (storeId: string, rentalClass: string) => DemandHistoryRow;
  readonly rentals: (storeId: string, rentalClass: string) => readonly ClassRental[];
}

const NO_HISTORY: DayHistory = { demand: () => EMPTY, rentals: () => [] };

/**
 * The label history per target day from id_transactions: scans of the `historyDays` days before the day (in the
 * zone furthest ahead) are loaded once, counted (double reads dropped) and turned into the demand columns (daily
 * series that end the day before) and each class's latest rentals out of each store; the result is cached for the
 * last few days asked for (a replay crosses midnight many times). Both are functions of id_transactions and the day
 * alone: every instance, and an instance after a restart, computes the same.
 */
export function labelHistorySource(
  sql: Sql,
  opts: {
    zoneOf: (storeId: string) => string;
    historyDays: number;
    dedupWindowMs: number;
    /**
     * Days whose history is kept, least recently used dropped first (default 32; a day's history is per class and
     * store, a few hundred kB). The partitions of a backlog ask for days as far apart as their progress differs.
     */
    cacheDays?: number;
    /** Days of scans held beyond one day's range, for days asked behind the newest (default 16). */
    holdDays?: number;
    rentalsPerClass?: number;
    /** How far back each next day's load re-reads (default 2 days; see scanWindow). */
    reloadMs?: number;
    /** Windows of scans held, one per stretch of days being asked (default 3; see scanWindow). */
    windows?: number;
  },
): { readonly demand: DemandHistorySource; readonly rentals: ClassRentalSource } {
  const perClass = opts.rentalsPerClass ?? CLASS_RISK_RENTALS;
  const cacheDays = opts.cacheDays ?? 32;
  const cache = new Map<number, Promise<DayHistory>>();
  const scansIn = scanWindow(sql, {
    reloadMs: opts.reloadMs ?? 2 * DAY_MS,
    // A backlog's partitions ask for days up to a couple of weeks apart: hold that beyond one day's range.
    holdMs: (opts.historyDays + 1 + (opts.holdDays ?? 16)) * DAY_MS + 14 * 3_600_000,
    windows: opts.windows ?? 3,
  });
  const build = async (day: number): Promise<DayHistory> => {
    const from = (day - opts.historyDays - 1) * DAY_MS;
    // Up to the day's start in every zone: UTC−12 starts last, so +14 h covers all.
    const to = day * DAY_MS + 14 * 3_600_000;
    const midnights = new Map<string, number>();
    const cutoffOf = (storeId: string): number => {
      let m = midnights.get(storeId);
      if (m === undefined) midnights.set(storeId, (m = localMidnight(day, opts.zoneOf(storeId))));
      return m;
    };
    const counted = countedScans(await scansIn(from, to), opts.dedupWindowMs);
    const before = counted.filter((s) => s.time < cutoffOf(s.storeId));
    if (before.length === 0) return NO_HISTORY;
    // A loop, not Math.min(...): a season of scans is more arguments than a call takes.
    let start = Infinity;
    for (const s of before) if (s.time < start) start = s.time;
    // Every series ends the day before `day`, so index units.length is the target day.
    const series = dailyUnits(before, { zoneOf: opts.zoneOf, start, end: to }).map((s) => ({
      ...s,
      units: s.units.slice(0, Math.max(0, day - s.firstDay)),
    }));
    const levels = demandLevelContext(series, opts.zoneOf);
    const rows = new Map<string, DemandHistoryRow>();
    for (const s of series) {
      const i = day - s.firstDay;
      if (i <= 0) continue;
      rows.set(s.entityId, { ...demandHistory(s.units, i), ...levels(s, i, cutoffOf(s.storeId)) });
    }
    const rentals = latestRentals(before, perClass);
    return {
      demand: (storeId, rentalClass) => rows.get(classKey(storeId, rentalClass)) ?? EMPTY,
      rentals: (storeId, rentalClass) => rentals.get(classKey(storeId, rentalClass)) ?? [],
    };
  };
  const forDay = (day: number): Promise<DayHistory> => {
    let p = cache.get(day);
    if (p) {
      // Most recently used last: the partitions of a backlog ask for several days at once, each again and again.
      cache.delete(day);
      cache.set(day, p);
      return p;
    }
    p = build(day);
    p.catch(() => cache.delete(day)); // a failed load is retried by the next batch
    cache.set(day, p);
    for (const k of cache.keys()) {
      if (cache.size <= cacheDays) break;
      cache.delete(k);
    }
    return p;
  };
  return {
    demand: { forDay: async (day) => (await forDay(day)).demand },
    rentals: { forDay: async (day) => (await forDay(day)).rentals },
  };
}

/** A stretch of id_transactions held in memory. */
interface HeldScans {
  readonly from: number;
  readonly to: number;
  readonly scans: Scan[];
}

/**
 * The scans of id_transactions in [from, to), loaded incrementally: each window held grows to cover what is asked of
 * it (only the part not held yet is read) and keeps at most `holdMs` behind its newest end, so a range that moves
 * forward day by day re-reads only its last `reloadMs` (and what is new), and a range a little behind the newest
 * one (another partition of a backlog, a day or two back) is served from what is held, instead of reading
 * `historyDays` of scans again for every day asked (a year's replay read tens of millions of rows). Up to `windows`
 * windows are held, the least recently used dropped first: the flows that ask (class events for demand, scans and
 * transactions for rentals and packing) drain a backlog at their own pace, weeks apart, and with one window the
 * flow behind read `historyDays` of scans afresh for every day it asked while another held the window far ahead
 * (most of serving's time in a 90-day backlog). A range no window can extend starts a window of its own. Rows the
 * history sink writes late land in a re-read tail; a scan written more than `reloadMs` after its event time is seen
 * by the next full load. Ranges are served one at a time. Returns the scans in no particular order (countedScans
 * sorts them).
 */
function scanWindow(
  sql: Sql,
  opts: { reloadMs: number; holdMs: number; windows: number },
): (from: number, to: number) => Promise<Scan[]> {
  /** Most recently used last. */
  const held: HeldScans[] = [];
  const keep = (w: HeldScans, replaces?: HeldScans): void => {
    const i = replaces ? held.indexOf(replaces) : -1;
    if (i >= 0) held.splice(i, 1);
    held.push(w);
    while (held.length > opts.windows) held.shift();
  };
  const within = (scans: readonly Scan[], from: number, to: number): Scan[] =>
    scans.filter((s) => s.time >= from && s.time < to);
  // One range at a time: a micro-batch asks for all its days at once, and ranges asked together would each find no
  // window yet (or the same one) and each read every day of their range afresh, at once.
  let queue: Promise<unknown> = Promise.resolve();
  return (from, to) => {
    const next = queue.then(() => rangeOf(from, to));
    queue = next.catch(() => undefined);
    return next;
  };
  async function rangeOf(from: number, to: number): Promise<Scan[]> {
    // A window the range extends: they overlap (the range does not start past its re-read tail), and the range's
    // start stays within holdMs of the extended window's end.
    const prev = held.findLast(
      (w) => to > w.from && from < w.to - opts.reloadMs && from >= Math.max(to, w.to) - opts.holdMs,
    );
    if (!prev) {
      const scans = await loadScans(sql, { from, to });
      keep({ from, to, scans });
      return scans;
    }
    const parts: Scan[][] = [];
    let keepTo = prev.to;
    if (from < prev.from) parts.push(await loadScans(sql, { from, to: prev.from }));
    if (to > prev.to) {
      keepTo = prev.to - opts.reloadMs;
      parts.push(await loadScans(sql, { from: keepTo, to }));
    }
    const newTo = Math.max(to, prev.to);
    const newFrom = Math.max(Math.min(from, prev.from), newTo - opts.holdMs);
    // What was read lies in [from, newTo), inside the new window: the check above keeps `from` within holdMs.
    const scans = within(prev.scans, newFrom, keepTo).concat(...parts);
    keep({ from: newFrom, to: newTo, scans }, prev);
    return from <= newFrom && to >= newTo ? scans : within(scans, from, to);
  }
}

/** The last `n` counted `out` scans of each class and store (by time, then id), oldest first. */
function latestRentals(counted: readonly Scan[], n: number): Map<string, ClassRental[]> {
  // Grouped first, then each class's own `out` scans sorted: only the last n of each are kept.
  const groups = new Map<string, Scan[]>();
  for (const s of counted) {
    if (s.scanType !== 'out') continue;
    const key = classKey(s.storeId, s.rentalClass);
    const list = groups.get(key);
    if (list) list.push(s);
    else groups.set(key, [s]);
  }
  const out = new Map<string, ClassRental[]>();
  for (const [key, list] of groups) {
    list.sort((a, b) => a.time - b.time || a.id - b.id);
    out.set(
      key,
      list.slice(-n).map((s) => ({
        tagId: s.tagId,
        storeId: s.storeId,
        rentalClass: s.rentalClass,
        time: s.time,
        grade: s.grade,
      })),
    );
  }
  return out;
}

/** The local day (epoch day of the local date) of an instant in a zone. */
export const localDay = localDayOf();

export type { RentalHistory };

/**
 * The history columns of items' rentals before their own instants (RENTAL_HISTORY but the grade), in one query:
 * computed as training computes them (labels.ts ItemHistory), a repeat of the same type within the dedup window not
 * counted.
 */
export async function rentalHistories(
  sql: Sql,
  items: readonly { tagId: string; before: number }[],
  dedupWindowMs: number,
): Promise<RentalHistory[]> {
  if (items.length === 0) return [];
  const tags = [...new Set(items.map((i) => i.tagId))];
  const latest = Math.max(...items.map((i) => i.before));
  const scans = countedScans(await loadScans(sql, { tags, to: latest }), dedupWindowMs);
  const byTag = new Map<string, { time: number; scanType: string }[]>();
  for (const s of scans) {
    let list = byTag.get(s.tagId);
    if (!list) byTag.set(s.tagId, (list = []));
    list.push({ time: s.time, scanType: s.scanType });
  }
  return items.map(({ tagId, before }) => {
    const history = new ItemHistory();
    for (const s of byTag.get(tagId) ?? []) {
      if (s.time >= before) break;
      history.add(s);
    }
    return history.before(before);
  });
}
