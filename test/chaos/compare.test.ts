// The chaos suite's pure parts: the comparison of two runs' outputs and the seeded fault schedule.
import { describe, expect, it } from 'vitest';
import {
  compareOutput,
  difference,
  excludedFeature,
  sameValue,
  type Output,
} from '../../src/dev/chaos/compare.ts';
import { schedule } from '../../src/dev/chaos/schedule.ts';

const out = (entries: [string, string[]][]): Output => new Map(entries);

describe('compareOutput', () => {
  it('counts lost, duplicated and mismatched per identity', () => {
    const reference = out([
      ['a', ['1']],
      ['b', ['2']],
      ['c', ['3']],
      ['d', ['4', '4']],
    ]);
    const actual = out([
      ['a', ['1']],
      ['b', ['2', '2']],
      ['c', ['30']],
      ['d', ['4']],
      ['e', ['5']],
    ]);
    expect(compareOutput('x', reference, actual)).toMatchObject({
      reference: 5,
      actual: 6,
      lost: 1, // the second d
      duplicated: 2, // the second b, and e
      mismatched: 1, // c
    });
  });

  it('takes numbers equal within 1e-9 relative', () => {
    expect(sameValue('1|0.30000000000000004', '1|0.3')).toBe(true);
    expect(sameValue('1|0.3001', '1|0.3')).toBe(false);
    expect(sameValue('a', 'b')).toBe(false);
  });

  it('leaves out only the sliding window and the stock levels', () => {
    expect(excludedFeature('rentals', '7d')).toBe(true);
    expect(excludedFeature('available_stock', '')).toBe(true);
    expect(excludedFeature('rentals', '1h')).toBe(false);
    expect(excludedFeature('transaction_value', null)).toBe(false);
  });
});

describe('schedule', () => {
  const o = { seed: 7, durationS: 120, kills: 5, joins: 2, outageS: 60 };
  it('is the same for a seed, in time order, with every fault kind', () => {
    const s = schedule(o);
    expect(schedule(o)).toEqual(s);
    expect(schedule({ ...o, seed: 8 })).not.toEqual(s);
    expect(s.map((f) => f.at)).toEqual([...s.map((f) => f.at)].sort((a, b) => a - b));
    const kinds = s.map((f) => f.kind);
    for (const k of ['kill', 'join', 'leave', 'broker', 'registry', 'redis', 'mariadb', 'garbage'] as const)
      expect(kinds).toContain(k);
    expect(kinds.filter((k) => k === 'kill')).toHaveLength(5);
    // Outages end within the phase.
    for (const f of s.filter((x) => x.outageS !== undefined)) expect(f.at + f.outageS!).toBeLessThan(120);
  });
});

describe('difference', () => {
  it('names the fields that differ between two JSON rows, else shows both values', () => {
    expect(difference('[{"a":1,"b":"x","c":2}]', '[{"a":1,"b":"y","c":3}]')).toBe(
      'b "x" (reference) vs "y" (run); c 2 (reference) vs 3 (run)',
    );
    expect(difference('1.5', '2')).toBe('reference 1.5 run 2');
  });
});
