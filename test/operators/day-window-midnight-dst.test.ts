// Regression: in zones whose DST change happens at midnight (America/Havana, America/Santiago, ...), local
// midnight does not exist on the spring-forward day. luxon's startOf('day') then lands on 01:00, and
// operators/windows.ts:26 computes the end as start + 1 calendar day = 01:00 of the next day, one hour after the
// next local midnight: the window is 24 h instead of 23 h and overlaps the next day's window. cachedDayWindow then
// keeps returning the overlapping day for that hour, so the window a record lands in depends on the cache.
// These tests fail until dayWindow ends at the next day's startOf('day').
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOUR, cachedDayWindow, dayWindow } from '../../operators/windows.ts';

const iso = (s: string) => Date.parse(s);

describe('dayWindow where DST starts at local midnight', () => {
  it('America/Havana 2026-03-08 runs from 01:00 CDT (no midnight) to the next midnight: 23 h', () => {
    // 00:00 CST becomes 01:00 CDT at 2026-03-08T05:00Z; the next local midnight is 2026-03-09T04:00Z.
    expect(dayWindow(iso('2026-03-08T12:00:00Z'), 'America/Havana')).toEqual([
      iso('2026-03-08T05:00:00Z'),
      iso('2026-03-09T04:00:00Z'),
    ]);
  });

  it('America/Santiago 2026-09-06 is 23 h long', () => {
    const [start, end] = dayWindow(iso('2026-09-06T12:00:00Z'), 'America/Santiago');
    expect((end - start) / HOUR).toBe(23);
  });

  it('consecutive days tile time in such zones', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: iso('2026-01-01T00:00:00Z'), max: iso('2027-01-01T00:00:00Z') }),
        fc.constantFrom('America/Havana', 'America/Santiago', 'America/Asuncion'),
        (t, zone) => {
          const [, end] = dayWindow(t, zone);
          expect(dayWindow(end, zone)[0]).toBe(end);
        },
      ),
      { examples: [[iso('2026-03-08T12:00:00Z'), 'America/Havana']] },
    );
  });

  it('cachedDayWindow agrees with dayWindow for the hour after the short day', () => {
    const cached = cachedDayWindow();
    cached(iso('2026-03-08T12:00:00Z'), 'America/Havana');
    const t = iso('2026-03-09T04:30:00Z'); // 00:30 on 2026-03-09 in Havana
    expect(cached(t, 'America/Havana')).toEqual(dayWindow(t, 'America/Havana'));
  });
});
