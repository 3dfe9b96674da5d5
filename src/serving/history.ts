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
  dayOfWeek,
  dayOfYear,
  demandHistory,
  demandLevelContext,
  firstWholeDay,
  localDayOf,
  localMidnight,
  monthOfDay,
  ItemHistory,
  type DailySeries,
  type RentalHistory,
  type Scan,
} from '../ml/train/labels.ts';
import { firstScanTime, loadScans } from '../ml/train/history.ts';

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

/** What one local day of one store adds to every later day's label history. */
interface StoreDay {
  /** Counted `out` scans per class; every class with a counted scan of any type that day has an entry (maybe 0). */
  readonly units: Map<string, number>;
  /** The day's last `rentalsPerClass` counted rentals per class, oldest first. */
  readonly rentals: Map<string, ClassRental[]>;
}

/** One local day (each store's own) summarised from id_transactions. */
interface DaySummary {
  /** By store, only stores with a counted scan that day. */
  readonly stores: Map<string, StoreDay>;
  /** The target day being built when this was read: days close before it may still gain late rows. */
  readonly readFor: number;
}

/** The earliest and latest UTC offsets of any zone: a local day d lies within [d·DAY − 14 h, (d+1)·DAY + 12 h). */
const EARLIEST_OFFSET_MS = 14 * 3_600_000;
const LATEST_OFFSET_MS = 12 * 3_600_000;

/**
 * The label history per target day D from id_transactions, computed as training computes it (labels.ts
 * dailyUnits, demandHistory, demandLevelContext over the scans counted once) from the `historyDays` local days
 * before D in each store's zone.
 *
 * Incremental: each local day is read and summarised once (its counted rentals per class and store, and the last
 * `rentalsPerClass` of them), and a target day is assembled from the summaries of the days before it, so the next
 * day costs one day's rows, not `historyDays` of them recounted. A day is read with the dedup window before it, so
 * its first scans are counted exactly as in the whole history. Late rows (the history sink behind serving) are
 * picked up by re-reading the `reloadDays` days before a later target day once. Summaries are kept for
 * `heldDays` days, least recently used dropped first (the flows of a backlog ask days weeks apart), and built days
 * for `cacheDays`. Days are read one range at a time (a micro-batch asks for all its days at once). The result is a
 * function of id_transactions and the day alone: every instance, and an instance after a restart, computes the same.
 */
export function labelHistorySource(
  sql: Sql,
  opts: {
    zoneOf: (storeId: string) => string;
    historyDays: number;
    dedupWindowMs: number;
    /** Target days whose history is kept, least recently used dropped first (default 32). */
    cacheDays?: number;
    /** Local days whose summaries are kept (default 3 × (historyDays + 1): three flows' stretches of days). */
    heldDays?: number;
    rentalsPerClass?: number;
    /** Days before a later target day that are read again, for rows written late (default 2). */
    reloadDays?: number;
  },
): { readonly demand: DemandHistorySource; readonly rentals: ClassRentalSource } {
  const perClass = opts.rentalsPerClass ?? CLASS_RISK_RENTALS;
  const cacheDays = opts.cacheDays ?? 32;
  const heldDays = opts.heldDays ?? 3 * (opts.historyDays + 1);
  const reloadDays = opts.reloadDays ?? 2;
  /** Both most recently used last (see touch). */
  const cache = new Map<number, Promise<DayHistory>>();
  const summaries = new Map<number, DaySummary>();
  /** The first scan's time once it lies before every day still asked; until then read again per build. */
  let settledStart: number | undefined;

  const fresh = (d: number, day: number): boolean => {
    const s = summaries.get(d);
    return s !== undefined && (s.readFor >= day || d < s.readFor - reloadDays);
  };

  /** Reads and summarises local days a..b (all stores). */
  const summarise = async (a: number, b: number, day: number): Promise<void> => {
    // The dedup window before day a's earliest start, so a's first scans see the scans they may repeat.
    const from = a * DAY_MS - EARLIEST_OFFSET_MS - opts.dedupWindowMs;
    const to = (b + 1) * DAY_MS + LATEST_OFFSET_MS;
    const days = new Map<number, Map<string, { units: Map<string, number>; outs: Map<string, Scan[]> }>>();
    for (let d = a; d <= b; d++) days.set(d, new Map());
    for (const s of countedScans(await loadScans(sql, { from, to }), opts.dedupWindowMs)) {
      const stores = days.get(localDay(s.time, opts.zoneOf(s.storeId)));
      if (!stores) continue;
      let st = stores.get(s.storeId);
      if (!st) stores.set(s.storeId, (st = { units: new Map(), outs: new Map() }));
      const units = st.units.get(s.rentalClass) ?? 0;
      if (s.scanType !== 'out') {
        st.units.set(s.rentalClass, units);
        continue;
      }
      st.units.set(s.rentalClass, units + 1);
      const list = st.outs.get(s.rentalClass);
      if (list) list.push(s);
      else st.outs.set(s.rentalClass, [s]);
    }
    for (const [d, stores] of days) {
      const summary = new Map<string, StoreDay>();
      for (const [storeId, st] of stores) {
        const rentals = new Map<string, ClassRental[]>();
        for (const [cls, outs] of st.outs)
          rentals.set(
            cls,
            outs
              .sort((x, y) => x.time - y.time || x.id - y.id)
              .slice(-perClass)
              .map((s) => ({ tagId: s.tagId, storeId, rentalClass: cls, time: s.time, grade: s.grade })),
          );
        summary.set(storeId, { units: st.units, rentals });
      }
      touch(summaries, d, { stores: summary, readFor: day });
    }
  };

  const build = async (day: number): Promise<DayHistory> => {
    const first = day - opts.historyDays;
    // Read the days missing or possibly incomplete, in contiguous runs.
    for (let d = first; d < day; d++) {
      if (fresh(d, day)) continue;
      let e = d;
      while (e + 1 < day && !fresh(e + 1, day)) e++;
      await summarise(d, e, day);
      d = e;
    }
    const used: DaySummary[] = [];
    for (let d = first; d < day; d++) used.push(touch(summaries, d, summaries.get(d)!));
    trim(summaries, heldDays);
    // Per store: the classes seen, and the first day wholly inside the history (training's series start there).
    const classes = new Map<string, Set<string>>();
    for (const s of used)
      for (const [storeId, st] of s.stores) {
        let set = classes.get(storeId);
        if (!set) classes.set(storeId, (set = new Set()));
        for (const cls of st.units.keys()) set.add(cls);
      }
    if (classes.size === 0) return NO_HISTORY;
    const start = await dataStart(first * DAY_MS - EARLIEST_OFFSET_MS);
    if (start === null) return NO_HISTORY;
    const series: DailySeries[] = [];
    const rentals = new Map<string, ClassRental[]>();
    const cutoffs = new Map<string, number>();
    for (const [storeId, set] of [...classes].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
      const zone = opts.zoneOf(storeId);
      cutoffs.set(storeId, localMidnight(day, zone));
      const firstDay = Math.max(firstWholeDay(start, zone), first);
      for (const cls of [...set].sort()) {
        if (firstDay < day) {
          const units = Array.from(
            { length: day - firstDay },
            (_, k) => used[firstDay - first + k]!.stores.get(storeId)?.units.get(cls) ?? 0,
          );
          series.push({ entityId: classKey(storeId, cls), storeId, rentalClass: cls, firstDay, units });
        }
        // The latest rentals: whole days back from the day before, until enough.
        const parts: ClassRental[][] = [];
        let n = 0;
        for (let k = used.length - 1; k >= 0 && n < perClass; k--) {
          const list = used[k]!.stores.get(storeId)?.rentals.get(cls);
          if (!list) continue;
          parts.push(list);
          n += list.length;
        }
        if (n > 0) rentals.set(classKey(storeId, cls), parts.reverse().flat().slice(-perClass));
      }
    }
    const levels = demandLevelContext(series, opts.zoneOf);
    const rows = new Map<string, DemandHistoryRow>();
    for (const s of series)
      rows.set(s.entityId, {
        ...demandHistory(s.units, s.units.length),
        ...levels(s, s.units.length, cutoffs.get(s.storeId)!),
      });
    return {
      demand: (storeId, rentalClass) => rows.get(classKey(storeId, rentalClass)) ?? EMPTY,
      rentals: (storeId, rentalClass) => rentals.get(classKey(storeId, rentalClass)) ?? [],
    };
  };

  /** The first scan's time (where training's series start), or null before any scan; `before` bounds re-reads. */
  const dataStart = async (before: number): Promise<number | null> => {
    if (settledStart !== undefined) return settledStart;
    const t = await firstScanTime(sql);
    // Rows are only ever added: once the first scan lies before the days asked, later rows cannot move it past them.
    if (t !== null && t <= before) settledStart = t;
    return t;
  };

  // One build at a time: days asked together (a micro-batch) would each find the same days missing and read them.
  let queue: Promise<unknown> = Promise.resolve();
  const forDay = (day: number): Promise<DayHistory> => {
    // The partitions of a backlog ask for several days at once, each again and again.
    const held = cache.get(day);
    if (held) return touch(cache, day, held);
    const p = queue.then(() => build(day));
    queue = p.catch(() => undefined);
    p.catch(() => cache.delete(day)); // a failed load is retried by the next batch
    touch(cache, day, p);
    trim(cache, cacheDays);
    return p;
  };
  return {
    demand: { forDay: async (day) => (await forDay(day)).demand },
    rentals: { forDay: async (day) => (await forDay(day)).rentals },
  };
}

/** Sets `k` as the most recently used entry of `m` (insertion order: least recently used first); returns `v`. */
function touch<K, V>(m: Map<K, V>, k: K, v: V): V {
  m.delete(k);
  m.set(k, v);
  return v;
}

/** Drops the least recently used entries of `m` (see touch) beyond `max`. */
function trim<K, V>(m: Map<K, V>, max: number): void {
  for (const k of m.keys()) {
    if (m.size <= max) break;
    m.delete(k);
  }
}

/** The local day (epoch day of the local date) of an instant in a zone. */
export const localDay = localDayOf();

export type { RentalHistory };
export { localMidnight };

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
