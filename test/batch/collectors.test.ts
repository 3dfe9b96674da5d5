// Collector runs on fakes: what each writes to external.* and the feature store, that a re-run writes the same keys,
// that a failing provider is retried and then leaves one clear line and no writes, and the historical features.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import {
  collectHistorical,
  defaultRange,
  fetchRange,
  manualRange,
  providerFailureLine,
  runCollector,
} from '../../src/batch/collectors.ts';
import { historicalFeatures, statusCase, type HistorySnapshot } from '../../src/batch/history.ts';
import { fileProvider, withRetry } from '../../src/batch/provider.ts';
import {
  DAY_MS,
  parseCalendarRow,
  parseEconomicRow,
  parseIsoDay,
  parseWeatherRow,
  type WeatherRow,
} from '../../src/batch/records.ts';
import { TagstreamError } from '../../src/errors.ts';
import { thrownBy } from '../helpers/errors.ts';
import { FIXTURES, failingProvider, fakeDeps, staticProvider } from './fakes.ts';

const day = (s: string): number => parseIsoDay(s)!;
const JUNE = { from: day('2026-06-01'), to: day('2026-06-03') };
const ERROR = 50;
const fixture = (name: string) => join(FIXTURES, 'external', name);

function fileDeps(options: Parameters<typeof fakeDeps>[1] = {}) {
  return fakeDeps(
    {
      weather: fileProvider(fixture('weather.jsonl'), parseWeatherRow),
      economic: fileProvider(fixture('economic.jsonl'), parseEconomicRow),
      calendar: fileProvider(fixture('calendar.jsonl'), parseCalendarRow),
    },
    options,
  );
}

describe('weather collector', () => {
  it('publishes the range rows keyed by store and writes three features per row', async () => {
    const deps = fileDeps();
    const r = await runCollector('weather', JUNE, deps);
    expect(r).toMatchObject({ ok: true, rows: 6, published: 6, features: 18 });
    expect(deps.publisher.sent.map((s) => [s.kind, s.key])).toEqual([
      ['weather', 'S1'],
      ['weather', 'S2'],
      ['weather', 'S1'],
      ['weather', 'S2'],
      ['weather', 'S1'],
      ['weather', 'S2'],
    ]);
    expect(deps.publisher.sent[0]!.value).toEqual({
      location: 'S1',
      date: day('2026-06-01'),
      temperature_f: 71.5,
      humidity_pct: 55,
      precipitation_in: 0,
      collected_at: deps.clock.now(),
      source: 'file:weather.jsonl',
    });
    expect(deps.store.value('S2', 'precipitation_in', Date.UTC(2026, 5, 1))).toBe(0.12);
    expect(deps.store.value('S1', 'temperature_f', Date.UTC(2026, 5, 3))).toBe(73.4);
    // Outside the range: 05-31 and 06-04.
    expect(deps.store.value('S1', 'temperature_f', Date.UTC(2026, 4, 31))).toBeUndefined();
    expect(deps.store.value('S1', 'temperature_f', Date.UTC(2026, 5, 4))).toBeUndefined();
  });

  it('a re-run writes the same keys: the store holds the same rows', async () => {
    const deps = fileDeps();
    await runCollector('weather', JUNE, deps);
    const first = new Map(deps.store.rows);
    await runCollector('weather', JUNE, deps);
    expect(deps.store.writes).toBe(2);
    expect(new Map(deps.store.rows)).toEqual(first);
    // Kafka gets the same identities again (consumers keep the latest per identity).
    const ids = deps.publisher.sent.map((s) => {
      const v = s.value as { location: string; date: number };
      return `${v.location}|${v.date}`;
    });
    expect(new Set(ids).size).toBe(6);
    expect(ids).toHaveLength(12);
  });
});

describe('economic collector', () => {
  it('takes the weeks overlapping the range, keyed global', async () => {
    const deps = fileDeps();
    const r = await runCollector('economic', JUNE, deps);
    // A week overlaps the range when it starts at most 6 days before it: only the week of 06-01 does here.
    expect(fetchRange('economic', JUNE)).toEqual({ from: day('2026-05-26'), to: day('2026-06-03') });
    expect(r).toMatchObject({ ok: true, rows: 1, published: 1, features: 3 });
    expect(deps.publisher.sent.map((s) => s.key)).toEqual(['global']);
    expect(deps.store.value('global', 'consumer_confidence', Date.UTC(2026, 5, 1))).toBe(101.2);
    expect(deps.store.value('global', 'interest_rate', Date.UTC(2026, 5, 1))).toBe(4.25);
  });

  it('a range starting mid-week includes the week it starts in', async () => {
    const deps = fileDeps();
    const r = await runCollector('economic', { from: day('2026-06-03'), to: day('2026-06-09') }, deps);
    expect(r.rows).toBe(2);
    expect(deps.store.value('global', 'unemployment_rate', Date.UTC(2026, 5, 8))).toBe(4.1);
  });
});

describe('calendar collector', () => {
  it('publishes the events up to a year past the range and writes per store and day', async () => {
    const deps = fileDeps();
    const r = await runCollector('calendar', JUNE, deps);
    // Memorial Day (05-25) is before the range and July 4 2027 more than 365 days after its end.
    expect(deps.publisher.sent.map((s) => [s.key, (s.value as { event_id: string }).event_id])).toEqual([
      ['S2', 'EV-S2-2026-E1'],
      ['S1', 'EV-S1-2026-E1'],
      ['global', 'HOL-2026-independence_day'],
      ['global', 'HOL-2027-new_years_day'],
    ]);
    expect(r).toMatchObject({ ok: true, rows: 4, published: 4, features: 3 * 3 * 4 });
    const t = (d: string) => day(d) * DAY_MS;
    expect(deps.store.value('S1', 'days_to_next_event', t('2026-06-01'))).toBe(9);
    expect(deps.store.value('S2', 'days_to_next_event', t('2026-06-03'))).toBe(31);
    expect(deps.store.value('S3', 'days_to_next_event', t('2026-06-02'))).toBe(32);
    expect(deps.store.value('S3', 'is_wedding_season', t('2026-06-02'))).toBe(1);
    expect(deps.store.value('S3', 'is_holiday_season', t('2026-06-02'))).toBe(0);
    expect(deps.store.value('S3', 'month', t('2026-06-02'))).toBe(6);
  });

  it('after the last known event, days_to_next_event sees New Year 2027, then the cap', async () => {
    const deps = fileDeps();
    await runCollector('calendar', { from: day('2026-12-31'), to: day('2027-01-02') }, deps);
    const t = (d: string) => day(d) * DAY_MS;
    expect(deps.store.value('S1', 'days_to_next_event', t('2026-12-31'))).toBe(1);
    expect(deps.store.value('S1', 'days_to_next_event', t('2027-01-01'))).toBe(0);
    // Next: July 4 2027, 183 days later.
    expect(deps.store.value('S1', 'days_to_next_event', t('2027-01-02'))).toBe(183);
    expect(deps.store.value('S1', 'is_holiday_season', t('2026-12-31'))).toBe(1);
    expect(deps.store.value('S1', 'month', t('2027-01-01'))).toBe(1);
  });
});

describe('a failing provider', () => {
  const unavailable = new TagstreamError(
    'PROVIDER_UNAVAILABLE',
    'GET https://wx.example/daily answered 503',
    {
      retryable: true,
    },
  );

  it('is retried with backoff, then logs one line and writes nothing', async () => {
    let calls = 0;
    const sleeps: number[] = [];
    const weather = withRetry<WeatherRow>(
      {
        name: 'http:wx.example',
        fetch: async () => {
          calls++;
          throw unavailable;
        },
      },
      { retries: 4, baseMs: 1000, maxMs: 30_000, random: () => 0, sleep: async (ms) => void sleeps.push(ms) },
    );
    const deps = fakeDeps({ weather }, { lastGood: Date.UTC(2026, 4, 30) });
    const r = await runCollector('weather', JUNE, deps);
    expect(calls).toBe(5);
    expect(sleeps).toEqual([500, 1000, 2000, 4000]);
    expect(r).toMatchObject({ ok: false, rows: 0, published: 0, features: 0, attempts: 5 });
    expect(r.error?.code).toBe('PROVIDER_UNAVAILABLE');
    expect(deps.publisher.sent).toEqual([]);
    expect(deps.store.writes).toBe(0);
    expect(deps.logs.messages(ERROR)).toEqual([
      'collector weather failed after 5 tries: PROVIDER_UNAVAILABLE GET https://wx.example/daily answered 503; ' +
        'last good values from 2026-05-30 stay in place',
    ]);
  });

  it('keeps the values of an earlier good run in place', async () => {
    const deps = fileDeps();
    await runCollector('weather', JUNE, deps);
    const before = new Map(deps.store.rows);
    const sent = deps.publisher.sent.length;
    const failing = {
      ...deps,
      providers: {
        ...deps.providers,
        weather: failingProvider<WeatherRow>('file:weather.jsonl', unavailable),
      },
    };
    const r = await runCollector('weather', JUNE, failing);
    expect(r.ok).toBe(false);
    expect(deps.store.rows).toEqual(before);
    expect(deps.publisher.sent).toHaveLength(sent);
  });

  it('a bad file is not retried and the line says so; with no earlier values the line says that', async () => {
    const deps = fakeDeps({
      weather: withRetry(fileProvider(join(FIXTURES, 'bad/weather.jsonl'), parseWeatherRow), {
        retries: 4,
        baseMs: 1,
        maxMs: 1,
        sleep: async () => undefined,
      }),
    });
    const r = await runCollector('weather', JUNE, deps);
    expect(r.attempts).toBe(1);
    const [line] = deps.logs.messages(ERROR);
    expect(line).toMatch(
      /^collector weather failed after 1 try: PROVIDER_BAD_DATA .*bad\/weather\.jsonl:3: date:/,
    );
    expect(line).toMatch(/; no earlier values exist, so readers get the documented defaults$/);
  });

  it('a failing write is reported as such (a re-run rewrites the same keys)', async () => {
    const deps = fileDeps();
    deps.publisher.fail = new TagstreamError('KAFKA_UNAVAILABLE', 'no broker', { retryable: true });
    const r = await runCollector('weather', JUNE, deps);
    expect(r).toMatchObject({ ok: false, rows: 6 });
    expect(deps.logs.messages(ERROR)[0]).toBe(
      'collector weather failed writing: KAFKA_UNAVAILABLE no broker; what was written is kept, and a re-run rewrites the same keys',
    );
  });

  it('when the last-good lookup fails too, the line names no date', async () => {
    const deps = fakeDeps({ weather: failingProvider<WeatherRow>('file:weather.jsonl', unavailable) });
    const r = await runCollector('weather', JUNE, {
      ...deps,
      lastGood: () => Promise.reject(new TagstreamError('MYSQL_UNAVAILABLE', 'down', { retryable: true })),
    });
    expect(r.ok).toBe(false);
    expect(deps.logs.messages(ERROR)).toEqual([
      'collector weather failed after 1 try: PROVIDER_UNAVAILABLE GET https://wx.example/daily answered 503; ' +
        'the values already in the feature store stay in place',
    ]);
  });

  it('providerFailureLine', () => {
    expect(providerFailureLine('economic', 1, unavailable, null)).toBe(
      'collector economic failed after 1 try: PROVIDER_UNAVAILABLE GET https://wx.example/daily answered 503; ' +
        'no earlier values exist, so readers get the documented defaults',
    );
  });
});

describe('historical features', () => {
  const snapshot: HistorySnapshot = {
    day: day('2026-06-01'),
    windowDays: 90,
    classes: [
      {
        store_id: 'S1',
        rental_class_num: 'TENT',
        outs: 45,
        damages: 9,
        scans: 120,
        mean_grade: 3.75,
        items: 12,
      },
      {
        store_id: 'S2',
        rental_class_num: 'CHAIR',
        outs: 0,
        damages: 0,
        scans: 0,
        mean_grade: null,
        items: 300,
      },
    ],
    items: [{ tag_id: 'tag-1', rentals_ltd: 30, rentals_ytd: 7, repairs: 2 }],
  };

  it('per class: demand_rate, damage_rate, mean_quality_grade over the window; items_count; per item counters', () => {
    const f = historicalFeatures(snapshot);
    const t = Date.UTC(2026, 5, 1);
    const row = (e: string, n: string) => f.find((x) => x.entity_id === e && x.feature_name === n);
    expect(row('S1|TENT', 'demand_rate')).toMatchObject({
      entity_type: 'class',
      feature_value: 0.5,
      window: '90d',
      window_start: t - 90 * DAY_MS,
      window_end: t,
      timestamp: t,
      source: 'historical',
    });
    expect(row('S1|TENT', 'damage_rate')!.feature_value).toBe(0.2);
    expect(row('S1|TENT', 'mean_quality_grade')!.feature_value).toBe(3.75);
    expect(row('S1|TENT', 'items_count')).toMatchObject({ feature_value: 12, window: null });
    // No rentals in the window: rates 0, no mean grade at all.
    expect(row('S2|CHAIR', 'demand_rate')!.feature_value).toBe(0);
    expect(row('S2|CHAIR', 'damage_rate')!.feature_value).toBe(0);
    expect(row('S2|CHAIR', 'mean_quality_grade')).toBeUndefined();
    expect(row('tag-1', 'turnover_ytd')).toMatchObject({
      entity_type: 'item',
      feature_value: 7,
      timestamp: t,
    });
    expect(row('tag-1', 'turnover_ltd')!.feature_value).toBe(30);
    expect(row('tag-1', 'repair_count')!.feature_value).toBe(2);
    expect(f).toHaveLength(4 + 3 + 3);
  });

  it('the historical collector writes the snapshots it is given and publishes nothing', async () => {
    const deps = fakeDeps({ historical: staticProvider('mysql', [snapshot]) });
    const r = await runCollector('historical', { from: snapshot.day, to: snapshot.day }, deps);
    expect(r).toMatchObject({ ok: true, rows: 1, published: 0, features: 10 });
    expect(collectHistorical([snapshot, snapshot]).features).toHaveLength(20);
  });

  it('the item status mapping follows the real-time one', () => {
    expect(statusCase('scan_type')).toBe(
      "CASE scan_type WHEN 'in' THEN 'available' WHEN 'out' THEN 'out' WHEN 'return' THEN 'returned' " +
        "WHEN 'damage' THEN 'repair' WHEN 'repair' THEN 'returned' ELSE 'available' END",
    );
  });
});

describe('ranges', () => {
  const config = parseConfig({ collectors: { timeZone: 'America/Los_Angeles' } });
  // 2026-06-02 03:00 UTC is 2026-06-01 20:00 in Los Angeles.
  const now = Date.UTC(2026, 5, 2, 3);

  it('scheduled ranges are [today - lookbackDays, today + aheadDays] in the configured zone', () => {
    const today = day('2026-06-01');
    expect(defaultRange('weather', config, now)).toEqual({ from: today - 3, to: today + 7 });
    expect(defaultRange('economic', config, now)).toEqual({ from: today - 28, to: today });
    expect(defaultRange('calendar', config, now)).toEqual({ from: today, to: today + 62 });
    expect(defaultRange('historical', config, now)).toEqual({ from: today, to: today });
  });

  it('a manual range replaces either end, and must not be reversed', () => {
    expect(manualRange('historical', config, now, { from: day('2026-05-01') })).toEqual({
      from: day('2026-05-01'),
      to: day('2026-06-01'),
    });
    const e = thrownBy(() =>
      manualRange('weather', config, now, { from: day('2026-06-05'), to: day('2026-06-01') }),
    );
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toBe('weather: --from 2026-06-05 is after --to 2026-06-01');
  });
});
