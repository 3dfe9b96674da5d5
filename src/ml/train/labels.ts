// Training labels from the scan history (id_transactions), never placeholders: units rented per class, store and
// local day (next day and next 7 days), "needs repair within the next K rentals" per rental, and the grade at the
// next return per rental. Pure functions over scans; each label carries the time its features are read at.
//
// Cut-off rule (the time a label's features are read "as of", see features.ts):
// - demand: the start of the target day D in the store's time zone, i.e. the end of the local day before it. The
//   1d window of D-1 is stamped exactly then and is visible (at or before); nothing of D is. The label-history
//   features (lags, means) only use days before D.
// - maintenance, quality: the event time of the rental's `out` scan. The item's features stamped by that scan
//   (grade, turnover at checkout) are what the pipeline knows the moment the item leaves; the label only looks at
//   later scans.
import { zoneClock } from '../../features/zones.ts';
import { classKey } from '../../features/keys.ts';
import type { DemandHistory, DemandLevels } from '../../features/vocabulary.ts';

export const DAY_MS = 86_400_000;

/** One row of id_transactions. */
export interface Scan {
  /** id_transactions.id: insertion order, the tie-break between scans of one tag at the same time. */
  readonly id: number;
  readonly tagId: string;
  readonly rentalClass: string;
  readonly storeId: string;
  readonly scanType: string;
  /** Event time, ms since epoch UTC. */
  readonly time: number;
  readonly grade: number;
}

const byTimeId = (a: Scan, b: Scan): number => a.time - b.time || a.id - b.id;
const byTagTimeId = (a: Scan, b: Scan): number =>
  a.tagId < b.tagId ? -1 : a.tagId > b.tagId ? 1 : byTimeId(a, b);

/**
 * The scans that count, in (tag, time, id) order: a scan is a repeat, and dropped, when the tag's previous scan (by
 * event time, then id; repeats included) has the same type and is at most `dedupWindowMs` earlier — two readers at
 * one door. The same rule as src/batch/history.ts countedScans (the SQL the history sink and the historical collector
 * use) and windows.dedupWindowMs in operators/item-features.ts.
 */
export function countedScans(scans: readonly Scan[], dedupWindowMs: number): Scan[] {
  // Grouped by tag first, then each tag's few scans sorted by time: one sort of the whole history by a string key
  // was most of serving's daily label-history load.
  const byTagId = new Map<string, Scan[]>();
  for (const s of scans) {
    const list = byTagId.get(s.tagId);
    if (list) list.push(s);
    else byTagId.set(s.tagId, [s]);
  }
  const tags = [...byTagId.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: Scan[] = [];
  for (const tag of tags) {
    const list = (byTagId.get(tag) as Scan[]).sort(byTimeId);
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      const prev = list[i - 1];
      const repeat =
        prev !== undefined && prev.scanType === s.scanType && s.time - prev.time <= dedupWindowMs;
      if (!repeat) out.push(s);
    }
  }
  return out;
}

/** Splits scans sorted by tag into one run per tag. */
function byTag(sorted: readonly Scan[]): Scan[][] {
  const out: Scan[][] = [];
  let start = 0;
  for (let i = 1; i <= sorted.length; i++)
    if (i === sorted.length || sorted[i]!.tagId !== sorted[start]!.tagId) {
      out.push(sorted.slice(start, i));
      start = i;
    }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Local days

/** Local calendar day of an instant in a zone, as an epoch day (src/features/zones.ts zoneClock: exact, cached). */
export function localDayOf(): (t: number, zone: string) => number {
  return (t, zone) => zoneClock(zone).localDay(t);
}

/** The instant local day `day` (epoch day of the calendar date) starts in `zone`: the demand cut-off of that day. */
export function localMidnight(day: number, zone: string): number {
  return zoneClock(zone).midnight(day);
}

/** The first local day in `zone` that starts at or after `t`: the first day wholly inside a history from `t`. */
export function firstWholeDay(t: number, zone: string): number {
  const day = zoneClock(zone).localDay(t);
  return localMidnight(day, zone) < t ? day + 1 : day;
}

/** 0 = Monday … 6 = Sunday (as operators/features.ts localParts); 1970-01-01 was a Thursday. */
export const dayOfWeek = (day: number): number => (((day + 3) % 7) + 7) % 7;
/** 1-12. */
export const monthOfDay = (day: number): number => new Date(day * DAY_MS).getUTCMonth() + 1;
/** 1-366. */
export const dayOfYear = (day: number): number => {
  const d = new Date(day * DAY_MS);
  return day - Date.UTC(d.getUTCFullYear(), 0, 1) / DAY_MS + 1;
};

// ---------------------------------------------------------------------------------------------------------------
// Demand

/** Units rented (counted `out` scans) per local day of one class in one store. */
export interface DailySeries {
  readonly entityId: string;
  readonly storeId: string;
  readonly rentalClass: string;
  /** Epoch day of units[0]. */
  readonly firstDay: number;
  readonly units: readonly number[];
}

export interface DailyOptions {
  readonly zoneOf: (storeId: string) => string;
  /** The history covers [start, end] (ms); only local days wholly inside it are counted. Default: the scans' span. */
  readonly start?: number;
  readonly end?: number;
}

/**
 * Units rented per (store, class) and local day: the number of counted `out` scans of the class in the store on that
 * local calendar day (the 1d window of operators/windows.ts). Every (store, class) pair with any scan gets a series
 * over the days wholly inside the history of its store's zone, zeros included. `scans` must be counted already.
 */
export function dailyUnits(counted: readonly Scan[], opts: DailyOptions): DailySeries[] {
  if (counted.length === 0) return [];
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of counted) {
    if (s.time < lo) lo = s.time;
    if (s.time > hi) hi = s.time;
  }
  const start = opts.start ?? lo;
  const end = opts.end ?? hi;
  const dayOf = localDayOf();
  const ranges = new Map<string, [number, number]>();
  const rangeOf = (storeId: string): [number, number] => {
    let r = ranges.get(storeId);
    if (!r) {
      const zone = opts.zoneOf(storeId);
      const first = firstWholeDay(start, zone);
      let last = dayOf(end, zone);
      if (localMidnight(last + 1, zone) > end) last--;
      r = [first, last];
      ranges.set(storeId, r);
    }
    return r;
  };
  const counts = new Map<string, { storeId: string; rentalClass: string; units: Map<number, number> }>();
  for (const s of counted) {
    const key = classKey(s.storeId, s.rentalClass);
    let c = counts.get(key);
    if (!c) {
      c = { storeId: s.storeId, rentalClass: s.rentalClass, units: new Map() };
      counts.set(key, c);
    }
    if (s.scanType !== 'out') continue;
    const day = dayOf(s.time, opts.zoneOf(s.storeId));
    c.units.set(day, (c.units.get(day) ?? 0) + 1);
  }
  const out: DailySeries[] = [];
  for (const [entityId, c] of [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const [first, last] = rangeOf(c.storeId);
    if (last < first) continue;
    const units = Array.from({ length: last - first + 1 }, (_, i) => c.units.get(first + i) ?? 0);
    out.push({ entityId, storeId: c.storeId, rentalClass: c.rentalClass, firstDay: first, units });
  }
  return out;
}

/** demandHistory for the day at index `i` of a series' units (index 0 = its first day). */
export function demandHistory(units: readonly number[], i: number): DemandHistory {
  const at = (k: number): number | null => (i - k >= 0 && i - k < units.length ? units[i - k]! : null);
  const mean = (lags: readonly number[]): number | null => {
    let s = 0;
    for (const k of lags) {
      const v = at(k);
      if (v === null) return null;
      s += v;
    }
    return s / lags.length;
  };
  const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k + 1);
  return {
    units_lag_1: at(1),
    units_lag_7: at(7),
    units_mean_7: mean(range(7)),
    units_same_weekday_4w: mean([7, 14, 21, 28]),
    units_mean_28: mean(range(28)),
  };
}

/** Weeks of store history the weekday profile is taken over. */
export const WEEKDAY_PROFILE_WEEKS = 8;
/** Days of class history pooled over stores. */
export const CLASS_LEVEL_DAYS = 28;

/** Units per day summed over series, by a key (store, or class). */
function totalsBy(
  series: readonly DailySeries[],
  key: (s: DailySeries) => string,
): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const s of series) {
    let m = out.get(key(s));
    if (!m) {
      m = new Map();
      out.set(key(s), m);
    }
    s.units.forEach((u, i) => m.set(s.firstDay + i, (m.get(s.firstDay + i) ?? 0) + u));
  }
  return out;
}

/**
 * The label-history context of every series: store totals (for the weekday profile) and class totals per store (for
 * the pooled level). `levels(series, i, cutoff)` reads only days that ended by the cut-off.
 */
export function demandLevelContext(
  series: readonly DailySeries[],
  zoneOf: (storeId: string) => string,
): (s: DailySeries, i: number, cutoff: number) => DemandLevels {
  const stores = totalsBy(series, (s) => s.storeId);
  const classStores = new Map<string, DailySeries[]>();
  for (const s of series) classStores.set(s.rentalClass, [...(classStores.get(s.rentalClass) ?? []), s]);
  const ratioCache = new Map<string, number | null>();

  const weekdayRatio = (storeId: string, day: number): number | null => {
    const key = `${storeId}|${day}`;
    if (ratioCache.has(key)) return ratioCache.get(key)!;
    const totals = stores.get(storeId)!;
    let same = 0;
    let weeks = 0;
    let all = 0;
    for (let w = 1; w <= WEEKDAY_PROFILE_WEEKS; w++) {
      let week = 0;
      let complete = true;
      for (let k = 7 * (w - 1) + 1; k <= 7 * w; k++) {
        const v = totals.get(day - k);
        if (v === undefined) complete = false;
        else week += v;
      }
      if (!complete) break;
      all += week;
      same += totals.get(day - 7 * w)!;
      weeks++;
    }
    const r = weeks > 0 && all > 0 ? same / weeks / (all / (7 * weeks)) : null;
    ratioCache.set(key, r);
    return r;
  };

  /** Mean of the last n days, over whole weeks only (fewer at the start of the series); null before a week. */
  const level = (units: readonly number[], i: number, n: number): number | null => {
    const days = Math.min(n, 7 * Math.floor(Math.min(i, units.length) / 7));
    if (days < 7) return null;
    let sum = 0;
    for (let k = 1; k <= days; k++) sum += units[i - k]!;
    return sum / days;
  };

  const midnights = new Map<string, number>();
  const midnight = (day: number, zone: string): number => {
    const k = `${zone}|${day}`;
    let m = midnights.get(k);
    if (m === undefined) {
      m = localMidnight(day, zone);
      midnights.set(k, m);
    }
    return m;
  };

  return (s, i, cutoff) => {
    const day = s.firstDay + i;
    const ratio = weekdayRatio(s.storeId, day);
    const times = (v: number | null): number | null => (v === null || ratio === null ? null : v * ratio);
    // Pooled class level: each store's last CLASS_LEVEL_DAYS days that had ended by this cut-off.
    let sum = 0;
    let count = 0;
    for (const other of classStores.get(s.rentalClass) ?? []) {
      const zone = zoneOf(other.storeId);
      let last = day - 1;
      while (last >= other.firstDay && midnight(last + 1, zone) > cutoff) last--;
      for (let d = last; d > last - CLASS_LEVEL_DAYS && d >= other.firstDay; d--) {
        const v = other.units[d - other.firstDay];
        if (v === undefined) continue;
        sum += v;
        count++;
      }
    }
    return {
      store_weekday_ratio: ratio,
      level_weekday_7: times(level(s.units, i, 7)),
      level_weekday_14: times(level(s.units, i, 14)),
      level_weekday_28: times(level(s.units, i, 28)),
      class_level_weekday: count >= 7 ? times(sum / count) : null,
    };
  };
}

export interface DemandLabel extends DemandHistory, DemandLevels {
  readonly entityId: string;
  readonly storeId: string;
  readonly rentalClass: string;
  /** The target day D (epoch day of the local date). */
  readonly day: number;
  /** Features are read as of this instant: the start of D in the store's zone. */
  readonly cutoff: number;
  /** Units rented on D. */
  readonly units_1d: number;
  /** Units rented on D..D+6; null when the history ends before D+6. */
  readonly units_7d: number | null;
  /** Seasonal naive for the 7 days: the 7 days before D (same weekdays last week). */
  readonly naive_7d: number | null;
  /** Calendar of the target day: deterministic functions of the label time, not leakage. */
  readonly day_of_week: number;
  readonly target_month: number;
  readonly day_of_year: number;
}

/**
 * One label per (store, class) and target day that has a seasonal-naive forecast (a day a week earlier in the
 * history), in (day, entity) order.
 */
export function demandLabels(
  series: readonly DailySeries[],
  zoneOf: (storeId: string) => string,
): DemandLabel[] {
  const out: DemandLabel[] = [];
  const midnights = new Map<string, number>();
  const levels = demandLevelContext(series, zoneOf);
  for (const s of series) {
    const zone = zoneOf(s.storeId);
    for (let i = 7; i < s.units.length; i++) {
      const day = s.firstDay + i;
      const mk = `${zone}|${day}`;
      let cutoff = midnights.get(mk);
      if (cutoff === undefined) {
        cutoff = localMidnight(day, zone);
        midnights.set(mk, cutoff);
      }
      const h = demandHistory(s.units, i);
      let week: number | null = null;
      if (i + 6 < s.units.length) {
        week = 0;
        for (let k = 0; k < 7; k++) week += s.units[i + k]!;
      }
      out.push({
        entityId: s.entityId,
        storeId: s.storeId,
        rentalClass: s.rentalClass,
        day,
        cutoff,
        units_1d: s.units[i]!,
        units_7d: week,
        naive_7d: h.units_mean_7 === null ? null : h.units_mean_7 * 7,
        ...h,
        ...levels(s, i, cutoff),
        day_of_week: dayOfWeek(day),
        target_month: monthOfDay(day),
        day_of_year: dayOfYear(day),
      });
    }
  }
  return out.sort(
    (a, b) => a.day - b.day || (a.entityId < b.entityId ? -1 : a.entityId > b.entityId ? 1 : 0),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Rentals: maintenance and quality

/** What every per-rental label carries: the rental (its `out` scan) and what the history knew before it. */
export interface RentalLabel {
  readonly tagId: string;
  readonly rentalClass: string;
  readonly storeId: string;
  /** Event time of the `out` scan: the cut-off. */
  readonly time: number;
  /** When the label is settled (the scan that decides it): training rows must end before a later holdout starts. */
  readonly settledAt: number;
  /** Grade on the `out` scan: the last grade known when the item leaves (the persistence baseline for quality). */
  readonly grade_at_out: number;
  /** Counted damage scans of the item before the rental, in the loaded history. */
  readonly prior_damages: number;
  /** Counted rentals of the item before this one, in the loaded history. */
  readonly prior_rentals: number;
  /** Days since the item's previous rental (its first scan when none); null without an earlier scan. */
  readonly days_since_last_use: number | null;
  /** Rentals of the item in the 7 days before this one, per day. */
  readonly usage_frequency_7d: number;
  /** The grade the item leaves with (= grade_at_out; the name the derived features read). */
  readonly quality_grade: number;
}

/** What an item's counted scans before an instant say about its next rental (RentalLabel's history columns). */
export type RentalHistory = Pick<
  RentalLabel,
  'prior_rentals' | 'prior_damages' | 'days_since_last_use' | 'usage_frequency_7d'
>;

/**
 * One item's counted scans, added in time order, and what they say before a later instant. Training (labels below)
 * and serving (src/serving/history.ts rentalHistories) both compute a rental's history columns with it, so the two
 * agree by construction.
 */
export class ItemHistory {
  private rentals = 0;
  private damages = 0;
  private first = NaN;
  private lastOut = NaN;
  /** `out` times within the last 7 days of the latest one added. */
  private outs: number[] = [];

  add(scan: Pick<Scan, 'time' | 'scanType'>): void {
    if (Number.isNaN(this.first)) this.first = scan.time;
    if (scan.scanType === 'out') {
      this.rentals++;
      this.lastOut = scan.time;
      this.outs.push(scan.time);
      const from = scan.time - 7 * DAY_MS;
      if (this.outs[0]! <= from) this.outs = this.outs.filter((t) => t > from);
    } else if (scan.scanType === 'damage') this.damages++;
  }

  /** The history before `time`, which must not precede any scan added. */
  before(time: number): RentalHistory {
    const since = Number.isNaN(this.lastOut) ? this.first : this.lastOut;
    let recent = 0;
    for (const t of this.outs) if (t > time - 7 * DAY_MS) recent++;
    return {
      prior_rentals: this.rentals,
      prior_damages: this.damages,
      days_since_last_use: Number.isNaN(since) ? null : (time - since) / DAY_MS,
      usage_frequency_7d: recent / 7,
    };
  }
}

export interface MaintenanceLabel extends RentalLabel {
  /** 1 when a damage or repair scan follows before the item's K-th next `out` scan. */
  readonly needs_repair: number;
}

export interface QualityLabel extends RentalLabel {
  /** Grade on the next `return` scan. */
  readonly grade_at_return: number;
}

const NEEDS_REPAIR = new Set(['damage', 'repair']);

function rentals<T extends RentalLabel>(
  counted: readonly Scan[],
  label: (
    scans: readonly Scan[],
    outs: readonly number[],
    j: number,
  ) => { settledAt: number; extra: object } | null,
): T[] {
  const out: T[] = [];
  for (const scans of byTag([...counted].sort(byTagTimeId))) {
    const outs: number[] = [];
    scans.forEach((s, i) => {
      if (s.scanType === 'out') outs.push(i);
    });
    const history = new ItemHistory();
    let next = 0; // scans before outs[j] already added to `history`
    outs.forEach((i, j) => {
      for (; next < i; next++) history.add(scans[next]!);
      const l = label(scans, outs, j);
      if (l === null) return;
      const s = scans[i]!;
      out.push({
        tagId: s.tagId,
        rentalClass: s.rentalClass,
        storeId: s.storeId,
        time: s.time,
        settledAt: l.settledAt,
        grade_at_out: s.grade,
        quality_grade: s.grade,
        ...history.before(s.time),
        ...l.extra,
      } as T);
    });
  }
  return out.sort((a, b) => a.time - b.time || (a.tagId < b.tagId ? -1 : a.tagId > b.tagId ? 1 : 0));
}

/**
 * One label per rental whose next K rentals are in the history: 1 when the item gets a damage or repair scan after
 * the `out` scan and before its K-th next `out` scan (so during this rental or the K-1 after it), else 0. A rental
 * whose K-th next `out` scan is not in the history is left out, whatever happened (right-censored: keeping only its
 * early positives would bias the latest rows). `scans` must be counted already.
 */
export function maintenanceLabels(counted: readonly Scan[], k: number): MaintenanceLabel[] {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`K must be a positive integer, got ${k}`);
  return rentals<MaintenanceLabel>(counted, (scans, outs, j) => {
    const end = outs[j + k];
    if (end === undefined) return null;
    let needs = 0;
    for (let i = outs[j]! + 1; i < end; i++) if (NEEDS_REPAIR.has(scans[i]!.scanType)) needs = 1;
    return { settledAt: scans[end]!.time, extra: { needs_repair: needs } };
  });
}

/**
 * Every rental (`out` scan) of the counted history from `from` on, labelled or not: the population serving scores.
 * A label's own rentals are a biased sample of it near the end of the history (a rental is labelled only once its
 * outcome is in: K more rentals for maintenance, so the last days' labels are the busiest items'), which a drift
 * reference must not be. `settledAt` is the rental's own time (nothing is settled).
 */
export function allRentals(counted: readonly Scan[], from = -Infinity): RentalLabel[] {
  return rentals<RentalLabel>(counted, (scans, outs, j) =>
    scans[outs[j]!]!.time >= from ? { settledAt: scans[outs[j]!]!.time, extra: {} } : null,
  );
}

/**
 * One label per rental with a `return` scan before the item's next `out` scan: the grade on that return. Rentals
 * without one in the history are left out. `scans` must be counted already.
 */
export function qualityLabels(counted: readonly Scan[]): QualityLabel[] {
  return rentals<QualityLabel>(counted, (scans, outs, j) => {
    const stop = outs[j + 1] ?? scans.length;
    for (let i = outs[j]! + 1; i < stop; i++) {
      const s = scans[i]!;
      if (s.scanType === 'return') return { settledAt: s.time, extra: { grade_at_return: s.grade } };
    }
    return null;
  });
}
