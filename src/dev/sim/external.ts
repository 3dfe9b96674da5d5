// The external series the simulated demand depends on, generated first from the seed: daily weather per store,
// weekly economic indicators, and a calendar of holidays, wedding fairs and festivals near each store.
import type { ClassTag, RentalClass, Store } from './catalogue.ts';
import { Rng } from './rng.ts';
import { dayOfYear, epochDayOfYmd, nthWeekday, weekdayOf, ymdOf } from './time.ts';

export interface WeatherDay {
  /** Store id. */
  readonly location: string;
  /** Epoch day. */
  readonly date: number;
  readonly temperature_f: number;
  readonly humidity_pct: number;
  readonly precipitation_in: number;
}

export interface EconomicWeek {
  readonly region: 'global';
  /** Epoch day of the Monday the week starts on. */
  readonly week_start: number;
  readonly consumer_confidence: number;
  readonly unemployment_rate: number;
  readonly interest_rate: number;
}

export type EventCategory = 'holiday' | 'wedding_fair' | 'festival' | 'sports' | 'community';

export interface CalendarEntry {
  readonly event_id: string;
  /** null: a holiday, everywhere. */
  readonly store_id: string | null;
  readonly name: string;
  readonly category: EventCategory;
  /** Epoch day. */
  readonly event_date: number;
  readonly expected_attendance: number | null;
  /** For holidays: the demand multiplier per class tag (`all` for classes with none of the tags). */
  readonly effect: Readonly<Partial<Record<ClassTag | 'all', number>>> | null;
}

export interface External {
  /** weather[storeIndex][dayIndex] */
  readonly weather: readonly (readonly WeatherDay[])[];
  readonly economic: readonly EconomicWeek[];
  /** Sorted by date, then id. */
  readonly calendar: readonly CalendarEntry[];
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/** 1 in mid-July, 0 in mid-January. */
const summerness = (epochDay: number): number =>
  (1 + Math.cos((2 * Math.PI * (dayOfYear(epochDay) - 200)) / 365.25)) / 2;

function weatherFor(store: Store, startDay: number, days: number, rng: Rng): WeatherDay[] {
  const c = store.climate;
  const out: WeatherDay[] = [];
  let anomaly = 0;
  let wet = false;
  for (let i = 0; i < days; i++) {
    const date = startDay + i;
    const s = summerness(date);
    const normalF = c.meanF + c.swingF * (2 * s - 1);
    anomaly = 0.7 * anomaly + 4.5 * rng.normal();
    const pWet = c.wetWinter + (c.wetSummer - c.wetWinter) * s;
    wet = rng.chance(wet ? Math.min(0.85, pWet + 0.25) : pWet * 0.85);
    const precipitation_in = wet ? Math.max(0.01, round(rng.exponential(c.wetMeanIn), 2)) : 0;
    const temperature_f = round(normalF + anomaly - (wet ? 3 : 0), 1);
    const humidity_pct = Math.round(
      clamp(c.humidity + (wet ? 18 : 0) + 6 * rng.normal() - 0.2 * (temperature_f - normalF), 15, 100),
    );
    out.push({ location: store.id, date, temperature_f, humidity_pct, precipitation_in });
  }
  return out;
}

function economicFor(startDay: number, endDay: number, rng: Rng): EconomicWeek[] {
  const out: EconomicWeek[] = [];
  let cc = 100 + 6 * rng.normal();
  let unemployment = 4.2 + 0.4 * rng.normal();
  let rate = 4.5 + 0.5 * rng.normal();
  // Weeks start on Monday; the first one contains the first simulated day.
  for (let week = startDay - ((weekdayOf(startDay) + 6) % 7); week < endDay; week += 7) {
    out.push({
      region: 'global',
      week_start: week,
      consumer_confidence: round(cc, 1),
      unemployment_rate: round(unemployment, 2),
      interest_rate: round(rate, 2),
    });
    cc = clamp(cc + 0.08 * (100 - cc) + 1.6 * rng.normal(), 60, 140);
    unemployment = clamp(unemployment + 0.05 * (4.2 - unemployment) + 0.06 * rng.normal(), 2.5, 9);
    rate = clamp(rate + 0.03 * (4.5 - rate) + 0.05 * rng.normal(), 0.25, 9);
  }
  return out;
}

interface HolidayDef {
  readonly key: string;
  readonly name: string;
  readonly date: (year: number) => number;
  readonly effect: Readonly<Partial<Record<ClassTag | 'all', number>>>;
}

const MON = 1;
const THU = 4;
const fixed = (month: number, day: number) => (year: number) => epochDayOfYmd(year, month, day);
const nth = (month: number, weekday: number, n: number) => (year: number) =>
  nthWeekday(year, month, weekday, n);

const HOLIDAYS: readonly HolidayDef[] = [
  { key: 'new_years_day', name: "New Year's Day", date: fixed(1, 1), effect: { all: 0.5 } },
  {
    key: 'valentines_day',
    name: "Valentine's Day",
    date: fixed(2, 14),
    effect: { dining: 1.3, wedding: 1.3 },
  },
  { key: 'memorial_day', name: 'Memorial Day', date: nth(5, MON, -1), effect: { outdoor: 1.5, bbq: 1.8 } },
  {
    key: 'independence_day',
    name: 'Independence Day',
    date: fixed(7, 4),
    effect: { outdoor: 1.8, bbq: 2.2, party: 1.3 },
  },
  { key: 'labor_day', name: 'Labor Day', date: nth(9, MON, 1), effect: { outdoor: 1.5, bbq: 1.8 } },
  {
    key: 'halloween',
    name: 'Halloween',
    date: fixed(10, 31),
    effect: { party: 1.4, lighting: 1.5, kids: 1.3 },
  },
  { key: 'thanksgiving', name: 'Thanksgiving', date: nth(11, THU, 4), effect: { dining: 1.7, all: 0.7 } },
  { key: 'christmas_eve', name: 'Christmas Eve', date: fixed(12, 24), effect: { party: 1.5, dining: 1.6 } },
  { key: 'christmas', name: 'Christmas Day', date: fixed(12, 25), effect: { all: 0.3 } },
  {
    key: 'new_years_eve',
    name: "New Year's Eve",
    date: fixed(12, 31),
    effect: { party: 2.0, lighting: 2.0, dining: 1.5 },
  },
];

const FAIR_MONTHS = [3, 3, 2, 0.5, 0, 0, 0, 0.5, 1, 2, 0.5, 0.5];
const FESTIVAL_MONTHS = [0.3, 0.3, 0.6, 1, 1.5, 2, 2, 2, 1.5, 1.2, 0.5, 0.3];
const FESTIVAL_NAMES: Readonly<Record<'festival' | 'sports' | 'community', readonly string[]>> = {
  festival: [
    'Food & Wine Festival',
    'Summer Music Festival',
    'Jazz in the Park',
    'Craft Beer Fest',
    'Arts Festival',
    'Harvest Festival',
  ],
  sports: ['City Marathon', 'Charity 10K', 'Regatta', 'Softball Tournament'],
  community: ['County Fair', 'Street Fair', 'Farmers Market Gala', 'Pride Parade'],
};

function dayInMonth(year: number, monthIndex: number, rng: Rng, weekendBias: number): number {
  const first = epochDayOfYmd(year, monthIndex + 1, 1);
  const length = epochDayOfYmd(year, monthIndex + 2, 1) - first;
  let day = first + rng.int(0, length - 1);
  if (rng.chance(weekendBias)) {
    // Move to the Saturday of that week (staying in the month).
    const sat = day + (6 - weekdayOf(day));
    day = sat < first + length ? sat : sat - 7;
  }
  return day;
}

const logUniform = (rng: Rng, lo: number, hi: number): number =>
  Math.round(Math.exp(rng.between(Math.log(lo), Math.log(hi))));

function calendarFor(
  stores: readonly Store[],
  startDay: number,
  endDay: number,
  seed: number,
): CalendarEntry[] {
  const out: CalendarEntry[] = [];
  const firstYear = ymdOf(startDay).year;
  const lastYear = ymdOf(endDay - 1).year;
  const inPeriod = (d: number): boolean => d >= startDay && d < endDay;
  for (let year = firstYear; year <= lastYear; year++) {
    for (const h of HOLIDAYS) {
      const d = h.date(year);
      if (inPeriod(d))
        out.push({
          event_id: `HOL-${year}-${h.key}`,
          store_id: null,
          name: h.name,
          category: 'holiday',
          event_date: d,
          expected_attendance: null,
          effect: h.effect,
        });
    }
    for (const store of stores) {
      // One stream per store and year: a store-year's events do not depend on which period is simulated.
      const rng = Rng.stream(seed, `calendar:${store.id}:${year}`);
      const fairs = rng.int(3, 5);
      for (let i = 0; i < fairs; i++) {
        const d = dayInMonth(year, rng.weighted(FAIR_MONTHS), rng, 0.8);
        const attendance = logUniform(rng, 400, 3000);
        if (inPeriod(d))
          out.push({
            event_id: `EV-${store.id}-${year}-F${i + 1}`,
            store_id: store.id,
            name: `${store.city} Bridal Expo`,
            category: 'wedding_fair',
            event_date: d,
            expected_attendance: attendance,
            effect: null,
          });
      }
      const festivals = rng.int(6, 10);
      for (let i = 0; i < festivals; i++) {
        const d = dayInMonth(year, rng.weighted(FESTIVAL_MONTHS), rng, 0.7);
        const u = rng.float();
        const category = u < 0.6 ? 'festival' : u < 0.85 ? 'sports' : 'community';
        const name = rng.pick(FESTIVAL_NAMES[category]);
        const attendance = logUniform(rng, 1500, 60000);
        if (inPeriod(d))
          out.push({
            event_id: `EV-${store.id}-${year}-E${i + 1}`,
            store_id: store.id,
            name: `${store.city} ${name}`,
            category,
            event_date: d,
            expected_attendance: attendance,
            effect: null,
          });
      }
    }
  }
  return out.sort((a, b) => a.event_date - b.event_date || (a.event_id < b.event_id ? -1 : 1));
}

/** Generates every external series for the period [startDay, startDay + days) from its own seeded streams. */
export function generateExternal(
  stores: readonly Store[],
  startDay: number,
  days: number,
  seed: number,
): External {
  return {
    weather: stores.map((s) => weatherFor(s, startDay, days, Rng.stream(seed, `weather:${s.id}`))),
    economic: economicFor(startDay, startDay + days, Rng.stream(seed, 'economic')),
    calendar: calendarFor(stores, startDay, startDay + days, seed),
  };
}

/** The demand multiplier calendar events on a day give a class at a store. */
export function eventBoost(events: readonly CalendarEntry[], rc: RentalClass): number {
  let boost = 1;
  for (const e of events) {
    const att = e.expected_attendance ?? 0;
    switch (e.category) {
      case 'holiday': {
        const effect = e.effect ?? {};
        const byTag = rc.tags.map((t) => effect[t]).filter((x): x is number => x !== undefined);
        boost *= byTag.length > 0 ? Math.max(...byTag) : (effect.all ?? 1);
        break;
      }
      case 'wedding_fair':
        boost *= 1 + 0.3 * Math.log10(1 + att / 200) * (rc.tags.includes('wedding') ? 1 : 0.2);
        break;
      default:
        boost *= 1 + 0.35 * Math.log10(1 + att / 2000) * (rc.outdoor ? 1 : 0.4);
    }
  }
  return boost;
}
