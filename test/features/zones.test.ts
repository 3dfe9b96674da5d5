// zoneClock against luxon: the cached offsets give the same local day, hour and weekday at every instant, DST
// transitions (spring forward, fall back, midnight changes, half-hour zones) included.
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { zoneClock } from '../../src/features/zones.ts';
import { localParts } from '../../operators/features.ts';

const ZONES = [
  'UTC',
  'America/Chicago',
  'America/Santiago', // DST changes at midnight
  'America/Havana', // DST changes at midnight (the day starts at 01:00)
  'Europe/London',
  'Australia/Lord_Howe', // a 30-minute DST shift
  'Asia/Kathmandu', // +05:45
  'Pacific/Chatham', // +12:45 / +13:45
  'Pacific/Apia', // skipped a whole day in 2011
];

function luxonParts(t: number, zone: string) {
  const d = DateTime.fromMillis(t, { zone });
  return {
    offset: d.offset * 60_000,
    day: Date.UTC(d.year, d.month - 1, d.day) / 86_400_000,
    hour: d.hour,
    dayOfWeek: d.weekday - 1,
  };
}

describe('zoneClock', () => {
  it('agrees with luxon at random instants', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2040, 0, 1) }),
        (zone, t) => {
          const c = zoneClock(zone);
          const want = luxonParts(t, zone);
          expect({
            offset: c.offsetMs(t),
            day: c.localDay(t),
            hour: c.hour(t),
            dayOfWeek: localParts(t, zone).dayOfWeek,
          }).toEqual(want);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("gives the instant a local day starts, as luxon's startOf('day'), the same from its cache", () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: 7_300, max: 25_500 }), (zone, day) => {
        const c = zoneClock(zone);
        const date = new Date(day * 86_400_000);
        const want = DateTime.fromObject(
          { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() },
          { zone },
        )
          .startOf('day')
          .toMillis();
        expect(c.midnight(day)).toBe(want);
        expect(c.midnight(day)).toBe(want);
        expect(c.localDay(want)).toBe(day);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with luxon minute by minute around every transition of a year', () => {
    for (const zone of ZONES) {
      const c = zoneClock(zone);
      const start = Date.UTC(2026, 0, 1);
      let prev = luxonParts(start, zone).offset;
      let transitions = 0;
      for (let t = start; t < Date.UTC(2027, 0, 1); t += 3_600_000) {
        const off = luxonParts(t, zone).offset;
        if (off === prev) continue;
        transitions++;
        prev = off;
        // every minute of the 3 hours around the change
        for (let m = t - 2 * 3_600_000; m < t + 3_600_000; m += 60_000) {
          const want = luxonParts(m, zone);
          expect([c.offsetMs(m), c.localDay(m), c.hour(m)], `${zone} ${new Date(m).toISOString()}`).toEqual([
            want.offset,
            want.day,
            want.hour,
          ]);
        }
      }
      if (zone === 'America/Chicago') expect(transitions).toBe(2);
    }
  });

  it('refuses an unknown zone', () => {
    expect(() => zoneClock('Mars/Olympus_Mons')).toThrow(RangeError);
  });
});
