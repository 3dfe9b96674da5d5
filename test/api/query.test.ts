// Request value parsers: times as ISO dates or ms, ranges, feature lists; every failure an API_BAD_REQUEST.
import { describe, expect, it } from 'vitest';
import { MAX_FEATURES, parseFeatureRefs, parseRange, parseTime } from '../../src/api/query.ts';
import { thrownBy } from '../helpers/errors.ts';

describe('parseTime', () => {
  it.each([
    ['1718452800000', 1718452800000],
    ['0', 0],
    ['2026-06-15', Date.UTC(2026, 5, 15)],
    ['2026-06-15T12:30', Date.UTC(2026, 5, 15, 12, 30)],
    ['2026-06-15T12:30:15', Date.UTC(2026, 5, 15, 12, 30, 15)],
    ['2026-06-15T12:30:15.250Z', Date.UTC(2026, 5, 15, 12, 30, 15, 250)],
    ['2026-06-15T14:30:00+02:00', Date.UTC(2026, 5, 15, 12, 30)],
    ['2026-06-15T07:30:00-0500', Date.UTC(2026, 5, 15, 12, 30)],
    [' 2026-06-15 ', Date.UTC(2026, 5, 15)],
  ])('%s', (text, ms) => {
    expect(parseTime('from', text)).toBe(ms);
  });

  it.each([
    '',
    'now',
    '2026-06-31',
    '2026-02-29',
    '2026-13-01',
    '2026-06-15T24:61',
    '15/06/2026',
    '1e12',
    '99999999999999999999',
  ])("rejects '%s' naming the parameter", (text) => {
    const e = thrownBy(() => parseTime('to', text));
    expect(e.code).toBe('API_BAD_REQUEST');
    expect(e.message).toMatch(/^to: expected an ISO 8601 date or date-time, or ms since epoch/);
    expect(e.details).toEqual({ parameter: 'to' });
  });

  it('accepts a leap day', () => {
    expect(parseTime('from', '2028-02-29')).toBe(Date.UTC(2028, 1, 29));
  });
});

describe('parseRange', () => {
  it('keeps only the bounds given; equal bounds are a one-instant range', () => {
    expect(parseRange(undefined, undefined)).toEqual({});
    expect(parseRange('5', undefined)).toEqual({ from: 5 });
    expect(parseRange(undefined, '5')).toEqual({ to: 5 });
    expect(parseRange('5', '5')).toEqual({ from: 5, to: 5 });
  });

  it('from after to is a bad request', () => {
    const e = thrownBy(() => parseRange('2026-06-16', '2026-06-15T23:59'));
    expect(e.code).toBe('API_BAD_REQUEST');
    expect(e.message).toBe('from (2026-06-16T00:00:00.000Z) is after to (2026-06-15T23:59:00.000Z)');
  });
});

describe('parseFeatureRefs', () => {
  it('reads names and name@window in order, trims, drops empties and duplicates', () => {
    expect(
      parseFeatureRefs(' usage_frequency_7d , rentals@1h,,rentals@7d-sliding,usage_frequency_7d'),
    ).toEqual([
      { name: 'usage_frequency_7d' },
      { name: 'rentals', window: '1h' },
      { name: 'rentals', window: '7d-sliding' },
    ]);
  });

  it.each(['', ' , ', 'a b', '@1h', 'rentals@', 'rentals@1h@2h', 'x;drop'])("rejects '%s'", (text) => {
    const e = thrownBy(() => parseFeatureRefs(text));
    expect(e.code).toBe('API_BAD_REQUEST');
    expect(e.message).toMatch(/^features: /);
  });

  it(`allows at most ${MAX_FEATURES}`, () => {
    const names = Array.from({ length: MAX_FEATURES + 1 }, (_, i) => `f${i}`);
    expect(parseFeatureRefs(names.slice(0, MAX_FEATURES).join(','))).toHaveLength(MAX_FEATURES);
    expect(thrownBy(() => parseFeatureRefs(names.join(','))).message).toBe(
      `features: at most ${MAX_FEATURES} per request, got ${MAX_FEATURES + 1}`,
    );
  });
});
