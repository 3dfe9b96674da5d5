// Provider rows: parsing and checking, dates, the Avro records they become, and the feature values (seasons,
// days_to_next_event) against hand-computed values.
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  DAYS_TO_NEXT_EVENT_CAP,
  DAY_MS,
  RowError,
  calendarFeatures,
  dayInZone,
  daysToNextEvent,
  economicFeatures,
  isHolidaySeason,
  isWeddingSeason,
  isoDay,
  monthOf,
  parseCalendarRow,
  parseEconomicRow,
  parseIsoDay,
  parseWeatherRow,
  toCalendarEvent,
  toEconomicIndicators,
  toWeatherObservation,
  weatherFeatures,
  type CalendarRow,
} from '../../src/batch/records.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';

const day = (s: string): number => parseIsoDay(s)!;

describe('dates', () => {
  it('parses YYYY-MM-DD to epoch days and back', () => {
    expect(parseIsoDay('1970-01-01')).toBe(0);
    expect(parseIsoDay('2026-06-01')).toBe(Date.UTC(2026, 5, 1) / DAY_MS);
    expect(isoDay(day('2026-06-01'))).toBe('2026-06-01');
    expect(isoDay(day('2024-02-29'))).toBe('2024-02-29');
  });

  it.each(['2026-02-30', '2026-13-01', '2026-6-1', '2026-06-01T00:00:00Z', '', 'yesterday'])(
    'rejects %j',
    (s) => expect(parseIsoDay(s)).toBeUndefined(),
  );

  it('reads the calendar day of an instant in a zone', () => {
    // 03:00 UTC on June 2 is still June 1 in Los Angeles and already June 2 in London.
    const t = Date.UTC(2026, 5, 2, 3);
    expect(isoDay(dayInZone(t, 'America/Los_Angeles'))).toBe('2026-06-01');
    expect(isoDay(dayInZone(t, 'Europe/London'))).toBe('2026-06-02');
    expect(isoDay(dayInZone(t, 'UTC'))).toBe('2026-06-02');
  });
});

describe('row parsers', () => {
  it('parse the simulator lines', () => {
    expect(
      parseWeatherRow({
        location: 'S1',
        date: '2026-06-01',
        temperature_f: 71.5,
        humidity_pct: 55,
        precipitation_in: 0,
      }),
    ).toEqual({
      location: 'S1',
      date: day('2026-06-01'),
      temperature_f: 71.5,
      humidity_pct: 55,
      precipitation_in: 0,
    });
    expect(
      parseEconomicRow({
        region: 'global',
        week_start: '2026-06-01',
        consumer_confidence: 101.2,
        unemployment_rate: 4.15,
        interest_rate: 4.25,
      }),
    ).toMatchObject({ region: 'global', week_start: day('2026-06-01'), interest_rate: 4.25 });
    expect(
      parseCalendarRow({
        event_id: 'HOL-2026-x',
        store_id: null,
        name: 'X',
        category: 'holiday',
        event_date: '2026-07-04',
        expected_attendance: null,
      }),
    ).toEqual({
      event_id: 'HOL-2026-x',
      store_id: null,
      name: 'X',
      category: 'holiday',
      event_date: day('2026-07-04'),
      expected_attendance: null,
    });
  });

  it('treat a missing store_id or attendance as null', () => {
    const c = parseCalendarRow({ event_id: 'e', name: 'n', category: 'c', event_date: '2026-07-04' });
    expect(c.store_id).toBeNull();
    expect(c.expected_attendance).toBeNull();
  });

  it.each([
    [[], 'expected a JSON object'],
    [{ date: '2026-06-01', temperature_f: 1, humidity_pct: 1, precipitation_in: 0 }, 'location:'],
    [{ location: 'S1', date: '06/01/2026', temperature_f: 1, humidity_pct: 1, precipitation_in: 0 }, 'date:'],
    [
      { location: 'S1', date: '2026-06-01', temperature_f: '70', humidity_pct: 1, precipitation_in: 0 },
      'temperature_f:',
    ],
    [
      { location: 'S1', date: '2026-06-01', temperature_f: 70, humidity_pct: 120, precipitation_in: 0 },
      'humidity_pct: 120',
    ],
    [
      { location: 'S1', date: '2026-06-01', temperature_f: 70, humidity_pct: 50, precipitation_in: -1 },
      'precipitation_in',
    ],
    [
      { location: 'S1', date: '2026-06-01', temperature_f: null, humidity_pct: 50, precipitation_in: 0 },
      'temperature_f',
    ],
  ])('weather %j fails naming the field', (value, message) => {
    expect(() => parseWeatherRow(value)).toThrow(RowError);
    expect(() => parseWeatherRow(value)).toThrow(message);
  });

  it('calendar rows check store_id and attendance', () => {
    const ok = { event_id: 'e', name: 'n', category: 'c', event_date: '2026-07-04' };
    expect(() => parseCalendarRow({ ...ok, store_id: 7 })).toThrow('store_id');
    expect(() => parseCalendarRow({ ...ok, expected_attendance: 1.5 })).toThrow('expected_attendance');
    expect(() => parseCalendarRow({ ...ok, expected_attendance: -3 })).toThrow('expected_attendance');
    expect(() => parseCalendarRow({ ...ok, event_id: '' })).toThrow('event_id');
  });
});

describe('Avro records', () => {
  const at = Date.UTC(2026, 5, 1, 6);

  it('weather, economic and calendar rows encode with their .avsc', () => {
    const w = toWeatherObservation(
      { location: 'S1', date: day('2026-06-01'), temperature_f: 71.5, humidity_pct: 55, precipitation_in: 0 },
      at,
      'file:weather.jsonl',
    );
    const e = toEconomicIndicators(
      {
        region: 'global',
        week_start: day('2026-06-01'),
        consumer_confidence: 101.2,
        unemployment_rate: 4.15,
        interest_rate: 4.25,
      },
      at,
      'file:economic.jsonl',
    );
    const c = toCalendarEvent(
      {
        event_id: 'EV-1',
        store_id: 'S1',
        name: 'Expo',
        category: 'wedding_fair',
        event_date: day('2026-06-10'),
        expected_attendance: 3500,
      },
      at,
      'file:calendar.jsonl',
    );
    for (const [schema, value] of [
      ['weather', w],
      ['economic', e],
      ['calendar', c],
    ] as const) {
      const type = avro.Type.forSchema(loadSchema(schema) as avro.Schema);
      expect(type.isValid(value), schema).toBe(true);
      expect(type.fromBuffer(type.toBuffer(value))).toEqual(value);
    }
    expect(w).toMatchObject({ collected_at: at, source: 'file:weather.jsonl', date: day('2026-06-01') });
  });
});

describe('weather and economic features', () => {
  it('one value per measure, per store, at 00:00 UTC of the day', () => {
    const f = weatherFeatures([
      {
        location: 'S1',
        date: day('2026-06-01'),
        temperature_f: 71.5,
        humidity_pct: 55,
        precipitation_in: 0.2,
      },
    ]);
    expect(f.map((x) => [x.entity_type, x.entity_id, x.feature_name, x.feature_value, x.timestamp])).toEqual([
      ['store', 'S1', 'temperature_f', 71.5, Date.UTC(2026, 5, 1)],
      ['store', 'S1', 'humidity_pct', 55, Date.UTC(2026, 5, 1)],
      ['store', 'S1', 'precipitation_in', 0.2, Date.UTC(2026, 5, 1)],
    ]);
    expect(f.every((x) => x.window === null && x.source === 'weather' && x.confidence === 1)).toBe(true);
  });

  it('weather for location global is a global entity', () => {
    const [f] = weatherFeatures([
      { location: 'global', date: 0, temperature_f: 1, humidity_pct: 1, precipitation_in: 0 },
    ]);
    expect(f!.entity_type).toBe('global');
  });

  it('economic indicators are global, at the start of the week', () => {
    const f = economicFeatures([
      {
        region: 'global',
        week_start: day('2026-06-01'),
        consumer_confidence: 101.2,
        unemployment_rate: 4.15,
        interest_rate: 4.25,
      },
    ]);
    expect(f.map((x) => [x.entity_type, x.entity_id, x.feature_name, x.feature_value, x.timestamp])).toEqual([
      ['global', 'global', 'consumer_confidence', 101.2, Date.UTC(2026, 5, 1)],
      ['global', 'global', 'unemployment_rate', 4.15, Date.UTC(2026, 5, 1)],
      ['global', 'global', 'interest_rate', 4.25, Date.UTC(2026, 5, 1)],
    ]);
  });
});

describe('seasons and month', () => {
  it.each([
    ['2026-01-15', 1, false, false],
    ['2026-04-30', 4, false, false],
    ['2026-05-01', 5, true, false],
    ['2026-09-30', 9, true, false],
    ['2026-10-01', 10, false, false],
    ['2026-10-31', 10, false, false],
    ['2026-11-01', 11, false, true],
    ['2026-12-31', 12, false, true],
    ['2027-01-01', 1, false, false],
  ])('%s: month %i, wedding %s, holiday %s', (d, month, wedding, holiday) => {
    expect(monthOf(day(d))).toBe(month);
    expect(isWeddingSeason(day(d))).toBe(wedding);
    expect(isHolidaySeason(day(d))).toBe(holiday);
  });
});

describe('daysToNextEvent', () => {
  const events = ['2026-06-02', '2026-06-10', '2026-07-04'].map(day);

  it.each([
    ['2026-06-01', 1],
    ['2026-06-02', 0],
    ['2026-06-03', 7],
    ['2026-06-10', 0],
    ['2026-06-11', 23],
    ['2026-07-04', 0],
  ])('from %s: %i days', (d, n) => expect(daysToNextEvent(day(d), events)).toBe(n));

  it('is the cap after the last event, with none, and for an event more than 365 days out', () => {
    expect(daysToNextEvent(day('2026-07-05'), events)).toBe(DAYS_TO_NEXT_EVENT_CAP);
    expect(daysToNextEvent(day('2026-07-05'), [])).toBe(365);
    expect(daysToNextEvent(day('2026-01-01'), [day('2027-01-01')])).toBe(365);
    expect(daysToNextEvent(day('2026-01-01'), [day('2027-01-02')])).toBe(365);
    expect(daysToNextEvent(day('2026-01-02'), [day('2027-01-01')])).toBe(364);
  });

  it('agrees with a linear scan', () => {
    const sorted = [3, 3, 10, 40, 400, 1000];
    for (let d = -5; d < 1100; d++) {
      const next = sorted.find((e) => e >= d);
      expect(daysToNextEvent(d, sorted)).toBe(next === undefined ? 365 : Math.min(365, next - d));
    }
  });
});

describe('calendarFeatures', () => {
  const ev = (id: string, store: string | null, date: string): CalendarRow => ({
    event_id: id,
    store_id: store,
    name: id,
    category: 'c',
    event_date: day(date),
    expected_attendance: null,
  });
  const events = [
    ev('memorial', null, '2026-05-25'),
    ev('fair', 'S2', '2026-06-02'),
    ev('expo', 'S1', '2026-06-10'),
    ev('july4', null, '2026-07-04'),
  ];
  const range = { from: day('2026-06-01'), to: day('2026-06-03') };

  it('per store and day: the next event at the store or a global one (hand-computed)', () => {
    const f = calendarFeatures(events, ['S1', 'S2', 'S3'], range);
    const next = (store: string, d: string) =>
      f.find(
        (x) =>
          x.entity_id === store && x.feature_name === 'days_to_next_event' && x.timestamp === day(d) * DAY_MS,
      )?.feature_value;
    // S1: its expo on 06-10.
    expect([next('S1', '2026-06-01'), next('S1', '2026-06-02'), next('S1', '2026-06-03')]).toEqual([9, 8, 7]);
    // S2: its fair on 06-02, then July 4 (06-03 -> 07-04 is 31 days).
    expect([next('S2', '2026-06-01'), next('S2', '2026-06-02'), next('S2', '2026-06-03')]).toEqual([
      1, 0, 31,
    ]);
    // S3: only the global July 4.
    expect([next('S3', '2026-06-01'), next('S3', '2026-06-02'), next('S3', '2026-06-03')]).toEqual([
      33, 32, 31,
    ]);
  });

  it('four features per store and day, with seasons and month of the day', () => {
    const f = calendarFeatures(events, ['S1', 'S2', 'S3'], range);
    expect(f).toHaveLength(3 * 3 * 4);
    const s1 = f.filter((x) => x.entity_id === 'S1' && x.timestamp === day('2026-06-01') * DAY_MS);
    expect(Object.fromEntries(s1.map((x) => [x.feature_name, x.feature_value]))).toEqual({
      is_wedding_season: 1,
      is_holiday_season: 0,
      month: 6,
      days_to_next_event: 9,
    });
    expect(s1.every((x) => x.entity_type === 'store' && x.source === 'calendar' && x.window === null)).toBe(
      true,
    );
  });

  it('adds stores named by events; with no store at all, one global entity', () => {
    expect(new Set(calendarFeatures(events, [], range).map((x) => x.entity_id))).toEqual(
      new Set(['S1', 'S2']),
    );
    const global = calendarFeatures([ev('july4', null, '2026-07-04')], [], range);
    expect(new Set(global.map((x) => `${x.entity_type}:${x.entity_id}`))).toEqual(new Set(['global:global']));
    expect(global.find((x) => x.feature_name === 'days_to_next_event')!.feature_value).toBe(33);
  });
});
