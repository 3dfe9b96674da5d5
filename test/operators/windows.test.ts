// Window assigners: tumbling windows aligned to the epoch, calendar days in a zone across DST (23, 24 and 25 hours),
// and the per-zone day cache agreeing with the uncached assigner.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DAY,
  HOUR,
  MINUTE,
  cachedDayWindow,
  dayWindow,
  standardWindows,
  tumblingWindow,
} from '../../operators/windows.ts';

const iso = (s: string) => Date.parse(s);

describe('tumblingWindow', () => {
  it.each([MINUTE, 5 * MINUTE, HOUR, DAY, 7])(
    'is [start, start + %i) aligned to the epoch and holds t',
    (size) => {
      fc.assert(
        fc.property(fc.integer({ min: -4e12, max: 4e12 }), (t) => {
          const [start, end] = tumblingWindow(t, size);
          expect(end - start).toBe(size);
          expect(Math.abs(start % size)).toBe(0);
          expect(start <= t && t < end).toBe(true);
        }),
      );
    },
  );

  it('puts boundaries in the window they start', () => {
    expect(tumblingWindow(iso('2026-06-01T10:05:00Z'), 5 * MINUTE)).toEqual([
      iso('2026-06-01T10:05:00Z'),
      iso('2026-06-01T10:10:00Z'),
    ]);
    expect(tumblingWindow(iso('2026-06-01T10:04:59.999Z'), 5 * MINUTE)[1]).toBe(iso('2026-06-01T10:05:00Z'));
    expect(tumblingWindow(-1, MINUTE)).toEqual([-MINUTE, 0]);
  });

  it('is in UTC: an hour window does not move with DST', () => {
    expect(tumblingWindow(iso('2026-03-08T07:30:00Z'), HOUR)).toEqual([
      iso('2026-03-08T07:00:00Z'),
      iso('2026-03-08T08:00:00Z'),
    ]);
  });
});

describe('dayWindow', () => {
  it.each([
    // zone, an instant in the day, local midnight (UTC), next local midnight (UTC), hours
    ['America/New_York', '2026-03-08T12:00:00Z', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z', 23],
    ['America/New_York', '2026-11-01T12:00:00Z', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z', 25],
    ['America/New_York', '2026-06-15T12:00:00Z', '2026-06-15T04:00:00Z', '2026-06-16T04:00:00Z', 24],
    ['America/New_York', '2026-01-15T12:00:00Z', '2026-01-15T05:00:00Z', '2026-01-16T05:00:00Z', 24],
    ['Europe/Berlin', '2026-03-29T12:00:00Z', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z', 23],
    ['Europe/Berlin', '2026-10-25T12:00:00Z', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z', 25],
    ['Europe/Berlin', '2026-07-01T12:00:00Z', '2026-06-30T22:00:00Z', '2026-07-01T22:00:00Z', 24],
    ['America/Los_Angeles', '2026-03-08T20:00:00Z', '2026-03-08T08:00:00Z', '2026-03-09T07:00:00Z', 23],
    ['UTC', '2026-03-08T12:00:00Z', '2026-03-08T00:00:00Z', '2026-03-09T00:00:00Z', 24],
  ])('%s on the day of %s: [%s, %s), %i h', (zone, at, start, end, hours) => {
    const w = dayWindow(iso(at), zone);
    expect(w).toEqual([iso(start), iso(end)]);
    expect((w[1] - w[0]) / HOUR).toBe(hours);
  });

  it('holds every instant of the local day, from midnight to the last millisecond', () => {
    const start = iso('2026-03-08T05:00:00Z');
    const end = iso('2026-03-09T04:00:00Z');
    for (const t of [start, iso('2026-03-08T06:59:59.999Z'), iso('2026-03-08T07:00:00Z'), end - 1])
      expect(dayWindow(t, 'America/New_York')).toEqual([start, end]);
    expect(dayWindow(start - 1, 'America/New_York')[1]).toBe(start);
    expect(dayWindow(end, 'America/New_York')[0]).toBe(end);
  });

  it('holds the repeated hour of the fall-back day once', () => {
    // 01:30 EDT and 01:30 EST on 2026-11-01 are both in the 25-hour day.
    const w = dayWindow(iso('2026-11-01T05:30:00Z'), 'America/New_York');
    expect(dayWindow(iso('2026-11-01T06:30:00Z'), 'America/New_York')).toEqual(w);
  });

  it('throws on an invalid zone', () => {
    expect(() => dayWindow(0, 'Mars/Olympus_Mons')).toThrow(/invalid time zone Mars\/Olympus_Mons/);
    expect(() => dayWindow(0, '')).toThrow(/invalid time zone/);
  });

  const zones = [
    'America/New_York',
    'America/Los_Angeles',
    'America/Chicago',
    'Europe/Berlin',
    'UTC',
    'Asia/Kolkata',
  ];
  // 2026 and its DST changes, as instants.
  const times = fc.integer({ min: iso('2025-12-25T00:00:00Z'), max: iso('2027-01-05T00:00:00Z') });

  it('tiles time: t is inside, the day before ends where it starts, 23 to 25 hours long', () => {
    fc.assert(
      fc.property(times, fc.constantFrom(...zones), (t, zone) => {
        const [start, end] = dayWindow(t, zone);
        expect(start <= t && t < end).toBe(true);
        expect([23, 24, 25]).toContain((end - start) / HOUR);
        expect(dayWindow(start - 1, zone)[1]).toBe(start);
        expect(dayWindow(end, zone)[0]).toBe(end);
      }),
    );
  });
});

describe('cachedDayWindow', () => {
  it('equals dayWindow on random times and zones, in any order', () => {
    const zones = ['America/New_York', 'America/Los_Angeles', 'Europe/Berlin'];
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: iso('2026-03-01T00:00:00Z'), max: iso('2026-11-10T00:00:00Z') }),
            fc.constantFrom(...zones),
          ),
          { maxLength: 60 },
        ),
        (calls) => {
          const cached = cachedDayWindow();
          for (const [t, zone] of calls) expect(cached(t, zone)).toEqual(dayWindow(t, zone));
        },
      ),
    );
  });

  it('equals dayWindow on runs of nearby times across the DST days', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          iso('2026-03-08T00:00:00Z'),
          iso('2026-11-01T00:00:00Z'),
          iso('2026-03-29T00:00:00Z'),
        ),
        fc.array(fc.integer({ min: -2 * DAY, max: 3 * DAY }), { maxLength: 80 }),
        fc.constantFrom('America/New_York', 'Europe/Berlin'),
        (base, offsets, zone) => {
          const cached = cachedDayWindow();
          for (const o of offsets) expect(cached(base + o, zone)).toEqual(dayWindow(base + o, zone));
        },
      ),
    );
  });

  it('throws on an invalid zone like dayWindow', () => {
    expect(() => cachedDayWindow()(0, 'Nowhere/Else')).toThrow(/invalid time zone/);
  });
});

describe('standardWindows', () => {
  it('are 1m, 5m and 1h tumbling, the local day of the key, and 7 days sliding', () => {
    const zoneOf = (key: string) => (key.startsWith('S1') ? 'America/New_York' : 'UTC');
    const ws = standardWindows(zoneOf);
    expect(ws.map((w) => [w.name, w.kind])).toEqual([
      ['1m', 'tumbling'],
      ['5m', 'tumbling'],
      ['1h', 'tumbling'],
      ['1d', 'day'],
      ['7d', 'sliding'],
    ]);
    const day = ws[3];
    expect(day?.kind === 'day' && day.zone('S1:RC-1')).toBe('America/New_York');
    expect(ws.map((w) => (w.kind === 'day' ? null : w.sizeMs))).toEqual([
      MINUTE,
      5 * MINUTE,
      HOUR,
      null,
      7 * DAY,
    ]);
  });
});
