// The simulator's injected shift: parsing `kind:change`, the days it acts on, and what it changes in a run — the
// grades readers report, prices and demand, the weather — while a grade shift leaves every record before its day as
// in the run without it.
import { describe, expect, it } from 'vitest';
import { isStreamEvent, simulate, type SimOptions } from '../../../src/dev/sim/model.ts';
import {
  formatShiftChange,
  parseShiftChange,
  reportedGrade,
  shiftOn,
  type Shift,
} from '../../../src/dev/sim/shift.ts';
import { manifest } from '../../../src/dev/sim/output.ts';

const DAY = 86_400_000;
const START = Date.UTC(2026, 4, 1);
const FROM = START + 8 * DAY;

describe('parseShiftChange', () => {
  it('reads relative price and demand changes and absolute weather and grade changes', () => {
    expect(parseShiftChange('price:+40%')).toEqual({ kind: 'price', amount: 1.4 });
    expect(parseShiftChange('demand:-25%')).toEqual({ kind: 'demand', amount: 0.75 });
    expect(parseShiftChange('temperature:+15')).toEqual({ kind: 'temperature', amount: 15 });
    expect(parseShiftChange(' precipitation : 0.5 ')).toEqual({ kind: 'precipitation', amount: 0.5 });
    expect(parseShiftChange('grade:-1')).toEqual({ kind: 'grade', amount: -1 });
    for (const c of ['price:+40%', 'demand:-25%', 'temperature:+15', 'grade:-1'])
      expect(formatShiftChange(parseShiftChange(c))).toBe(c);
  });

  it('refuses an unknown kind, a missing or wrong unit, and a change that leaves nothing', () => {
    for (const bad of [
      'wind:+3',
      'price:40',
      'price:+40',
      'temperature:+15%',
      'demand:-100%',
      'grade:-0.5',
      'price',
    ])
      expect(() => parseShiftChange(bad), bad).toThrow(RangeError);
  });
});

describe('shiftOn', () => {
  const shift: Shift = {
    from: FROM,
    changes: [parseShiftChange('price:+40%'), parseShiftChange('price:+10%'), parseShiftChange('grade:-1')],
  };

  it('is neutral before the shift day and without a shift; changes of one kind compose', () => {
    expect(shiftOn(undefined, FROM / DAY)).toEqual({
      price: 1,
      demand: 1,
      temperature: 0,
      precipitation: 0,
      grade: 0,
    });
    expect(shiftOn(shift, FROM / DAY - 1).price).toBe(1);
    expect(shiftOn(shift, FROM / DAY).price).toBeCloseTo(1.54);
    expect(shiftOn(shift, FROM / DAY + 30).grade).toBe(-1);
  });

  it('keeps reported grades within 1..5', () => {
    expect(reportedGrade(shift, FROM - 1, 4)).toBe(4);
    expect(reportedGrade(shift, FROM, 4)).toBe(3);
    expect(reportedGrade(shift, FROM, 1)).toBe(1);
    expect(reportedGrade({ from: FROM, changes: [{ kind: 'grade', amount: 2 }] }, FROM, 4)).toBe(5);
  });
});

describe('a shifted run', () => {
  const options: SimOptions = { stores: 1, days: 10, seed: 7, start: START };
  const streamOf = (o: SimOptions) => [...simulate(o).events].filter(isStreamEvent);
  const plain = streamOf(options);
  const outs = (events: typeof plain, from: number) =>
    events.filter((e) => e.kind === 'scan' && e.time >= from && e.scan.scan_type === 'out' && !e.malformed);

  it('grade: every record before the shift day as without it, every grade from it one lower', () => {
    const shifted = streamOf({ ...options, shift: { from: FROM, changes: [parseShiftChange('grade:-1')] } });
    const before = (events: typeof plain) => events.filter((e) => e.time < FROM);
    expect(before(shifted)).toEqual(before(plain));
    const a = outs(plain, FROM);
    const b = outs(shifted, FROM);
    expect(b.length).toBe(a.length);
    expect(a.length).toBeGreaterThan(0);
    b.forEach((e, i) => {
      if (e.kind !== 'scan' || a[i]!.kind !== 'scan') return;
      expect(e.scan.quality_grade).toBe(Math.max(1, (a[i] as typeof e).scan.quality_grade - 1));
    });
  });

  it('price: dearer rentals and fewer of them from the shift day on; the manifest records the shift', () => {
    const shift: Shift = { from: FROM, changes: [parseShiftChange('price:+40%')] };
    const sim = simulate({ ...options, shift });
    const events = [...sim.events];
    const truth = events.flatMap((e) => (e.kind === 'demand-truth' ? [e.truth] : []));
    const after = truth.filter((t) => t.date * DAY >= FROM);
    const before = truth.filter((t) => t.date * DAY < FROM);
    expect(Math.min(...after.map((t) => t.price_multiplier))).toBeGreaterThanOrEqual(1.1);
    expect(Math.max(...before.map((t) => t.price_multiplier))).toBeLessThanOrEqual(1.25);
    expect(after.every((t) => t.factors.price < 1)).toBe(true);
    expect(manifest(sim, [])).toMatchObject({
      options: { shift: { from: '2026-05-09', changes: ['price:+40%'] } },
    });
  });

  it('temperature and precipitation: the weather from the shift day on, files included', () => {
    const shift: Shift = {
      from: FROM,
      changes: [parseShiftChange('temperature:+20'), parseShiftChange('precipitation:+1')],
    };
    const a = simulate(options).external.weather[0]!;
    const b = simulate({ ...options, shift }).external.weather[0]!;
    a.forEach((w, i) => {
      const s = b[i]!;
      if (w.date * DAY < FROM) expect(s).toEqual(w);
      else {
        expect(s.temperature_f).toBeCloseTo(w.temperature_f + 20, 5);
        expect(s.precipitation_in).toBeCloseTo(w.precipitation_in + 1, 5);
      }
    });
  });
});
